package delivery

import (
	"sync"
	"time"
)

// breakers keeps one circuit breaker per endpoint URL. After threshold
// consecutive failures an endpoint's breaker opens: attempts are refused
// at once for its cooldown, then one probe goes through. The probe's
// success closes the breaker; its failure opens it again for twice the
// cooldown, up to maxCooldown. The cooldowns follow the retry ladder (the
// first rung's delay, doubling up to the last rung's), so that the
// breaker saves requests to a dead endpoint without delaying any
// delivery past its rung.
//
// While the probe is out, attempts may wait for its answer instead of
// being refused: at most maxWaiters of them at once, and only until the
// probe has been out for probeWait. A probe out longer is one to a slow
// or hanging endpoint, and attempts waiting on it would hold workers that
// other endpoints' deliveries need.
//
// Only failing endpoints have a breaker; one whose last failure is
// idleEndpoint past its cooldown, with no probe out, is forgotten.
type breakers struct {
	threshold   int
	cooldown    time.Duration // the first cooldown
	maxCooldown time.Duration
	maxWaiters  int
	probeWait   time.Duration

	mu    sync.Mutex
	state map[string]*breaker
	swept time.Time
}

type breaker struct {
	failures  int
	cooldown  time.Duration // the cooldown of the latest opening
	openUntil time.Time
	failed    time.Time     // the last failure
	probe     chan struct{} // non-nil while a probe is out; closed when it ends
	probed    time.Time     // when the probe out went
	waiters   int
}

func newBreakers(threshold int, cooldown, maxCooldown time.Duration, maxWaiters int, probeWait time.Duration) *breakers {
	return &breakers{threshold: threshold, cooldown: cooldown, maxCooldown: max(cooldown, maxCooldown),
		maxWaiters: maxWaiters, probeWait: probeWait, state: map[string]*breaker{}}
}

// verdict is what a breaker says of an attempt.
type verdict uint8

const (
	pass   verdict = iota // make it
	probe                 // make it: it is the probe of an open breaker
	refuse                // do not make it
	wait                  // wait for the probe out, then ask again
)

// allow says whether an attempt to endpoint may go out now. With wait, it
// returns the channel closed when the probe out ends and the latest time
// to wait for it; a caller that stops waiting before it is closed calls
// unwait.
func (bs *breakers) allow(endpoint string, now time.Time) (verdict, <-chan struct{}, time.Time) {
	if bs.threshold <= 0 {
		return pass, nil, time.Time{}
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.state[endpoint]
	switch {
	case b == nil || b.failures < bs.threshold:
		return pass, nil, time.Time{}
	case b.cooling(now):
		return refuse, nil, time.Time{}
	case b.probe != nil:
		until := b.probed.Add(bs.probeWait)
		if b.waiters >= bs.maxWaiters || !now.Before(until) {
			return refuse, nil, time.Time{}
		}
		b.waiters++
		return wait, b.probe, until
	}
	b.probe, b.probed = make(chan struct{}), now
	return probe, nil, time.Time{}
}

// unwait gives up a wait for probeDone that allow asked for, before the
// probe ended.
func (bs *breakers) unwait(endpoint string, probeDone <-chan struct{}) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b := bs.state[endpoint]; b != nil && b.probe != nil && (<-chan struct{})(b.probe) == probeDone {
		b.waiters--
	}
}

