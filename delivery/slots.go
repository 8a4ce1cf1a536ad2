package delivery

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// endpointSlots caps the attempts in flight per endpoint URL. An attempt
// that finds its endpoint at the cap waits for a slot only when the
// endpoint frees slots fast: when its recent latency is under twice the
// base wait, the attempt waits up to maxSlotWait; when it is slower, the
// attempt is put off at once. Until an endpoint has a latency (its first
// attempts are all still out, as with one that hangs), an attempt waits
// the base wait. So a healthy endpoint draining a backlog keeps its queue,
// while a slow or hanging one holds little more than its cap of workers,
// and the attempts it puts off wait on the retry ladder.
// maxSlotWait bounds how long an attempt waits for a slot of a fast
// endpoint, whose queue moves: every worker waiting on one is busy with
// deliveries that are about to be made.
const maxSlotWait = time.Second

type endpointSlots struct {
	max  int
	wait time.Duration

	mu        sync.Mutex
	endpoints map[string]*endpoint
}

type endpoint struct {
	slots   chan struct{}
	latency atomic.Int64 // moving average of attempt latency, ns; 0 before the first
}

func newEndpointSlots(max int, wait time.Duration) *endpointSlots {
	return &endpointSlots{max: max, wait: wait, endpoints: map[string]*endpoint{}}
}

func (e *endpointSlots) get(url string) *endpoint {
	e.mu.Lock()
	defer e.mu.Unlock()
	ep, ok := e.endpoints[url]
	if !ok {
		ep = &endpoint{slots: make(chan struct{}, e.max)}
		e.endpoints[url] = ep
	}
	return ep
}

// acquire takes a slot of url, reporting false when the attempt should
// not be made now.
func (e *endpointSlots) acquire(ctx context.Context, url string) bool {
	if e.max <= 0 {
		return true
	}
	ep := e.get(url)
	select {
	case ep.slots <- struct{}{}:
		return true
	default:
	}
	budget := e.wait
	switch lat := time.Duration(ep.latency.Load()); {
	case lat > 2*e.wait:
		return false // a slow endpoint: its slots free too slowly to wait for
	case lat > 0:
		budget = maxSlotWait // a fast one frees a slot every few milliseconds
	}
	t := time.NewTimer(budget)
	defer t.Stop()
	for {
		select {
		case ep.slots <- struct{}{}:
			return true
		case <-t.C:
			// An endpoint whose first answers arrived meanwhile, fast, is
			// waited for like any fast one.
			lat := time.Duration(ep.latency.Load())
			if budget == maxSlotWait || lat == 0 || lat > 2*e.wait {
				return false
			}
			t.Reset(maxSlotWait - budget)
			budget = maxSlotWait
		case <-ctx.Done():
			return false
		}
	}
}

// release frees a slot of url taken by an attempt that took latency.
func (e *endpointSlots) release(url string, latency time.Duration) {
	if e.max <= 0 {
		return
	}
	ep := e.get(url)
	// An exponentially weighted moving average, weight 1/8: a few slow
	// answers move it, one does not.
	for {
		old := ep.latency.Load()
		next := int64(latency)
		if old > 0 {
			next = old + (int64(latency)-old)/8
		}
		if ep.latency.CompareAndSwap(old, max(next, 1)) {
			break
		}
	}
	<-ep.slots
}
