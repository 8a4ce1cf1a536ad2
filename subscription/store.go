package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound is returned for an unknown subscription ID.
var ErrNotFound = errors.New("subscription not found")

// ErrExists is returned when creating a subscription whose ID is taken.
var ErrExists = errors.New("subscription already exists")

// Store keeps subscriptions in Redis: one hash of ID to JSON, a sorted
// set of the IDs (to page through them in order), a version counter
// bumped by every change, and a channel announcing each change.
type Store struct {
	rdb                                 redis.UniversalClient
	prefix, hash, ids, version, channel string
}

// NewStore returns a store whose keys start with prefix. The keys share
// the hash tag {prefix}, so that the scripts touching several of them run
// on a Redis Cluster.
func NewStore(rdb redis.UniversalClient, prefix string) *Store {
	tag := HashTag(prefix)
	return &Store{
		rdb:     rdb,
		prefix:  prefix,
		hash:    tag + ":subscriptions",
		ids:     tag + ":subscriptions:ids",
		version: tag + ":subscriptions:version",
		channel: prefix + ":subscriptions:changed",
	}
}

// HashTag is prefix as a Redis Cluster hash tag: "{prefix}", or prefix
// itself when it holds one already.
func HashTag(prefix string) string {
	if i := strings.IndexByte(prefix, '{'); i >= 0 && strings.IndexByte(prefix[i:], '}') > 1 {
		return prefix
	}
	return "{" + prefix + "}"
}

// MoveKeys moves subscriptions stored by an older version, under keys
// without the hash tag, to the store's keys, unless those hold some
// already.
func (s *Store) MoveKeys(ctx context.Context) error {
	if HashTag(s.prefix) == s.prefix {
		return nil
	}
	for _, k := range [][2]string{
		{s.prefix + ":subscriptions", s.hash},
		{s.prefix + ":subscriptions:version", s.version},
	} {
		n, err := s.rdb.Exists(ctx, k[0]).Result()
		if err != nil || n == 0 {
			continue
		}
		// On one Redis; a cluster never held the old keys' scripts.
		if err := s.rdb.RenameNX(ctx, k[0], k[1]).Err(); err != nil {
			return fmt.Errorf("move %s to %s: %w", k[0], k[1], err)
		}
	}
	return nil
}

// Channel is the pub/sub channel that announces changes; each message is
// "<version> <id>": the version the change made, and the subscription it
// changed.
func (s *Store) Channel() string { return s.channel }

// Change is one announced change.
type Change struct {
	Version int64
	ID      string
}

// ParseChange reads a message of Channel.
func ParseChange(msg string) (Change, bool) {
	v, id, ok := strings.Cut(msg, " ")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || id == "" {
		return Change{}, false
	}
	return Change{Version: n, ID: id}, true
}

// HashKey is the key of the hash that holds every subscription.
func (s *Store) HashKey() string { return s.hash }

// VersionKey is the key of the version counter.
func (s *Store) VersionKey() string { return s.version }

// Client returns the Redis client, for health checks.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Create stores a new subscription; it fails with ErrExists when the ID
// is taken.
func (s *Store) Create(ctx context.Context, sub Subscription) error {
	return s.write(ctx, sub, true)
}

// Put creates or replaces a subscription.
func (s *Store) Put(ctx context.Context, sub Subscription) error {
	return s.write(ctx, sub, false)
}

var createScript = redis.NewScript(`
if ARGV[3] == "1" and redis.call("HEXISTS", KEYS[1], ARGV[1]) == 1 then
  return -1
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
redis.call("ZADD", KEYS[3], 0, ARGV[1])
local v = redis.call("INCR", KEYS[2])
redis.call("PUBLISH", ARGV[4], v .. " " .. ARGV[1])
return v
`)

func (s *Store) write(ctx context.Context, sub Subscription, create bool) error {
	b, err := json.Marshal(sub)
	if err != nil {
		return fmt.Errorf("encode subscription %s: %w", sub.ID, err)
	}
	flag := "0"
	if create {
		flag = "1"
	}
	v, err := createScript.Run(ctx, s.rdb, []string{s.hash, s.version, s.ids}, sub.ID, b, flag, s.channel).Int64()
	if err != nil {
		return fmt.Errorf("store subscription %s: %w", sub.ID, err)
	}
	if v < 0 {
		return ErrExists
	}
	return nil
}

