package subscription

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// Cache keeps the compiled subscriptions of a Store in memory. It applies
// each change the store announces and, every refresh interval, reloads
// when the cache is still behind the version stored an interval before,
// which repairs whatever was missed while Redis was out of reach. While
// Redis is unreachable the last snapshot stays in use and Health reports
// the error.
type Cache struct {
	store    *Store
	refresh  time.Duration
	log      zerolog.Logger
	onReload func(n int, err error)
	onChange func(n int)
	maxMatch int

	// reloading serializes reloads, which the refresh loop and the admin
	// API both start: a slower load finishing last would otherwise put
	// back an older snapshot.
	reloading sync.Mutex
	set       atomic.Pointer[Set]
	version   atomic.Int64
	kick      chan struct{}
	// compactKick asks the refresh loop to build the set anew.
	compactKick chan struct{}
	wg          sync.WaitGroup
	// seen is the stored version the last check read, or MaxInt64 when
	// it could not read it; only the refresh loop reads and writes it.
	seen int64

	mu      sync.Mutex
	lastErr error
	since   time.Time
}

// CacheOptions configure a Cache.
type CacheOptions struct {
	// Refresh is how often the stored version is checked. Default 5s.
	Refresh time.Duration
	Logger  zerolog.Logger
	// OnReload, when set, is called after each reload attempt with the
	// number of subscriptions loaded or the error.
	OnReload func(n int, err error)
	// OnChange, when set, is called after a change is applied with the
	// number of subscriptions.
	OnChange func(n int)
	// MaxMatchBytes is how much of a string field a regex examines.
	// Default DefaultMaxMatchBytes.
	MaxMatchBytes int
}

// NewCache returns a cache over store; call Start to load it.
func NewCache(store *Store, opts CacheOptions) *Cache {
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Second
	}
	if opts.MaxMatchBytes <= 0 {
		opts.MaxMatchBytes = DefaultMaxMatchBytes
	}
	c := &Cache{store: store, refresh: opts.Refresh, log: opts.Logger, onReload: opts.OnReload, kick: make(chan struct{}, 1), compactKick: make(chan struct{}, 1),
		maxMatch: opts.MaxMatchBytes, onChange: opts.OnChange}
	c.set.Store(NewSet(nil))
	return c
}

// Current returns the snapshot in use.
func (c *Cache) Current() *Set { return c.set.Load() }

// Version returns the store version of the snapshot in use.
func (c *Cache) Version() int64 { return c.version.Load() }

// Health returns a nil error while Redis answers, else since when it has
// failed and the last error.
func (c *Cache) Health() (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.since, c.lastErr
}

// Start loads the subscriptions, retrying until the first load succeeds
// or ctx ends: nothing may be matched against an empty cache that is empty
// only because Redis was down. It then keeps the cache fresh in the
// background until ctx ends.
func (c *Cache) Start(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := c.reload(ctx)
		if err == nil {
			break
		}
		c.log.Warn().Err(err).Dur("retry_in", backoff).Msg("cannot load subscriptions yet")
		select {
		case <-ctx.Done():
			return fmt.Errorf("first subscription load: %w", err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	// Listen before the second load, so that no change falls between
	// them: a change published before Redis confirms the subscription
	// would otherwise wait for the next refresh.
	ps := c.store.rdb.Subscribe(ctx, c.store.channel)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := ps.Receive(rctx)
	cancel()
	if err != nil {
		c.log.Warn().Err(err).Msg("cannot listen for subscription changes yet; refreshing every interval meanwhile")
	} else if err := c.reload(ctx); err != nil {
		c.log.Warn().Err(err).Msg("subscription reload failed; matching with the cached set")
	}
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.listen(ctx, ps) }()
	go func() { defer c.wg.Done(); c.loop(ctx) }()
	return nil
}

// Wait blocks until the background work started by Start has ended,
// which it does when Start's context ends.
func (c *Cache) Wait() { c.wg.Wait() }

// Reload forces a reload now and returns its error.
func (c *Cache) Reload(ctx context.Context) error { return c.reload(ctx) }

func (c *Cache) listen(ctx context.Context, ps *redis.PubSub) {
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			change, ok := ParseChange(msg.Payload)
			if ok {
				ok = c.applyChange(ctx, change) == nil
			}
			if !ok {
				// A message of another version of hookstream, or a change
				// that could not be applied: load everything.
				select {
				case c.kick <- struct{}{}:
				default:
				}
			}
		}
	}
}

func (c *Cache) loop(ctx context.Context) {
	tick := time.NewTicker(c.refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.compactKick:
			c.compact()
		case <-c.kick:
			if err := c.reload(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn().Err(err).Msg("subscription reload failed; matching with the cached set")
			}
		case <-tick.C:
			c.check(ctx)
		}
	}
}

// check reads the stored version and loads everything again when the
// cache missed a change: when it is behind a version the check before
// read, or behind at all after a check that could not reach Redis (what
// was announced meanwhile is lost), or ahead of the stored version (Redis
// lost writes or was emptied). A change stored since the check before may
// still be on its way on pub/sub. Reloading for it made a worker read
// every subscription whenever a check fell in that moment while writes
// kept coming (`apply -f`, a busy API), 240 MB allocated for 100,000 of
// them; a change missed otherwise is repaired within two intervals. The
// cache reports itself healthy again only once it has caught up.
func (c *Cache) check(ctx context.Context) {
	v, err := c.store.Version(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.setHealth(err)
			c.log.Warn().Err(err).Msg("redis unreachable; matching with the cached set")
		}
		c.seen = math.MaxInt64
		return
	}
	cached := c.version.Load()
	missed := cached < min(c.seen, v) || cached > v
	c.seen = v
	if !missed {
		c.setHealth(nil)
		return
	}
	if err := c.reload(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn().Err(err).Msg("subscription reload failed; matching with the cached set")
	}
}

