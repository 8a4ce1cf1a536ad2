package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookstream/hookstream/subscription"
)

// ErrNotFound is returned for an unknown source.
var ErrNotFound = errors.New("source not found")

// ErrExists is returned when creating a source whose id is taken.
var ErrExists = errors.New("source already exists")

// Store keeps sources in Redis: a hash of id to JSON and a version
// counter bumped by every change, under the same hash tag as the
// subscriptions.
type Store struct {
	rdb           redis.UniversalClient
	hash, version string
}

// NewStore returns a store whose keys start with prefix.
func NewStore(rdb redis.UniversalClient, prefix string) *Store {
	tag := subscription.HashTag(prefix)
	return &Store{rdb: rdb, hash: tag + ":sources", version: tag + ":sources:version"}
}

var putScript = redis.NewScript(`
if ARGV[3] == "1" and redis.call("HEXISTS", KEYS[1], ARGV[1]) == 1 then
  return -1
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
return redis.call("INCR", KEYS[2])
`)

// Create stores a new source; ErrExists when its id is taken.
func (s *Store) Create(ctx context.Context, src Source) error { return s.put(ctx, src, true) }

// Put creates or replaces a source.
func (s *Store) Put(ctx context.Context, src Source) error { return s.put(ctx, src, false) }

func (s *Store) put(ctx context.Context, src Source, create bool) error {
	b, err := json.Marshal(src)
	if err != nil {
		return fmt.Errorf("encode source %s: %w", src.ID, err)
	}
	flag := "0"
	if create {
		flag = "1"
	}
	v, err := putScript.Run(ctx, s.rdb, []string{s.hash, s.version}, src.ID, b, flag).Int64()
	if err != nil {
		return fmt.Errorf("store source %s: %w", src.ID, err)
	}
	if v < 0 {
		return ErrExists
	}
	return nil
}

var deleteScript = redis.NewScript(`
if redis.call("HDEL", KEYS[1], ARGV[1]) == 0 then
  return -1
end
return redis.call("INCR", KEYS[2])
`)

// Delete removes a source; ErrNotFound when there is none.
func (s *Store) Delete(ctx context.Context, id string) error {
	v, err := deleteScript.Run(ctx, s.rdb, []string{s.hash, s.version}, id).Int64()
	if err != nil {
		return fmt.Errorf("delete source %s: %w", id, err)
	}
	if v < 0 {
		return ErrNotFound
	}
	return nil
}

// Get reads one source.
func (s *Store) Get(ctx context.Context, id string) (Source, error) {
	b, err := s.rdb.HGet(ctx, s.hash, id).Bytes()
	if errors.Is(err, redis.Nil) {
		return Source{}, ErrNotFound
	}
	if err != nil {
		return Source{}, fmt.Errorf("read source %s: %w", id, err)
	}
	var src Source
	if err := json.Unmarshal(b, &src); err != nil {
		return Source{}, fmt.Errorf("decode source %s: %w", id, err)
	}
	return src, nil
}

// List reads every source, in id order.
func (s *Store) List(ctx context.Context) ([]Source, error) {
	all, err := s.rdb.HGetAll(ctx, s.hash).Result()
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	out := make([]Source, 0, len(all))
	for id, b := range all {
		var src Source
		if err := json.Unmarshal([]byte(b), &src); err != nil {
			return nil, fmt.Errorf("decode source %s: %w", id, err)
		}
		out = append(out, src)
	}
	slices.SortFunc(out, func(a, b Source) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Version reads the version counter.
func (s *Store) Version(ctx context.Context) (int64, error) {
	v, err := s.rdb.Get(ctx, s.version).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

// Sources keeps the compiled sources in memory, reloaded from the store
// when its version moves: every instance sees a change within its
// refresh interval.
type Sources struct {
	store   *Store
	current atomic.Pointer[map[string]*Compiled]
	version atomic.Int64
	mu      sync.Mutex // one reload at a time
	onError func(error)
}

// NewSources returns a cache of store's sources; onError, when set, is
// told of each failed reload (the sources loaded before stay in use).
func NewSources(store *Store, onError func(error)) *Sources {
	s := &Sources{store: store, onError: onError}
	empty := map[string]*Compiled{}
	s.current.Store(&empty)
	s.version.Store(-1)
	return s
}

// Get returns the compiled source id.
func (s *Sources) Get(id string) (*Compiled, bool) {
	c, ok := (*s.current.Load())[id]
	return c, ok
}

// Reload reads the sources again when the store's version moved. A
// stored source that does not compile is left out.
func (s *Sources) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.store.Version(ctx)
	if err != nil {
		return err
	}
	if v == s.version.Load() {
		return nil
	}
	all, err := s.store.List(ctx)
	if err != nil {
		return err
	}
	next := make(map[string]*Compiled, len(all))
	for _, src := range all {
		if c, err := Compile(src); err == nil {
			next[src.ID] = c
		}
	}
	s.current.Store(&next)
	s.version.Store(v)
	return nil
}

// Run reloads every interval until ctx ends.
func (s *Sources) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.Reload(ctx); err != nil && ctx.Err() == nil && s.onError != nil {
			s.onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
