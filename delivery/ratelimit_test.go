package delivery

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/subscription"
)

// TestMain stops the redis-server the rate limit tests may start.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// grants takes tokens of key from each limiter with several goroutines
// each, for d, and returns when each was granted.
func grants(t *testing.T, limiters []*Limiter, key string, limit RateLimit, d time.Duration) []time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	var at []time.Time
	var wg sync.WaitGroup
	for _, l := range limiters {
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if l.Wait(ctx, key, limit, 200*time.Millisecond) && ctx.Err() == nil {
						mu.Lock()
						at = append(at, time.Now())
						mu.Unlock()
					}
				}
			}()
		}
	}
	wg.Wait()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	return at
}

// busiestSecond is the most grants in any one-second window.
func busiestSecond(at []time.Time) int {
	most := 0
	for i, j := 0, 0; i < len(at); i++ {
		for at[i].Sub(at[j]) >= time.Second {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// TestLimiterHoldsAcrossWorkers: three workers sharing Redis, each asking
// as fast as it can, together get the limit and no more.
func TestLimiterHoldsAcrossWorkers(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		limit := RateLimit{PerSecond: 50, Burst: 1}
		var workers []*Limiter
		for i := range 3 {
			workers = append(workers, NewLimiter(rdb, prefix, fmt.Sprint("w", i), nil))
		}
		at := grants(t, workers, "sub:a", limit, 3*time.Second)
		busiest := busiestSecond(at)
		t.Logf("%d grants in 3s, at most %d in one second", len(at), busiest)
		if busiest > 55 {
			t.Errorf("%d grants in one second, over 50/s + 10%%", busiest)
		}
		if len(at) < 135 {
			t.Errorf("%d grants in 3s at 50/s: the workers went slower than the limit", len(at))
		}
	})
}

// TestLimiterIgnoresWorkersClocks: a worker whose clock runs an hour
// ahead shares the pace with one on time; neither holds the other back,
// because the pace is kept in Redis's time.
func TestLimiterIgnoresWorkersClocks(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	limit := RateLimit{PerSecond: 50, Burst: 1}
	ahead := NewLimiter(rdb, prefix, "ahead", func() time.Time { return time.Now().Add(time.Hour) })
	onTime := NewLimiter(rdb, prefix, "on-time", nil)
	at := grants(t, []*Limiter{ahead, onTime}, "sub:a", limit, 2*time.Second)
	onTimeAlone := grants(t, []*Limiter{onTime}, "sub:a", limit, time.Second)
	t.Logf("%d grants in 2s to both, then %d in 1s to the worker on time", len(at), len(onTimeAlone))
	if busiest := busiestSecond(at); busiest > 55 {
		t.Errorf("%d grants in one second, over 50/s + 10%%", busiest)
	}
	if len(at) < 90 || len(onTimeAlone) < 45 {
		t.Errorf("%d grants in 2s, then %d in 1s at 50/s: a clock ahead held the pace back", len(at), len(onTimeAlone))
	}
}

// TestLimiterPacesItsShareWithoutRedis: with Redis away, each worker
// paces itself at the limit divided by the workers that last shared it.
func TestLimiterPacesItsShareWithoutRedis(t *testing.T) {
	rdb, proxy, prefix := testenv.RedisBehindProxy(t)
	limit := RateLimit{PerSecond: 40, Burst: 2}
	a, b := NewLimiter(rdb, prefix, "a", nil), NewLimiter(rdb, prefix, "b", nil)
	grants(t, []*Limiter{a, b}, "sub:a", limit, 300*time.Millisecond) // both are known to share it
	proxy.Cut()
	at := grants(t, []*Limiter{a}, "sub:a", limit, 2*time.Second)
	t.Logf("without Redis: %d grants in 2s, at most %d in one second", len(at), busiestSecond(at))
	// Its share is 20/s, with a burst of 1.
	if n := len(at); n < 36 || n > 44 {
		t.Errorf("%d grants in 2s without Redis, want its share: about 40", n)
	}
}

// TestLimiterPauseHoldsEveryWorker: a 429's Retry-After seen by one worker
// holds the key on the others too.
func TestLimiterPauseHoldsEveryWorker(t *testing.T) {
	testenv.ForEachRedis(t, func(t *testing.T, rdb redis.UniversalClient, prefix string) {
		limit := RateLimit{PerSecond: 100, Burst: 5}
		a, b := NewLimiter(rdb, prefix, "a", nil), NewLimiter(rdb, prefix, "b", nil)
		ctx := context.Background()
		if !b.Wait(ctx, "sub:a", limit, 0) {
			t.Fatal("a fresh key gave no token")
		}
		a.Pause(ctx, "sub:a", limit, time.Now().Add(time.Second))
		b.mu.Lock()
		b.buckets["sub:a"].tokens = 0 // what b took before the pause is spent
		b.mu.Unlock()
		for name, l := range map[string]*Limiter{"the worker that saw it": a, "another": b} {
			if l.Wait(ctx, "sub:a", limit, 300*time.Millisecond) {
				t.Errorf("%s got a token during the pause", name)
			}
		}
		start := time.Now()
		if !b.Wait(ctx, "sub:a", limit, 2*time.Second) {
			t.Fatal("no token after the pause")
		}
		if waited := time.Since(start); waited < 300*time.Millisecond {
			t.Errorf("token %s into the rest of the pause", waited)
		}
	})
}

// TestSendWaitsForItsTurn: a subscription's rate limit makes attempts
// wait for their turn up to RateWait, then puts them off without a
// request; a 429 with a Retry-After pauses the endpoint's later attempts.
func TestSendWaitsForItsTurn(t *testing.T) {
	var hits atomic.Int32
	var answer atomic.Int32
	answer.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		if code := int(answer.Load()); code == 429 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(code)
		}
	}))
	t.Cleanup(srv.Close)
	rdb, prefix := testenv.Redis(t)
	s := loopbackSender(t, SenderOptions{Limiter: NewLimiter(rdb, prefix, "w", nil), RateWait: 300 * time.Millisecond})
	sub := compiled(t, srv.URL, func(s *subscription.Subscription) {
		s.RateLimit = &subscription.RateLimit{PerSecond: 10, Burst: 1}
	})

	outs := make(chan Outcome, 10)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() { defer wg.Done(); outs <- s.Send(context.Background(), sub, request(sub, "m", []byte(`{}`))) }()
	}
	wg.Wait()
	close(outs)
	delivered, putOff := 0, 0
	for out := range outs {
		switch {
		case out.Class == Delivered:
			delivered++
		case out.Reason == ReasonRateLimited && out.NotAttempted:
			putOff++
		default:
			t.Errorf("outcome %+v", out)
		}
	}
	// At 10/s, 300ms of waiting lets 1 + 3 through.
	if delivered < 3 || delivered > 5 || putOff != 10-delivered || int(hits.Load()) != delivered {
		t.Errorf("%d delivered, %d put off, %d requests; want about 4 delivered and the rest put off without a request", delivered, putOff, hits.Load())
	}

	// A fast-paced subscription, which gets its turn at once, until its
	// endpoint asks it to wait.
	fast := compiled(t, srv.URL, func(s *subscription.Subscription) {
		s.ID = "sub_fast"
		s.RateLimit = &subscription.RateLimit{PerSecond: 1000, Burst: 10}
	})
	answer.Store(429)
	if out := s.Send(context.Background(), fast, request(fast, "m", []byte(`{}`))); out.Reason != ReasonHTTP429 || out.RetryAfter != 2*time.Second {
		t.Fatalf("429: %+v", out)
	}
	answer.Store(200)
	before := hits.Load()
	if out := s.Send(context.Background(), fast, request(fast, "m", []byte(`{}`))); out.Reason != ReasonRateLimited || hits.Load() != before {
		t.Errorf("attempt during the endpoint's Retry-After: %+v, %d requests", out, hits.Load()-before)
	}
}