var deleteScript = redis.NewScript(`
redis.call("ZREM", KEYS[3], ARGV[1])
if redis.call("HDEL", KEYS[1], ARGV[1]) == 0 then
  return -1
end
local v = redis.call("INCR", KEYS[2])
redis.call("PUBLISH", ARGV[2], v .. " " .. ARGV[1])
return v
`)

// Delete removes a subscription; it fails with ErrNotFound when there is
// none with that ID.
func (s *Store) Delete(ctx context.Context, id string) error {
	v, err := deleteScript.Run(ctx, s.rdb, []string{s.hash, s.version, s.ids}, id, s.channel).Int64()
	if err != nil {
		return fmt.Errorf("delete subscription %s: %w", id, err)
	}
	if v < 0 {
		return ErrNotFound
	}
	return nil
}

var casScript = redis.NewScript(`
local cur = redis.call("HGET", KEYS[1], ARGV[1])
if not cur then
  return -2
end
if cur ~= ARGV[2] then
  return -1
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[3])
local v = redis.call("INCR", KEYS[2])
redis.call("PUBLISH", ARGV[4], v .. " " .. ARGV[1])
return v
`)

// ErrConflict is returned by Update when other writers kept changing the
// subscription while it was being updated.
var ErrConflict = errors.New("subscription changed concurrently; try again")

// Update applies change to the stored subscription with a compare-and-set:
// when another writer changed it in between, change runs again on the new
// value, so no update is lost. An error from change is returned as it is.
func (s *Store) Update(ctx context.Context, id string, change func(Subscription) (Subscription, error)) (Subscription, error) {
	for range 10 {
		cur, raw, err := s.get(ctx, id)
		if err != nil {
			return Subscription{}, err
		}
		next, err := change(cur)
		if err != nil {
			return next, err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return next, fmt.Errorf("encode subscription %s: %w", id, err)
		}
		v, err := casScript.Run(ctx, s.rdb, []string{s.hash, s.version}, id, raw, b, s.channel).Int64()
		switch {
		case err != nil:
			return next, fmt.Errorf("store subscription %s: %w", id, err)
		case v == -2:
			return next, ErrNotFound
		case v >= 0:
			return next, nil
		}
	}
	return Subscription{}, ErrConflict
}

// Disable disables subscription id for reason at the time at, unless it
// is disabled already; it reports whether this call disabled it, so that
// of several workers disabling one subscription at once, one tells.
func (s *Store) Disable(ctx context.Context, id string, reason DisabledReason, at time.Time) (Subscription, bool, error) {
	changed := false
	sub, err := s.Update(ctx, id, func(cur Subscription) (Subscription, error) {
		if !cur.Enabled {
			changed = false
			return cur, errUnchanged
		}
		changed = true
		at := at.UTC()
		cur.Enabled, cur.DisabledReason, cur.DisabledAt, cur.UpdatedAt = false, reason, &at, at
		return cur, nil
	})
	if errors.Is(err, errUnchanged) {
		err = nil
	}
	return sub, changed && err == nil, err
}

// errUnchanged ends an Update that has nothing to change.
var errUnchanged = errors.New("unchanged")

// Get returns one subscription.
func (s *Store) Get(ctx context.Context, id string) (Subscription, error) {
	sub, _, err := s.get(ctx, id)
	return sub, err
}

// get returns a subscription and its stored JSON.
func (s *Store) get(ctx context.Context, id string) (Subscription, string, error) {
	raw, err := s.rdb.HGet(ctx, s.hash, id).Result()
	if errors.Is(err, redis.Nil) {
		return Subscription{}, "", ErrNotFound
	}
	if err != nil {
		return Subscription{}, "", fmt.Errorf("get subscription %s: %w", id, err)
	}
	var sub Subscription
	if err := json.Unmarshal([]byte(raw), &sub); err != nil {
		return Subscription{}, "", fmt.Errorf("decode subscription %s: %w", id, err)
	}
	return sub, raw, nil
}

// Snapshot is what Load read besides the subscriptions it passed on.
type Snapshot struct {
	// Version is the version the subscriptions are at.
	Version int64
	// Broken lists stored entries that do not decode, by ID.
	Broken map[string]error
}

