package delivery

import (
	"context"
	"fmt"
	"slices"
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
//     out, as with one that hangs), an attempt waits until the first of
//     them has been out the base wait, and is put off at once after
//     that: records held by attempts waiting on an endpoint that never
//     answers are records no other endpoint gets;
//   - an endpoint at its cap that has neither started nor finished an
//     attempt for four base waits is stuck, whatever its latency was:
//     every attempt in flight has been out that long, so waiting attempts
//     give up and new ones are put off at once. (Four, not two: a burst
//     to a fast endpoint that dials a connection per attempt on a
//     starved CPU can go a hundred milliseconds without an answer.)
//
// So a healthy endpoint draining a backlog keeps its queue, while a slow
// or hanging one holds little more than its cap of workers, and the
// attempts it puts off wait on the retry ladder.
//
// It also keeps what else is made once per endpoint (its refusal errors).
// Endpoints unused for idleEndpoint are forgotten, so that URLs that come
// and go with subscriptions do not pile up over a long life.
type endpointSlots struct {
	max  int
	wait time.Duration
	now  func() time.Time

	mu        sync.RWMutex
	endpoints map[string]*endpoint
	swept     time.Time
}

// idleEndpoint is how long an endpoint with nothing in flight is kept.
const idleEndpoint = 10 * time.Minute

// maxSlotWait bounds how long an attempt waits for a slot of a fast
// endpoint, whose queue moves: every worker waiting on one is busy with
// deliveries that are about to be made.
const maxSlotWait = time.Second

type endpoint struct {
	latency atomic.Int64 // moving average of attempt latency, ns; 0 before the first
	moved   atomic.Int64 // unix ns when an attempt last started or finished
	first   atomic.Int64 // unix ns when its first attempt started; 0 before
	inUse   atomic.Int32 // slots taken; changed under mu
	sent    sendRate     // attempts per second
	slow    atomic.Pointer[slowdown]

	// Attempts waiting for a slot, first come first: a slot freed is
	// handed to the first of them. A timer checks on them when the first
	// is due to give up, in place of a timer of each one's own.
	mu      sync.Mutex
	waiting []*slotWaiter
	check   *time.Timer
	checkAt int64 // unix ns the check is set for; 0 when not set

	// Refusal errors are made once: while an endpoint is down, every
	// delivery to it is refused, and redacting its URL for each would
	// cost more than the refusal.
	open, saturated error
}

// slotWaiter is an attempt waiting for a slot of an endpoint.
type slotWaiter struct {
	ready chan bool // true: a slot is handed over; false: put off
	start int64     // unix ns it began waiting
	due   int64     // unix ns it is next checked on
}

var slotWaiters = sync.Pool{New: func() any { return &slotWaiter{ready: make(chan bool, 1)} }}

func newEndpointSlots(max int, wait time.Duration) *endpointSlots {
	return &endpointSlots{max: max, wait: wait, now: time.Now, endpoints: map[string]*endpoint{}}
}

// get returns url's endpoint. Hold on to it from acquire to release: an
// endpoint forgotten meanwhile is made anew for later attempts.
func (e *endpointSlots) get(url string) *endpoint {
	// Every attempt, and every refusal, looks its endpoint up: readers
	// share the lock.
	e.mu.RLock()
	ep, ok := e.endpoints[url]
	e.mu.RUnlock()
	if ok {
		return ep
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ep, ok := e.endpoints[url]; ok {
		return ep
	}
	now := e.now()
	if now.Sub(e.swept) > time.Minute {
		e.swept = now
		for u, ep := range e.endpoints {
			if ep.inUse.Load() == 0 && now.UnixNano()-ep.moved.Load() > int64(idleEndpoint) {
				delete(e.endpoints, u)
			}
		}
	}
	u := RedactURL(url)
	ep = &endpoint{
		open:      fmt.Errorf("circuit breaker open for %s after repeated failures", u),
		saturated: fmt.Errorf("%s already has its cap of attempts in flight", u),
	}
	ep.moved.Store(now.UnixNano())
	e.endpoints[url] = ep
	return ep
}

// known counts the endpoints kept.
func (e *endpointSlots) known() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.endpoints)
}

