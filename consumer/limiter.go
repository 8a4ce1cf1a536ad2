package consumer

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// Limiter bounds the records in flight in a process. While it is full the
// groups stop taking records, and so stop polling.
type Limiter struct {
	slots chan struct{}
	gauge prometheus.Gauge
}

// NewLimiter returns a limiter of n slots that reports its use on gauge
// (which may be nil).
func NewLimiter(n int, gauge prometheus.Gauge) *Limiter {
	return &Limiter{slots: make(chan struct{}, n), gauge: gauge}
}

// Acquire takes a slot, waiting until one is free or ctx ends.
func (l *Limiter) Acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case l.slots <- struct{}{}:
		if l.gauge != nil {
			l.gauge.Inc()
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release frees a slot taken by Acquire.
func (l *Limiter) Release() {
	<-l.slots
	if l.gauge != nil {
		l.gauge.Dec()
	}
}

// InUse returns the slots taken.
func (l *Limiter) InUse() int { return len(l.slots) }