// TestRetryAfterPausesAnUnlimitedEndpoint: a 429 with a Retry-After from
// an endpoint without a rate limit holds its later attempts, and only its.
func TestRetryAfterPausesAnUnlimitedEndpoint(t *testing.T) {
	var answer atomic.Int32
	answer.Store(429)
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if answer.Load() == 429 {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(429)
		}
	}))
	t.Cleanup(busy.Close)
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(other.Close)
	otherSub := compiled(t, other.URL, nil)
	rdb, prefix := testenv.Redis(t)
	s := loopbackSender(t, SenderOptions{Limiter: NewLimiter(rdb, prefix, "w", nil), RateWait: 100 * time.Millisecond})
	ctx := context.Background()
	if out := s.Send(ctx, otherSub, request(otherSub, "m", []byte(`{}`))); out.Class != Delivered {
		t.Fatalf("before any pause: %+v", out)
	}
	sub := compiled(t, busy.URL, nil)
	if out := s.Send(ctx, sub, request(sub, "m", []byte(`{}`))); out.Reason != ReasonHTTP429 {
		t.Fatalf("first attempt: %+v", out)
	}
	answer.Store(200)
	if out := s.Send(ctx, sub, request(sub, "m", []byte(`{}`))); out.Reason != ReasonRateLimited || !out.NotAttempted {
		t.Errorf("attempt during the Retry-After: %+v", out)
	}
	if out := s.Send(ctx, otherSub, request(otherSub, "m", []byte(`{}`))); out.Class != Delivered {
		t.Errorf("another endpoint during the pause: %+v", out)
	}
}

// TestHostRateLimitIsShared: subscriptions without a rate limit of their
// own share their host's pace.
func TestHostRateLimitIsShared(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	rdb, prefix := testenv.Redis(t)
	s := loopbackSender(t, SenderOptions{Limiter: NewLimiter(rdb, prefix, "w", nil), RateWait: 300 * time.Millisecond,
		HostRateLimit: RateLimit{PerSecond: 10, Burst: 1}})
	subs := []*subscription.Compiled{
		compiled(t, srv.URL+"/a", func(s *subscription.Subscription) { s.ID = "sub_a" }),
		compiled(t, srv.URL+"/b", func(s *subscription.Subscription) { s.ID = "sub_b" }),
	}
	var wg sync.WaitGroup
	var delivered atomic.Int32
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out := s.Send(context.Background(), subs[i%2], request(subs[i%2], "m", []byte(`{}`))); out.Class == Delivered {
				delivered.Add(1)
			}
		}()
	}
	wg.Wait()
	// 10/s over two subscriptions of one host: 1 + 3 in 300ms, not twice that.
	if n := delivered.Load(); n < 3 || n > 5 || hits.Load() != n {
		t.Errorf("%d delivered (%d requests) to one host at 10/s in 300ms, want about 4", n, hits.Load())
	}
}
