package delivery

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// An endpoint that answers 429 is sent less: each worker that hears it
// paces its attempts to that endpoint at half the rate it was sending at,
// halves it again at every further 429, and lifts the pace once the
// endpoint has gone slowdownFor without one. (A Retry-After also pauses
// the endpoint on every worker: Limiter.Pause.)

// defaultSlowdownFor is how long a 429 lowers an endpoint's pace.
const defaultSlowdownFor = time.Minute

// minSlowdownPace is the lowest pace a 429 brings an endpoint to.
const minSlowdownPace = 0.5 // attempts per second

var errSlowedDown = errors.New("the endpoint answered 429: sending to it at a lower pace")

// sendRate counts attempts per whole second, to know the rate an
// endpoint was sent when it answered 429.
type sendRate struct {
	second      atomic.Int64 // unix second of cur
	cur, before atomic.Int64 // attempts in that second, and in the one before
}

func (r *sendRate) add(now time.Time) {
	s := now.Unix()
	if old := r.second.Load(); old != s && r.second.CompareAndSwap(old, s) {
		last := r.cur.Swap(0)
		if s != old+1 {
			last = 0
		}
		r.before.Store(last)
	}
	r.cur.Add(1)
}

// perSecond is the attempts of the last whole second, or of this one when
// more.
func (r *sendRate) perSecond(now time.Time) float64 {
	switch r.second.Load() {
	case now.Unix():
		return float64(max(r.before.Load(), r.cur.Load()))
	case now.Unix() - 1:
		return float64(r.cur.Load())
	}
	return 0
}

// slowdown is a lowered pace and when it ends.
type slowdown struct {
	pace  *rate.Limiter
	until time.Time
}

// slowDown lowers ep's pace after a 429 at now.
func (ep *endpoint) slowDown(now time.Time, slowdownFor time.Duration) {
	sent := ep.sent.perSecond(now)
	if sd := ep.slow.Load(); sd != nil && now.Before(sd.until) {
		sent = min(sent, float64(sd.pace.Limit()))
	}
	pace := max(minSlowdownPace, sent/2)
	ep.slow.Store(&slowdown{pace: rate.NewLimiter(rate.Limit(pace), 1), until: now.Add(slowdownFor)})
}

// await waits for ep's lowered pace, if any, at most maxWait; it reports
// whether the attempt may go now.
func (ep *endpoint) await(ctx context.Context, clock func() time.Time, maxWait time.Duration) bool {
	sd := ep.slow.Load()
	if sd == nil {
		return true
	}
	now := clock()
	if !now.Before(sd.until) {
		ep.slow.CompareAndSwap(sd, nil)
		return true
	}
	r := sd.pace.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d > maxWait {
		r.CancelAt(now)
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		r.CancelAt(now)
		return false
	}
}