// Load reads every subscription and the version they are at, in one
// transaction, and passes each to each as it decodes it, letting go of
// its stored JSON: a caller that needs a few fields of each need not
// hold them all decoded. It also repairs the index of IDs when it does
// not count as many as there are subscriptions (one written by an older
// version).
func (s *Store) Load(ctx context.Context, each func(Subscription)) (Snapshot, error) {
	var getAll *redis.MapStringStringCmd
	var ver *redis.StringCmd
	var indexed *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		ver = p.Get(ctx, s.version)
		getAll = p.HGetAll(ctx, s.hash)
		indexed = p.ZCard(ctx, s.ids)
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return Snapshot{}, fmt.Errorf("load subscriptions: %w", err)
	}
	stored := getAll.Val()
	if n := indexed.Val(); n != int64(len(stored)) {
		if err := s.reindex(ctx, stored); err != nil {
			return Snapshot{}, err
		}
	}
	var snap Snapshot
	if v, err := ver.Result(); err == nil {
		snap.Version, _ = strconv.ParseInt(v, 10, 64)
	}
	var buf []byte
	for id, raw := range stored {
		// Each entry is let go once decoded: the JSON of the ones done
		// can be collected while the rest decode.
		delete(stored, id)
		buf = append(buf[:0], raw...)
		var sub Subscription
		if err := json.Unmarshal(buf, &sub); err != nil {
			if snap.Broken == nil {
				snap.Broken = map[string]error{}
			}
			snap.Broken[id] = err
			continue
		}
		each(sub)
	}
	return snap, nil
}

// reindex makes the index of IDs hold those of stored, and those of
// subscriptions stored since, and no others.
func (s *Store) reindex(ctx context.Context, stored map[string]string) error {
	members := make([]redis.Z, 0, len(stored))
	for id := range stored {
		members = append(members, redis.Z{Member: id})
	}
	for chunk := range slices.Chunk(members, 1000) {
		if err := s.rdb.ZAdd(ctx, s.ids, chunk...).Err(); err != nil {
			return fmt.Errorf("index subscriptions: %w", err)
		}
	}
	// IDs indexed but no longer stored.
	indexed, err := s.rdb.ZRange(ctx, s.ids, 0, -1).Result()
	if err != nil {
		return fmt.Errorf("index subscriptions: %w", err)
	}
	var gone []any
	for _, id := range indexed {
		if _, ok := stored[id]; !ok {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		exists, err := s.rdb.HMGet(ctx, s.hash, anyStrings(gone)...).Result()
		if err != nil {
			return fmt.Errorf("index subscriptions: %w", err)
		}
		var remove []any
		for i, v := range exists {
			if v == nil {
				remove = append(remove, gone[i])
			}
		}
		if len(remove) > 0 {
			if err := s.rdb.ZRem(ctx, s.ids, remove...).Err(); err != nil {
				return fmt.Errorf("index subscriptions: %w", err)
			}
		}
	}
	return nil
}

func anyStrings(v []any) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = x.(string)
	}
	return out
}

// Page returns up to limit subscriptions with IDs after after, in ID
// order, that keep holds for (nil: every one), and the cursor of the next
// page ("" at the end). It reads at most scan subscriptions: a selective
// filter may return a short page, even an empty one, with a cursor to go
// on from.
func (s *Store) Page(ctx context.Context, after string, limit, scan int, keep func(Subscription) bool) ([]Subscription, string, error) {
	const batch = 200
	start := "-"
	if after != "" {
		start = "(" + after
	}
	page := make([]Subscription, 0, min(limit, batch)+1) // one more tells there is a next page
	scanned := 0
	for {
		ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.ids, Start: start, Stop: "+", ByLex: true,
			Count: int64(min(batch, max(limit-len(page), 1)+1, max(scan-scanned, 1)))}).Result()
		if err != nil {
			return nil, "", fmt.Errorf("list subscriptions: %w", err)
		}
		if len(ids) == 0 {
			return page, "", nil
		}
		values, err := s.rdb.HMGet(ctx, s.hash, ids...).Result()
		if err != nil {
			return nil, "", fmt.Errorf("list subscriptions: %w", err)
		}
		for _, v := range values {
			raw, ok := v.(string)
			if !ok {
				continue // deleted since the index was read
			}
			// Decoded in its place on the page, kept only if it is wanted.
			page = append(page, Subscription{})
			sub := &page[len(page)-1]
			if err := json.Unmarshal([]byte(raw), sub); err != nil || keep != nil && !keep(*sub) {
				page = page[:len(page)-1] // undecodable ones Load reports
				continue
			}
			if len(page) > limit {
				return page[:limit], page[limit-1].ID, nil
			}
		}
		scanned += len(ids)
		last := ids[len(ids)-1]
		if scanned >= scan {
			return page, last, nil
		}
		start = "(" + last
	}
}

// Version returns the current version; 0 before the first change.
func (s *Store) Version(ctx context.Context) (int64, error) {
	v, err := s.rdb.Get(ctx, s.version).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}
