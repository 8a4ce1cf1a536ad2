package delivery

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestEndpointSlotsKeepAFastEndpointsQueue: far more attempts than the
// cap, to an endpoint answering in a millisecond, all get a slot.
func TestEndpointSlotsKeepAFastEndpointsQueue(t *testing.T) {
	e := newEndpointSlots(4, 50*time.Millisecond)
	ctx := context.Background()
	// Learn the endpoint's latency.
	if !acquired(e.acquire(ctx, e.get("fast"))) {
		t.Fatal("first acquire refused")
	}
	e.release(e.get("fast"), time.Millisecond, time.Now())
	var refused atomic.Int32
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !acquired(e.acquire(ctx, e.get("fast"))) {
				refused.Add(1)
				return
			}
			time.Sleep(time.Millisecond)
			e.release(e.get("fast"), time.Millisecond, time.Now())
		}()
	}
	wg.Wait()
	if n := refused.Load(); n != 0 {
		t.Errorf("%d of 64 attempts to a 1ms endpoint were refused a slot", n)
	}
}

func TestEndpointSlotsPutOffSlowAndHangingEndpoints(t *testing.T) {
	tests := []struct {
		name    string
		latency time.Duration // learned before the cap fills; 0: none yet
		maxWait time.Duration // how long the refused attempt may take
	}{
		{"hanging: no latency yet, waits until its first attempt has been out the base wait", 0, 500 * time.Millisecond},
		{"slow: a 1s latency, refused at once", time.Second, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEndpointSlots(2, 50*time.Millisecond)
			ctx := context.Background()
			filled := time.Now()
			fill(t, e, "x", tt.latency)
			start := time.Now()
			if acquired(e.acquire(ctx, e.get("x"))) {
				t.Fatal("acquire over the cap of a stuck endpoint succeeded")
			}
			took := time.Since(start)
			if tt.latency == 0 && time.Since(filled) < 50*time.Millisecond {
				t.Errorf("refused %s after the first attempt went, want the base wait of 50ms first", time.Since(filled))
			}
			if took > tt.maxWait {
				t.Errorf("refused after %s, want within %s", took, tt.maxWait)
			}
			// Another endpoint is not held back.
			if !acquired(e.acquire(ctx, e.get("y"))) {
				t.Error("another endpoint was refused")
			}
		})
	}
}