// compactAt is how many changes a Set carries before they are indexed
// (Set.Compacted): matching compares an event with each in turn.
const compactAt = 256

// Apply reads subscription id from the store and applies it to the cache,
// or removes it when it is gone: a writer applies its own change at once,
// before every worker hears of it.
func (c *Cache) Apply(ctx context.Context, id string) error {
	c.reloading.Lock()
	defer c.reloading.Unlock()
	return c.applyLocked(ctx, id)
}

// applyChange applies an announced change: the next version applies the
// one subscription it changed; a gap (messages missed while
// disconnected) loads everything.
func (c *Cache) applyChange(ctx context.Context, ch Change) error {
	c.reloading.Lock()
	switch cur := c.version.Load(); {
	case ch.Version <= cur:
		c.reloading.Unlock()
		return nil // a reload already read it
	case ch.Version > cur+1:
		c.reloading.Unlock()
		c.log.Debug().Int64("version", ch.Version).Int64("cached", cur).Msg("subscription changes missed; reloading")
		return c.reload(ctx)
	}
	defer c.reloading.Unlock()
	if err := c.applyLocked(ctx, ch.ID); err != nil {
		return err
	}
	c.version.Store(ch.Version)
	return nil
}

// applyLocked applies subscription id as stored now; c.reloading is held.
func (c *Cache) applyLocked(ctx context.Context, id string) error {
	sub, err := c.store.Get(ctx, id)
	set := c.set.Load()
	switch {
	case errors.Is(err, ErrNotFound):
		set = set.Without(id)
	case err != nil:
		c.setHealth(err)
		return err
	default:
		cs, cerr := Compile(sub)
		if cerr != nil {
			c.log.Error().Err(cerr).Str("subscription", id).Msg("stored subscription is invalid; skipped")
			set = set.Without(id)
			break
		}
		cs.maxMatch = c.maxMatch
		set = set.With(cs)
	}
	switch {
	case set.Changes() >= 4*compactAt:
		// Not started, or compacting cannot keep up: do it here.
		set = set.Compacted()
	case set.Changes() >= compactAt:
		select {
		case c.compactKick <- struct{}{}:
		default:
		}
	}
	c.set.Store(set)
	c.setHealth(nil)
	if c.onChange != nil {
		c.onChange(set.Len())
	}
	c.log.Debug().Str("subscription", id).Int("subscriptions", set.Len()).Msg("subscription change applied")
	return nil
}

// compact indexes the set's changes without holding up the changes
// meanwhile, which it then carries over.
func (c *Cache) compact() {
	from := c.set.Load()
	if from.Changes() < compactAt {
		return
	}
	built := from.Compacted()
	c.reloading.Lock()
	defer c.reloading.Unlock()
	cur := c.set.Load()
	if cur.base != from.base || cur.mid != from.mid {
		return // reloaded or compacted meanwhile
	}
	for id, v := range cur.delta {
		if old, ok := from.delta[id]; !ok || old != v {
			built = built.change(id, v)
		}
	}
	c.set.Store(built)
}

// bigLoad is how many subscriptions make a load whose garbage is
// collected, and given back to the OS, as soon as it is done.
const bigLoad = 10000

// reload loads every subscription. After a big load it collects the
// garbage at once: decoding 100,000 subscriptions leaves 400–560 MB of
// it, which the collector otherwise marked when the heap next reached
// its goal, later, beside the requests of the moment, while the worker
// held the memory.
func (c *Cache) reload(ctx context.Context) error {
	n, err := c.load(ctx)
	if n >= bigLoad {
		debug.FreeOSMemory()
	}
	return err
}

// load loads every subscription and returns how many it read.
func (c *Cache) load(ctx context.Context) (int, error) {
	c.reloading.Lock()
	defer c.reloading.Unlock()
	// Every subscription is decoded before any is compiled: compiling
	// each as it was decoded left a tenth to a sixth more heap in use
	// after a load of 50,000, for the same bytes live.
	var subs []Subscription
	snap, err := c.store.Load(ctx, func(s Subscription) { subs = append(subs, s) })
	if err != nil {
		c.setHealth(err)
		if c.onReload != nil {
			c.onReload(0, err)
		}
		return 0, err
	}
	compiled := make([]*Compiled, 0, len(subs))
	for _, s := range subs {
		cs, err := Compile(s)
		if err != nil {
			c.log.Error().Err(err).Str("subscription", s.ID).Msg("stored subscription is invalid; skipped")
			continue
		}
		cs.maxMatch = c.maxMatch
		compiled = append(compiled, cs)
	}
	for id, err := range snap.Broken {
		c.log.Error().Err(err).Str("subscription", id).Msg("stored subscription does not decode; skipped")
	}
	c.set.Store(NewSet(compiled))
	c.version.Store(snap.Version)
	c.setHealth(nil)
	if c.onReload != nil {
		c.onReload(len(compiled), nil)
	}
	c.log.Debug().Int("subscriptions", len(compiled)).Int64("version", snap.Version).Msg("subscriptions loaded")
	return len(subs), nil
}

func (c *Cache) setHealth(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		if c.lastErr != nil {
			c.log.Info().Msg("redis reachable again")
		}
		c.lastErr, c.since = nil, time.Time{}
	case c.lastErr == nil:
		c.lastErr, c.since = err, time.Now()
	default:
		c.lastErr = err
	}
}
