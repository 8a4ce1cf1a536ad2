package delivery

import (
	"sync"
	"time"
)

// breakers keeps one circuit breaker per endpoint URL. After threshold
// consecutive failures an endpoint's breaker opens: attempts fail at once
// for cooldown, then one probe goes through; its success closes the
// breaker and its failure opens it again. Only failing endpoints have a
// breaker; one whose last failure is idleEndpoint past its cooldown, with
// no probe out, is forgotten.
type breakers struct {
	threshold int
	cooldown  time.Duration

	mu    sync.Mutex
	state map[string]*breaker
	swept time.Time
}

type breaker struct {
	failures  int
	openUntil time.Time
	failed    time.Time // the last failure
	probing   bool
}

func newBreakers(threshold int, cooldown time.Duration) *breakers {
	return &breakers{threshold: threshold, cooldown: cooldown, state: map[string]*breaker{}}
}

// allow reports whether an attempt to endpoint may go out now and, when
// not, how long until the breaker lets a probe through.
func (bs *breakers) allow(endpoint string, now time.Time) (bool, time.Duration) {
	if bs.threshold <= 0 {
		return true, 0
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.state[endpoint]
	if b == nil || b.failures < bs.threshold {
		return true, 0
	}
	if now.Before(b.openUntil) {
		return false, b.openUntil.Sub(now)
	}
	if b.probing {
		return false, bs.cooldown
	}
	b.probing = true
	return true, 0
}

// blocked reports, changing nothing, whether allow would refuse an
// attempt to endpoint now, and the wait it would give.
func (bs *breakers) blocked(endpoint string, now time.Time) (bool, time.Duration) {
	if bs.threshold <= 0 {
		return false, 0
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.state[endpoint]
	switch {
	case b == nil || b.failures < bs.threshold:
		return false, 0
	case now.Before(b.openUntil):
		return true, b.openUntil.Sub(now)
	case b.probing:
		return true, bs.cooldown
	}
	return false, 0
}

// record notes the result of an attempt that allow let through.
func (bs *breakers) record(endpoint string, ok bool, now time.Time) {
	if bs.threshold <= 0 {
		return
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.state[endpoint]
	if ok {
		if b != nil {
			delete(bs.state, endpoint)
		}
		return
	}
	if b == nil {
		bs.sweep(now)
		b = &breaker{}
		bs.state[endpoint] = b
	}
	b.failures++
	b.failed = now
	b.probing = false
	if b.failures >= bs.threshold {
		b.openUntil = now.Add(bs.cooldown)
	}
}

// sweep forgets, at most once a minute, the breakers of endpoints that
// have not failed for cooldown and idleEndpoint. bs.mu is held.
func (bs *breakers) sweep(now time.Time) {
	if now.Sub(bs.swept) < time.Minute {
		return
	}
	bs.swept = now
	for endpoint, b := range bs.state {
		if !b.probing && now.Sub(b.failed) > bs.cooldown+idleEndpoint {
			delete(bs.state, endpoint)
		}
	}
}

// cancelProbe gives back a probe that allow granted but that was not
// made.
func (bs *breakers) cancelProbe(endpoint string) {
	if bs.threshold <= 0 {
		return
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b := bs.state[endpoint]; b != nil {
		b.probing = false
	}
}

// known counts the endpoints with a breaker.
func (bs *breakers) known() int {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return len(bs.state)
}

// open counts the endpoints whose breaker is open.
func (bs *breakers) open(now time.Time) int {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	n := 0
	for _, b := range bs.state {
		if b.failures >= bs.threshold && (now.Before(b.openUntil) || b.probing) {
			n++
		}
	}
	return n
}
