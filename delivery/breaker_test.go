package delivery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/subscription"
)

// clock is a settable clock safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Unix(1000, 0).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestBreakersForgetRecoveredEndpoints: a failing endpoint's breaker is
// dropped once it has not failed for its cooldown and idleEndpoint, when
// another endpoint starts failing.
func TestBreakersForgetRecoveredEndpoints(t *testing.T) {
	now := time.Unix(1000, 0)
	bs := newBreakers(2, 10*time.Second, 10*time.Second, 1, time.Second)
	for range 2 {
		bs.record("http://a", pass, false, now)
	}
	if v, _, _ := bs.allow("http://a", now); v != refuse {
		t.Fatal("breaker of http://a did not open")
	}
	now = now.Add(10*time.Second + idleEndpoint)
	bs.record("http://b", pass, false, now)
	if n := bs.known(); n != 2 {
		t.Errorf("%d breakers kept just before http://a's time, want 2", n)
	}
	now = now.Add(2 * time.Minute)
	bs.record("http://c", pass, false, now)
	if n := bs.known(); n != 2 {
		t.Errorf("%d breakers kept after http://a's time, want 2 (b, c)", n)
	}
	if v, _, _ := bs.allow("http://a", now); v != pass {
		t.Error("a forgotten endpoint is refused")
	}
}

// TestBreakerFollowsTheLadder: an open breaker refuses attempts as failed
// attempts with no Retry-After of its own; its cooldown starts at the
// first rung's delay and doubles with each failed probe up to the last
// rung's; a successful probe closes it.
func TestBreakerFollowsTheLadder(t *testing.T) {
	var hits, healthy atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		if healthy.Load() == 0 {
			w.WriteHeader(503)
		}
	}))
	t.Cleanup(srv.Close)
	clk := newClock()
	s := loopbackSender(t, SenderOptions{BreakerFailures: 3, BreakerCooldown: time.Second, BreakerMaxCooldown: 4 * time.Second, Now: clk.now})
	sub := compiled(t, srv.URL, nil)
	send := func() Outcome { return s.Send(context.Background(), sub, request(sub, "m", []byte(`{}`))) }
	state := func(want string) {
		t.Helper()
		if got := s.BreakerState(sub.URL); got != want {
			t.Errorf("BreakerState() = %s, want %s", got, want)
		}
	}

	state(BreakerClosed)
	for range 3 {
		if out := send(); out.Reason != ReasonHTTP5xx {
			t.Fatalf("Send() = %+v", out)
		}
	}
	out := send()
	if out.Reason != ReasonCircuitOpen || out.Class != Retryable || out.NotAttempted || out.RetryAfter != 0 || hits.Load() != 3 {
		t.Fatalf("after 3 failures: %+v, %d hits; want a failed attempt with no Retry-After and no request", out, hits.Load())
	}
	if r, ok := s.Refused(sub); !ok || r.Reason != ReasonCircuitOpen || r.RetryAfter != 0 {
		t.Errorf("Refused() = %+v, %v; want the open breaker's outcome", r, ok)
	}
	if s.OpenBreakers() != 1 {
		t.Errorf("OpenBreakers() = %d", s.OpenBreakers())
	}
	state(BreakerOpen)

	// Each failed probe doubles the cooldown: 1s, 2s, 4s, then 4s again.
	// It ends a tenth early (at most 250ms), so that retries refused
	// together and due a few milliseconds apart find the probe allowed.
	for i, cooldown := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		early := min(cooldown/10, 250*time.Millisecond)
		clk.advance(cooldown - early - time.Millisecond)
		if out := send(); out.Reason != ReasonCircuitOpen {
			t.Fatalf("probe %d: %s into a %s cooldown: %+v", i+1, cooldown-early-time.Millisecond, cooldown, out)
		}
		clk.advance(time.Millisecond)
		// Asking does not take the probe.
		if r, ok := s.Refused(sub); ok {
			t.Fatalf("probe %d: Refused() after the cooldown = %+v", i+1, r)
		}
		state(BreakerHalfOpen)
		before := hits.Load()
		if out := send(); out.Reason != ReasonHTTP5xx || hits.Load() != before+1 {
			t.Fatalf("probe %d: %+v, %d requests", i+1, out, hits.Load()-before)
		}
	}
	clk.advance(4*time.Second - 250*time.Millisecond)
	healthy.Store(1)
	if out := send(); out.Class != Delivered {
		t.Fatalf("probe to a recovered endpoint: %+v", out)
	}
	if out := send(); out.Class != Delivered || s.OpenBreakers() != 0 {
		t.Fatalf("after a good probe: %+v, %d open", out, s.OpenBreakers())
	}
	state(BreakerClosed)
}

