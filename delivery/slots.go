package delivery

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// endpointSlots caps the attempts in flight per endpoint URL. An attempt
// that finds its endpoint at the cap waits for a slot only while the
// endpoint frees slots fast:
//
//   - an endpoint whose recent latency is under twice the base wait is
//     waited for, up to maxSlotWait;
//   - a slower one is put off at once;
//   - until an endpoint has a latency (its first attempts are all still
//     out, as with one that hangs), an attempt waits the base wait;
//   - an endpoint at its cap that has neither started nor finished an
//     attempt for twice the base wait is stuck, whatever its latency was:
//     every attempt in flight has been out that long, so waiting attempts
//     give up and new ones are put off at once.
//
// So a healthy endpoint draining a backlog keeps its queue, while a slow
// or hanging one holds little more than its cap of workers, and the
// attempts it puts off wait on the retry ladder.
type endpointSlots struct {
	max  int
	wait time.Duration

	mu        sync.Mutex
	endpoints map[string]*endpoint
}

// maxSlotWait bounds how long an attempt waits for a slot of a fast
// endpoint, whose queue moves: every worker waiting on one is busy with
// deliveries that are about to be made.
const maxSlotWait = time.Second

type endpoint struct {
	slots   chan struct{}
	latency atomic.Int64 // moving average of attempt latency, ns; 0 before the first
	moved   atomic.Int64 // unix ns when an attempt last started or finished
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
		ep.moved.Store(time.Now().UnixNano())
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
		ep.moved.Store(time.Now().UnixNano())
		return true
	default:
	}
	start := time.Now()
	if e.stuckOrSlow(ep, start) {
		return false
	}
	t := time.NewTimer(e.wait)
	defer t.Stop()
	for {
		select {
		case ep.slots <- struct{}{}:
			ep.moved.Store(time.Now().UnixNano())
			return true
		case now := <-t.C:
			// An endpoint whose first answers arrived meanwhile, fast, is
			// waited for like any fast one.
			if e.stuckOrSlow(ep, now) || ep.latency.Load() == 0 || now.Sub(start) >= maxSlotWait {
				return false
			}
			t.Reset(e.wait)
		case <-ctx.Done():
			return false
		}
	}
}

// stuckOrSlow reports whether an endpoint at its cap frees slots too
// slowly to wait for.
func (e *endpointSlots) stuckOrSlow(ep *endpoint, now time.Time) bool {
	return time.Duration(ep.latency.Load()) > 2*e.wait || now.UnixNano()-ep.moved.Load() > int64(2*e.wait)
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
	ep.moved.Store(time.Now().UnixNano())
	<-ep.slots
}
