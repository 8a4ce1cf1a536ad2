package consumer

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Limiter bounds the records in flight in a process. While it is full the
// groups stop taking records, and so stop polling.
//
// Once full, it lets the groups take records again only when 1/32 of its
// slots are free (12 of 384), not at every record that finishes: a poller
// woken for each finished record costs a wake-up of its own per record.
// (Waiting for an eighth held 2-3 MB more in the drain.)
type Limiter struct {
	n, resume int // slots; in use at most when a full limiter takes again
	gauge     prometheus.Gauge

	mu    sync.Mutex
	inUse int
	room  chan struct{} // closed when a full limiter takes again; nil when none waits
}

// NewLimiter returns a limiter of n slots that reports its use on gauge
// (which may be nil).
func NewLimiter(n int, gauge prometheus.Gauge) *Limiter {
	return &Limiter{n: n, resume: n - max(n/32, 1), gauge: gauge}
}

// Acquire takes a slot, waiting until one is free or ctx ends.
func (l *Limiter) Acquire(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.mu.Lock()
		if l.inUse < l.n && l.room == nil {
			l.inUse++
			l.mu.Unlock()
			if l.gauge != nil {
				l.gauge.Inc()
			}
			return nil
		}
		if l.room == nil {
			l.room = make(chan struct{})
		}
		room := l.room
		l.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Release frees a slot taken by Acquire.
func (l *Limiter) Release() {
	l.mu.Lock()
	l.inUse--
	if l.room != nil && l.inUse <= l.resume {
		close(l.room)
		l.room = nil
	}
	l.mu.Unlock()
	if l.gauge != nil {
		l.gauge.Dec()
	}
}

// InUse returns the slots taken.
func (l *Limiter) InUse() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inUse
}
