package delivery

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// RateLimit paces the attempts to one endpoint: PerSecond on average, at
// most Burst at once.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// Limiter paces attempts per key across every worker that shares its
// Redis. The pace is a GCRA (a token bucket without a refill loop) kept in
// Redis; a worker takes tokens in small batches, so Redis is not asked
// per attempt, and drops the tokens of a batch it did not use in the time
// they stand for, so no worker ever goes faster than the limit allows.
// While Redis does not answer, each worker paces itself at its share of
// the limit: the limit divided by the workers that last shared it.
//
// An endpoint's 429 with a Retry-After pauses its key until then.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
	worker string
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	// pausedUntil is the latest end of any pause (unix ns): until then an
	// unlimited key may be paused and is looked up; after it, not.
	pausedUntil atomic.Int64
}

// bucket is one worker's view of a key's pace.
type bucket struct {
	mu      sync.Mutex
	limit   RateLimit
	tokens  int       // taken from Redis, not used yet
	expires time.Time // when tokens not used are dropped
	pause   time.Time // no attempt before: Redis said so, or a 429 did
	workers int       // the workers that shared the key when Redis last answered
	local   *rate.Limiter
	used    time.Time
}

// NewLimiter returns a Limiter keeping its state under prefix in rdb, for
// the worker named worker (unique among those sharing rdb).
func NewLimiter(rdb redis.UniversalClient, prefix, worker string, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{rdb: rdb, prefix: prefix, worker: worker, now: now, buckets: map[string]*bucket{}}
}

// gcraScript takes up to want tokens of a key whose pace is one token per
// interval with burst, and notes that worker shares it. It returns the
// tokens granted, the milliseconds until one is available when none was,
// and how many workers shared the key in the last ten seconds.
//
//	KEYS[1] the key's theoretical arrival time (ms), KEYS[2] its workers
//	ARGV: interval (ms, fractional), burst, want, worker, pause for (ms, 0: none)
//
// Time is Redis's own: the workers sharing a key may not agree on theirs,
// and one whose clock runs ahead must not hold the others back.
var gcraScript = redis.NewScript(`
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local interval, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 10000)
redis.call('PEXPIRE', KEYS[2], 60000)
local workers = redis.call('ZCARD', KEYS[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local pause = now + tonumber(ARGV[5])
if pause > now and pause + (burst - 1) * interval > tat then tat = pause + (burst - 1) * interval end
local room = math.floor(burst - (tat - now) / interval + 1e-9)
local grant = math.max(0, math.min(want, room))
tat = tat + grant * interval
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
local wait = 0
if grant == 0 then wait = math.ceil(tat - (burst - 1) * interval - now) end
return {grant, wait, workers}
`)

// Wait takes a token of key, paced at limit, waiting up to maxWait for
// one. It reports whether it got one; without one the attempt is not to
// be made now.
func (l *Limiter) Wait(ctx context.Context, key string, limit RateLimit, maxWait time.Duration) bool {
	if paused := l.pausedUntil.Load(); limit.PerSecond <= 0 && (paused == 0 || l.now().UnixNano() >= paused) {
		// Most endpoints: no limit, no 429 to honour.
		return true
	}
	b := l.bucket(key, limit)
	deadline := l.now().Add(maxWait)
	for {
		wait, ok := l.take(ctx, key, b)
		if ok {
			return true
		}
		if l.now().Add(wait).After(deadline) {
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// Pause holds every attempt to key until until, on every worker: the
// endpoint asked for it with a 429 and a Retry-After.
func (l *Limiter) Pause(ctx context.Context, key string, limit RateLimit, until time.Time) {
	for {
		cur := l.pausedUntil.Load()
		if until.UnixNano() <= cur || l.pausedUntil.CompareAndSwap(cur, until.UnixNano()) {
			break
		}
	}
	b := l.bucket(key, limit)
	b.mu.Lock()
	defer b.mu.Unlock()
	if until.After(b.pause) {
		b.pause = until
	}
	b.tokens = 0
	if limit.PerSecond > 0 {
		_, _ = l.ask(ctx, key, b, 0, until)
	}
}

func (l *Limiter) bucket(key string, limit RateLimit) *bucket {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil || b.limit != limit {
		if len(l.buckets) > 1024 {
			l.sweep()
		}
		b = &bucket{limit: limit, workers: 1}
		if limit.PerSecond > 0 {
			b.local = rate.NewLimiter(rate.Limit(limit.PerSecond), max(1, limit.Burst))
		}
		l.buckets[key] = b
	}
	return b
}

// sweep forgets buckets unused for idleEndpoint; l.mu is held.
func (l *Limiter) sweep() {
	now := l.now()
	for key, b := range l.buckets {
		b.mu.Lock()
		idle := now.Sub(b.used) > idleEndpoint && now.After(b.pause)
		b.mu.Unlock()
		if idle {
			delete(l.buckets, key)
		}
	}
}

// batch is how many tokens a worker takes at once: a tenth of a second's
// worth, within the burst.
func batch(limit RateLimit) int {
	return max(1, min(max(1, limit.Burst), int(math.Ceil(limit.PerSecond/10))))
}

// take uses a token of b when there is one, or says how long until one
// may be.
func (l *Limiter) take(ctx context.Context, key string, b *bucket) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := l.now()
	b.used = now
	if now.Before(b.pause) {
		return b.pause.Sub(now), false
	}
	if b.limit.PerSecond <= 0 {
		return 0, true
	}
	if b.tokens > 0 && now.Before(b.expires) {
		b.tokens--
		return 0, true
	}
	want := batch(b.limit)
	granted, err := l.ask(ctx, key, b, want, time.Time{})
	if err != nil {
		// Redis is away: pace this worker at its share.
		r := b.local.ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			return d, false
		}
		return 0, true
	}
	if granted == 0 {
		return b.pause.Sub(now), false
	}
	// The batch stands for granted intervals of the pace: what is not
	// used by then is dropped rather than spent late in a burst.
	b.tokens = granted - 1
	b.expires = now.Add(time.Duration(float64(granted) / b.limit.PerSecond * float64(time.Second)))
	return 0, true
}

// ask runs the script for want tokens of key; b.mu is held. With none
// granted it sets b.pause to when one may be.
func (l *Limiter) ask(ctx context.Context, key string, b *bucket, want int, pause time.Time) (int, error) {
	now := l.now()
	interval := 1000 / b.limit.PerSecond
	pauseMS := int64(0)
	if !pause.IsZero() {
		pauseMS = max(0, pause.Sub(now).Milliseconds())
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	res, err := gcraScript.Run(rctx, l.rdb, []string{l.prefix + ":pace:{" + key + "}", l.prefix + ":pace:{" + key + "}:workers"},
		strconv.FormatFloat(interval, 'f', 3, 64), max(1, b.limit.Burst), want, l.worker, pauseMS).Int64Slice()
	if err != nil || len(res) != 3 {
		if err == nil {
			err = redis.Nil
		}
		return 0, err
	}
	if w := int(res[2]); w != b.workers && w > 0 {
		b.workers = w
		share := b.limit.PerSecond / float64(w)
		b.local.SetLimitAt(now, rate.Limit(share))
		b.local.SetBurstAt(now, max(1, b.limit.Burst/w))
	}
	if res[0] == 0 && want > 0 {
		b.pause = now.Add(time.Duration(max(res[1], 1)) * time.Millisecond)
	}
	return int(res[0]), nil
}