// TestBreakerAttemptsWaitForTheProbe: attempts due while the probe is out
// wait for its answer, within the endpoint's cap and the subscription's
// timeout, instead of being refused.
func TestBreakerAttemptsWaitForTheProbe(t *testing.T) {
	tests := []struct {
		name       string
		probeOK    bool
		waiters    int // attempts made while the probe is out
		maxWaiters int
		timeout    time.Duration
		base       time.Duration // EndpointWait: waiters wait four of them at most
		delivered  int           // of the waiters
		refused    int
	}{
		{"probe succeeds: every waiter is sent", true, 5, 8, 5 * time.Second, 5 * time.Second, 5, 0},
		{"probe fails: every waiter is refused", false, 5, 8, 5 * time.Second, 5 * time.Second, 0, 5},
		{"more waiters than the cap: the rest are refused at once", true, 6, 4, 5 * time.Second, 5 * time.Second, 4, 2},
		{"the probe times out: waiters are refused", true, 3, 8, 200 * time.Millisecond, 5 * time.Second, 0, 3},
		{"the probe is slow: waiters give up after four base waits", true, 3, 8, 5 * time.Second, 25 * time.Millisecond, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			var failing atomic.Bool
			failing.Store(true)
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.Header.Get("Webhook-Id") == "probe" {
					<-release
					if !tt.probeOK {
						w.WriteHeader(503)
					}
					return
				}
				if failing.Load() {
					w.WriteHeader(503)
				}
			}))
			t.Cleanup(srv.Close)
			clk := newClock()
			s := loopbackSender(t, SenderOptions{BreakerFailures: 1, BreakerCooldown: time.Second,
				MaxPerEndpoint: tt.maxWaiters, EndpointWait: tt.base, Now: clk.now})
			sub := compiled(t, srv.URL, func(s *subscription.Subscription) { s.Timeout = subscription.Duration(tt.timeout) })
			if out := s.Send(context.Background(), sub, request(sub, "m", []byte(`{}`))); out.Reason != ReasonHTTP5xx {
				t.Fatalf("first attempt: %+v", out)
			}
			failing.Store(false)
			clk.advance(time.Second)

			probeDone := make(chan Outcome, 1)
			go func() { probeDone <- s.Send(context.Background(), sub, request(sub, "probe", []byte(`{}`))) }()
			testenv.Eventually(t, 5*time.Second, func() bool { return hits.Load() == 2 }, "the probe did not reach the server")
			outs := make(chan Outcome, tt.waiters)
			var wg sync.WaitGroup
			for range tt.waiters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					outs <- s.Send(context.Background(), sub, request(sub, "waiter", []byte(`{}`)))
				}()
			}
			if tt.delivered == 0 && tt.probeOK {
				wg.Wait() // they give up while the probe is out
			} else {
				testenv.Eventually(t, 5*time.Second, func() bool { return waiting(s, sub.URL)+len(outs) == tt.waiters },
					"the attempts did not all wait or get refused")
			}
			close(release)
			probe := <-probeDone
			wg.Wait()
			close(outs)
			if probe.Class == Delivered != (tt.probeOK && tt.timeout >= time.Second) {
				t.Errorf("probe: %+v", probe)
			}
			delivered, refused := 0, 0
			for out := range outs {
				switch {
				case out.Class == Delivered:
					delivered++
				case out.Reason == ReasonCircuitOpen && !out.NotAttempted:
					refused++
				default:
					t.Errorf("waiter: %+v", out)
				}
			}
			if delivered != tt.delivered || refused != tt.refused {
				t.Errorf("waiters: %d delivered, %d refused; want %d and %d", delivered, refused, tt.delivered, tt.refused)
			}
			if want := int32(2 + tt.delivered); hits.Load() != want {
				t.Errorf("endpoint got %d requests, want %d", hits.Load(), want)
			}
		})
	}
}

// waiting counts the attempts waiting for url's probe.
func waiting(s *Sender, url string) int {
	s.breakers.mu.Lock()
	defer s.breakers.mu.Unlock()
	if b := s.breakers.state[url]; b != nil {
		return b.waiters
	}
	return 0
}