// acquire takes a slot of ep and returns when it did, the attempt's
// start, or reports false when the attempt should not be made now.
func (e *endpointSlots) acquire(ctx context.Context, ep *endpoint) (time.Time, bool) {
	if e.max == 0 {
		return e.started(ep), true
	}
	ep.mu.Lock()
	if int(ep.inUse.Load()) < e.max {
		ep.inUse.Add(1)
		ep.mu.Unlock()
		return e.started(ep), true
	}
	now := e.now()
	if e.stuckOrSlow(ep, now) {
		ep.mu.Unlock()
		return time.Time{}, false
	}
	w := slotWaiters.Get().(*slotWaiter)
	w.start = now.UnixNano()
	w.due = w.start + int64(e.wait)
	if first := ep.first.Load(); first != 0 && ep.latency.Load() == 0 {
		// Until the endpoint's first answer: only until its first
		// attempt has been out the base wait.
		w.due = first + int64(e.wait)
	}
	ep.waiting = append(ep.waiting, w)
	e.checkBy(ep, w.due, w.start)
	ep.mu.Unlock()

	defer slotWaiters.Put(w)
	select {
	case ok := <-w.ready:
		if ok {
			return e.started(ep), true
		}
		return time.Time{}, false
	case <-ctx.Done():
	}
	ep.mu.Lock()
	if i := slices.Index(ep.waiting, w); i >= 0 {
		ep.waiting = slices.Delete(ep.waiting, i, i+1)
		ep.mu.Unlock()
		return time.Time{}, false
	}
	ep.mu.Unlock()
	// Answered meanwhile: a slot handed over goes to the next.
	if <-w.ready {
		e.free(ep)
	}
	return time.Time{}, false
}

// checkBy sets ep's check for at, unless it is set sooner; now is the
// time on the endpoints' clock. ep.mu is held.
func (e *endpointSlots) checkBy(ep *endpoint, at, now int64) {
	if ep.checkAt != 0 && ep.checkAt <= at {
		return
	}
	ep.checkAt = at
	d := time.Duration(at - now)
	if ep.check == nil {
		ep.check = time.AfterFunc(d, func() { e.checkWaiting(ep) })
		return
	}
	ep.check.Reset(d)
}

// checkWaiting puts off the waiting attempts that are due and should wait
// no more; the others are checked again a base wait later.
func (e *endpointSlots) checkWaiting(ep *endpoint) {
	now := e.now()
	at := now.UnixNano()
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.checkAt = 0
	// An endpoint whose first answers arrived meanwhile, fast, is waited
	// for like any fast one.
	giveUp := e.stuckOrSlow(ep, now) || ep.latency.Load() == 0
	next := int64(0)
	kept := ep.waiting[:0]
	for _, w := range ep.waiting {
		if w.due <= at {
			if giveUp || at-w.start >= int64(maxSlotWait) {
				w.ready <- false
				continue
			}
			w.due = at + int64(e.wait)
		}
		kept = append(kept, w)
		if next == 0 || w.due < next {
			next = w.due
		}
	}
	clear(ep.waiting[len(kept):])
	ep.waiting = kept
	if next != 0 {
		e.checkBy(ep, next, at)
	}
}

// free hands a slot of ep to the first attempt waiting, or frees it.
func (e *endpointSlots) free(ep *endpoint) {
	ep.mu.Lock()
	if len(ep.waiting) == 0 {
		ep.inUse.Add(-1)
		ep.mu.Unlock()
		return
	}
	w := ep.waiting[0]
	ep.waiting[0] = nil
	ep.waiting = ep.waiting[1:]
	ep.mu.Unlock()
	w.ready <- true
}

// started notes an attempt to ep taking its slot now, which it returns.
func (e *endpointSlots) started(ep *endpoint) time.Time {
	now := e.now()
	at := now.UnixNano()
	ep.moved.Store(at)
	if ep.first.Load() == 0 {
		ep.first.CompareAndSwap(0, at)
	}
	return now
}

// stuckAtCap reports whether an attempt to ep would be put off at once:
// ep has its cap of attempts in flight and frees slots too slowly to
// wait for.
func (e *endpointSlots) stuckAtCap(ep *endpoint, now time.Time) bool {
	return e.max > 0 && int(ep.inUse.Load()) >= e.max && e.stuckOrSlow(ep, now)
}

// stuckOrSlow reports whether an endpoint at its cap frees slots too
// slowly to wait for: it is slow, or nothing moved for four base waits,
// or it has yet to answer an attempt that has been out the base wait.
func (e *endpointSlots) stuckOrSlow(ep *endpoint, now time.Time) bool {
	latency, at := time.Duration(ep.latency.Load()), now.UnixNano()
	if latency == 0 {
		first := ep.first.Load()
		return first != 0 && at-first >= int64(e.wait)
	}
	return latency > 2*e.wait || at-ep.moved.Load() > int64(4*e.wait)
}

// release frees a slot of ep taken by an attempt that ended at end after
// latency.
func (e *endpointSlots) release(ep *endpoint, latency time.Duration, end time.Time) {
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
	ep.moved.Store(end.UnixNano())
	if e.max > 0 {
		e.free(ep)
	}
}