// TestEndpointSlotsWaitForAnEndpointFoundFastMeanwhile: an attempt that
// queued before its endpoint had a latency keeps waiting when the first
// answers show the endpoint is fast.
func TestEndpointSlotsWaitForAnEndpointFoundFastMeanwhile(t *testing.T) {
	e := newEndpointSlots(1, 50*time.Millisecond)
	ctx := context.Background()
	if !acquired(e.acquire(ctx, e.get("x"))) {
		t.Fatal("first acquire refused")
	}
	got := make(chan bool, 1)
	go func() { got <- acquired(e.acquire(ctx, e.get("x"))) }()
	time.Sleep(10 * time.Millisecond)
	e.get("x").latency.Store(int64(time.Millisecond)) // another worker's answer came back fast
	time.Sleep(70 * time.Millisecond)                 // past the base wait
	e.release(e.get("x"), time.Millisecond, time.Now())
	select {
	case ok := <-got:
		if !ok {
			t.Error("the queued attempt gave up although the endpoint turned out fast")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the queued attempt did not return")
	}
}

// TestEndpointSlotsHandFreedSlotsInTurn: a freed slot goes to the attempt
// that has waited longest, and one whose wait is canceled neither takes a
// slot nor loses one: the slots it leaves go on to the next in line.
func TestEndpointSlotsHandFreedSlotsInTurn(t *testing.T) {
	e := newEndpointSlots(1, time.Second)
	ep := e.get("x")
	ctx := context.Background()
	if !acquired(e.acquire(ctx, ep)) {
		t.Fatal("first acquire refused")
	}
	e.release(ep, time.Millisecond, time.Now()) // a latency: waiting attempts stay
	if !acquired(e.acquire(ctx, ep)) {
		t.Fatal("acquire under the cap refused")
	}
	canceled, cancel := context.WithCancel(ctx)
	got := make(chan string, 3)
	waiting := func() int {
		ep.mu.Lock()
		defer ep.mu.Unlock()
		return len(ep.waiting)
	}
	queue := func(name string, ctx context.Context) {
		before := waiting()
		go func() {
			if acquired(e.acquire(ctx, ep)) {
				got <- name
			} else {
				got <- name + " refused"
			}
		}()
		// In line before the next one comes.
		for deadline := time.Now().Add(5 * time.Second); waiting() == before; {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not queue", name)
			}
			time.Sleep(time.Millisecond)
		}
	}
	queue("first", ctx)
	queue("canceled", canceled)
	queue("third", ctx)
	cancel()
	if r := <-got; r != "canceled refused" {
		t.Fatalf("got %q, want the canceled wait to end first", r)
	}
	for _, want := range []string{"first", "third"} {
		e.release(ep, time.Millisecond, time.Now())
		select {
		case r := <-got:
			if r != want {
				t.Errorf("the freed slot went to %q, want %q", r, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the freed slot went to nobody, want %q", want)
		}
	}
	e.release(ep, time.Millisecond, time.Now())
	if n := ep.inUse.Load(); n != 0 {
		t.Errorf("%d slots taken after every attempt ended, want 0", n)
	}
}

// TestEndpointSlotsGiveUpOnAStuckEndpoint: once an endpoint at its cap has
// neither started nor finished an attempt for four base waits, every
// attempt in flight has been out that long, fast history or not.
func TestEndpointSlotsGiveUpOnAStuckEndpoint(t *testing.T) {
	tests := []struct {
		name             string
		wait             time.Duration // the base wait
		latency          time.Duration // learned before the cap fills; 0: none yet
		idle             time.Duration // how long the full endpoint sat still before the attempt
		minTook, maxTook time.Duration
		why              string
	}{
		// "At once" is well under the base wait, and a waiting attempt
		// gives up well before maxSlotWait (1s).
		{"fast until now, stuck for 900ms: put off at once", 200 * time.Millisecond, time.Millisecond, 900 * time.Millisecond,
			0, 150 * time.Millisecond, "a stuck endpoint is waited for"},
		{"no latency yet, stuck for 900ms: put off at once", 200 * time.Millisecond, 0, 900 * time.Millisecond,
			0, 150 * time.Millisecond, "a hanging endpoint is waited for"},
		{"fast until now, stuck from the start of the wait: gives up after 4 base waits", 100 * time.Millisecond, time.Millisecond, 0,
			350 * time.Millisecond, 900 * time.Millisecond, "a waiting attempt stays until maxSlotWait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEndpointSlots(2, tt.wait)
			ctx := context.Background()
			fill(t, e, "x", tt.latency)
			time.Sleep(tt.idle)
			start := time.Now()
			if acquired(e.acquire(ctx, e.get("x"))) {
				t.Fatal("acquire over the cap of a stuck endpoint succeeded")
			}
			if took := time.Since(start); took < tt.minTook || took > tt.maxTook {
				t.Errorf("refused after %s, want %s to %s (%s)", took, tt.minTook, tt.maxTook, tt.why)
			}
		})
	}
}

// TestEndpointSlotsForgetIdleEndpoints: endpoints with nothing in flight
// for idleEndpoint are dropped when a new one comes; one with an attempt
// out is kept, and an attempt holding a dropped endpoint still releases.
func TestEndpointSlotsForgetIdleEndpoints(t *testing.T) {
	for _, max := range []int{0, 2} {
		now := time.Unix(1000, 0)
		e := newEndpointSlots(max, 50*time.Millisecond)
		e.now = func() time.Time { return now }
		ctx := context.Background()
		busy, idle := e.get("http://busy"), e.get("http://idle")
		for _, ep := range []*endpoint{busy, idle} {
			start, ok := e.acquire(ctx, ep)
			if !ok {
				t.Fatal("acquire under the cap refused")
			}
			if !start.Equal(now) {
				t.Errorf("max %d: acquire started the attempt at %s, want %s, the slots' clock", max, start, now)
			}
		}
		e.release(idle, time.Millisecond, now)
		now = now.Add(idleEndpoint + time.Minute)
		e.get("http://new")
		// Uncapped endpoints do not count attempts out: any endpoint idle
		// that long goes, and its attempt keeps what it holds.
		want := 1
		if max > 0 {
			want = 2
		}
		if n := e.known(); n != want {
			t.Errorf("max %d: %d endpoints kept after the idle one's time, want %d", max, n, want)
		}
		if e.get("http://busy") != busy && max > 0 {
			t.Errorf("max %d: the endpoint with an attempt out was dropped", max)
		}
		e.release(busy, time.Millisecond, now)
		now = now.Add(idleEndpoint + time.Minute)
		e.get("http://another")
		if n := e.known(); n != 1 {
			t.Errorf("max %d: %d endpoints kept after all went idle, want 1", max, n)
		}
	}
}

// fill teaches url's endpoint a latency (none when 0), then takes every
// slot with attempts that do not finish.
func fill(t *testing.T, e *endpointSlots, url string, latency time.Duration) {
	t.Helper()
	ctx := context.Background()
	if latency > 0 {
		ep := e.get(url)
		e.acquire(ctx, ep)
		e.release(ep, latency, time.Now())
	}
	for range e.max {
		if !acquired(e.acquire(ctx, e.get(url))) {
			t.Fatal("acquire under the cap refused")
		}
	}
}

// BenchmarkEndpointMemory reports what the sender keeps per known
// endpoint, read from the live heap after a collection: its slots and
// refusal errors for every endpoint it has sent to, and a breaker for
// one that failed (the worst case, measured here for each).
func BenchmarkEndpointMemory(b *testing.B) {
	const n = 10000
	var perEndpoint float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		slots := newEndpointSlots(128, time.Second)
		bs := newBreakers(5, time.Second, 8*time.Second, 128, time.Second)
		now := time.Now()
		for i := range n {
			url := fmt.Sprintf("https://hooks-%d.example.com/services/T000/B%06d/XXXXXXXXXXXXXXXXXXXXXXXX", i%50, i)
			slots.get(url)
			bs.record(url, pass, false, now)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEndpoint = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		runtime.KeepAlive(slots)
		runtime.KeepAlive(bs)
	}
	b.ReportMetric(perEndpoint, "bytes/endpoint")
}

// TestRefusedPutsOffAStuckEndpoint: Refused tells, before a body is
// rendered, that an attempt would be put off because its endpoint has its
// cap in flight and is stuck or slow — and only then.
func TestRefusedPutsOffAStuckEndpoint(t *testing.T) {
	const wait = 20 * time.Millisecond
	tests := []struct {
		name    string
		latency time.Duration // learned before the cap fills; 0: none yet
		full    bool
		idle    time.Duration // how long nothing moved before asking
		refused bool
	}{
		{"under the cap", 0, false, 0, false},
		{"at the cap, no answer yet, just filled", 0, true, 0, false},
		{"at the cap, fast, moving", time.Millisecond, true, 0, false},
		{"at the cap, slow", time.Second, true, 0, true},
		{"at the cap, no answer yet, its first attempt out the base wait", 0, true, 2 * wait, true},
		{"at the cap, fast, quiet for two base waits", time.Millisecond, true, 2 * wait, false},
		{"at the cap, fast, nothing moved for four base waits", time.Millisecond, true, 5 * wait, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSender(SenderOptions{MaxPerEndpoint: 2, EndpointWait: wait})
			sub := compiled(t, "http://example.test/hook", nil)
			if tt.full {
				fill(t, s.inFlight, sub.URL, tt.latency)
			} else if tt.latency > 0 {
				ep := s.inFlight.get(sub.URL)
				s.inFlight.acquire(context.Background(), ep)
				s.inFlight.release(ep, tt.latency, time.Now())
			}
			time.Sleep(tt.idle)
			out, ok := s.Refused(sub)
			if ok != tt.refused {
				t.Fatalf("Refused() = %+v, %v; want refused %v", out, ok, tt.refused)
			}
			if ok && (out.Reason != ReasonSaturated || !out.NotAttempted || out.Class != Retryable) {
				t.Errorf("Refused() = %+v; want a put-off that spends no attempt", out)
			}
		})
	}
}

// acquired is whether acquire took a slot.
func acquired(_ time.Time, ok bool) bool { return ok }