// blocked reports, changing nothing, whether allow would refuse an
// attempt to endpoint now. An attempt that would wait for a probe, or be
// the probe, is not blocked.
func (bs *breakers) blocked(endpoint string, now time.Time) bool {
	if bs.threshold <= 0 {
		return false
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.state[endpoint]
	switch {
	case b == nil || b.failures < bs.threshold:
		return false
	case b.cooling(now):
		return true
	case b.probe != nil:
		return b.waiters >= bs.maxWaiters || !now.Before(b.probed.Add(bs.probeWait))
	}
	return false
}

// record notes the result of an attempt that allow let through (v is what
// it said), known at at. A cooldown counts from when the failure was
// known, as the retry of the failed delivery does: for an endpoint that
// hangs until the timeout, the time it started says nothing new.
func (bs *breakers) record(endpoint string, v verdict, ok bool, at time.Time) {
	if bs.threshold <= 0 {
		return
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.state[endpoint]
	if ok {
		if b != nil {
			b.endProbe()
			delete(bs.state, endpoint)
		}
		return
	}
	if b == nil {
		bs.sweep(at)
		b = &breaker{}
		bs.state[endpoint] = b
	}
	b.failures++
	b.failed = at
	// The retries refused meanwhile are due a rung's delay after they were
	// refused, in whole milliseconds (retry records keep no finer time):
	// so is the end of the cooldown, or they would find it a moment early.
	// After a failed probe it counts from when the probe went: attempts
	// refused while it was out (it may be slow) come due no earlier.
	switch {
	case v == probe:
		b.endProbe()
		b.cooldown = min(2*b.cooldown, bs.maxCooldown)
		b.openUntil = b.probed.Add(b.cooldown).Truncate(time.Millisecond)
	case b.failures == bs.threshold:
		b.cooldown = bs.cooldown
		b.openUntil = at.Add(b.cooldown).Truncate(time.Millisecond)
	}
	// Failures of attempts made before the breaker opened change nothing:
	// they say what the opening already said.
}

// cancelProbe gives back a probe that allow granted but that was not
// made, or that ended without an answer.
func (bs *breakers) cancelProbe(endpoint string) {
	if bs.threshold <= 0 {
		return
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b := bs.state[endpoint]; b != nil {
		b.endProbe()
	}
}

// cooling reports whether the breaker's cooldown is still on at now. It
// ends a tenth of the cooldown (at most 250ms) early: the retries refused
// together come due over a few milliseconds (written in parcels a linger
// apart, read by busy workers), and the first of them must find the
// probe allowed, not a cooldown that ends a moment later and sends them
// a rung further.
func (b *breaker) cooling(now time.Time) bool {
	return now.Before(b.openUntil.Add(-min(b.cooldown/10, 250*time.Millisecond)))
}

// endProbe lets the attempts waiting for the probe out ask again.
func (b *breaker) endProbe() {
	if b.probe != nil {
		close(b.probe)
		b.probe, b.waiters = nil, 0
	}
}

// sweep forgets, at most once a minute, the breakers of endpoints that
// have not failed for their cooldown and idleEndpoint. bs.mu is held.
func (bs *breakers) sweep(now time.Time) {
	if now.Sub(bs.swept) < time.Minute {
		return
	}
	bs.swept = now
	for endpoint, b := range bs.state {
		if b.probe == nil && now.Sub(b.failed) > b.cooldown+idleEndpoint {
			delete(bs.state, endpoint)
		}
	}
}

// known counts the endpoints with a breaker.
func (bs *breakers) known() int {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return len(bs.state)
}

// Breaker states, as BreakerState reports them.
const (
	BreakerClosed   = "closed"    // attempts go out
	BreakerOpen     = "open"      // attempts are refused until the cooldown ends
	BreakerHalfOpen = "half-open" // the cooldown is over: one probe goes, or is out
)

// stateOf says how endpoint's breaker stands at now.
func (bs *breakers) stateOf(endpoint string, now time.Time) string {
	if bs.threshold <= 0 {
		return BreakerClosed
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.state[endpoint]
	switch {
	case b == nil || b.failures < bs.threshold:
		return BreakerClosed
	case b.probe == nil && b.cooling(now):
		return BreakerOpen
	}
	return BreakerHalfOpen
}

// open counts the endpoints whose breaker is open.
func (bs *breakers) open(now time.Time) int {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	n := 0
	for _, b := range bs.state {
		if b.failures >= bs.threshold && (now.Before(b.openUntil) || b.probe != nil) {
			n++
		}
	}
	return n
}
