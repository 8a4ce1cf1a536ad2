// Package deadline gives the many short operations started under one
// long-lived context timeouts that share timers: at tens of thousands of
// HTTP attempts a second, a context and a timer of each attempt's own
// are a good part of what the attempt costs.
package deadline

import (
	"context"
	"sync"
	"time"
)

// Precision divides a timeout into the window within which operations
// under a Group that start with that timeout share one context, which
// expires when the first of them is due: an operation may time out up to
// 1/Precision of its timeout early, never late.
const Precision = 1000

// Group is a context under which operations share their timeouts.
type Group struct {
	context.Context

	mu   sync.Mutex
	open map[time.Duration]*shared // the context that operations of a timeout starting now join
}

// shared is one context and timer shared by the operations that joined
// it; it is canceled once it is no longer open and the last has stopped.
type shared struct {
	ctx    context.Context
	cancel context.CancelFunc
	until  time.Time // operations starting before join
	users  int
	closed bool // no longer open to new operations
}

type groupKey struct{}

// NewGroup returns a Group under parent, and the function that cancels
// it and every operation under it.
func NewGroup(parent context.Context) (*Group, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	g := &Group{open: make(map[time.Duration]*shared)}
	g.Context = context.WithValue(ctx, groupKey{}, g)
	return g, cancel
}

// Timeout is an operation's timeout, whose context the operation runs
// under; Stop releases it.
type Timeout struct {
	ctx    context.Context
	g      *Group
	s      *shared
	cancel context.CancelFunc
}

// Start starts the timeout d of an operation that starts now under ctx.
// When ctx is a Group, or carries one's values and nothing that cancels
// it sooner, the operation's context is shared with others of the group,
// and carries the group's values, not ctx's. Otherwise, and for a
// timeout too short to divide (under Precision nanoseconds), it is
// context.WithTimeout(ctx, d).
func Start(ctx context.Context, d time.Duration) Timeout {
	g, ok := ctx.Value(groupKey{}).(*Group)
	if !ok || ctx.Done() != g.Done() || d < Precision {
		c, cancel := context.WithTimeout(ctx, d)
		return Timeout{ctx: c, cancel: cancel}
	}
	now := time.Now()
	g.mu.Lock()
	s := g.open[d]
	if s == nil || !now.Before(s.until) {
		if s != nil {
			g.closeLocked(d, s)
		}
		s = &shared{until: now.Add(d / Precision)}
		s.ctx, s.cancel = context.WithDeadline(g.Context, now.Add(d))
		g.open[d] = s
	}
	s.users++
	g.mu.Unlock()
	return Timeout{ctx: s.ctx, g: g, s: s}
}

// closeLocked takes s, the open context of timeout d, out of use for new
// operations; it is canceled now if none is using it.
func (g *Group) closeLocked(d time.Duration, s *shared) {
	delete(g.open, d)
	s.closed = true
	if s.users == 0 {
		s.cancel()
	}
}

// Context is the context the operation runs under.
func (t Timeout) Context() context.Context { return t.ctx }

// Stop releases the timeout; the operation's context may stay live for
// the others sharing it.
func (t Timeout) Stop() {
	if t.s == nil {
		t.cancel()
		return
	}
	t.g.mu.Lock()
	t.s.users--
	last := t.s.users == 0 && t.s.closed
	t.g.mu.Unlock()
	if last {
		t.s.cancel()
	}
}
