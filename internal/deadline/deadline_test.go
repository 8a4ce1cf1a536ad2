package deadline

import (
	"context"
	"errors"
	"testing"
	"time"
)

func newGroup(t testing.TB) *Group {
	t.Helper()
	g, cancel := NewGroup(context.Background())
	t.Cleanup(cancel)
	return g
}

type key struct{}

func TestStart(t *testing.T) {
	g := newGroup(t)
	own, cancelOwn := context.WithCancel(g)
	t.Cleanup(cancelOwn)
	tests := []struct {
		name   string
		ctx    context.Context
		d      time.Duration
		shared bool
	}{
		{"the group", g, time.Minute, true},
		{"a value over the group", context.WithValue(g, key{}, 1), time.Minute, true},
		{"a cancel of its own over the group", own, time.Minute, false},
		{"no group", context.Background(), time.Minute, false},
		{"a timeout too short to share", g, Precision - 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			a, b := Start(tt.ctx, tt.d), Start(tt.ctx, tt.d)
			t.Cleanup(a.Stop)
			t.Cleanup(b.Stop)
			if shared := a.Context() == b.Context(); shared != tt.shared {
				t.Fatalf("two timeouts started at once share a context: %v, want %v", shared, tt.shared)
			}
			for _, tm := range []Timeout{a, b} {
				dl, ok := tm.Context().Deadline()
				if !ok {
					t.Fatal("no deadline")
				}
				// Never later than its own timeout, never earlier than
				// Precision allows.
				if early, late := start.Add(tt.d-tt.d/Precision), time.Now().Add(tt.d); dl.Before(early) || dl.After(late) {
					t.Errorf("deadline %v after the start, want within [%v, %v]", dl.Sub(start), early.Sub(start), late.Sub(start))
				}
			}
		})
	}
}

func TestStartSharesByTimeout(t *testing.T) {
	g := newGroup(t)
	a, b := Start(g, time.Minute), Start(g, time.Hour)
	t.Cleanup(a.Stop)
	t.Cleanup(b.Stop)
	if a.Context() == b.Context() {
		t.Fatal("timeouts of a minute and an hour share a context")
	}
}

func TestSharedContextLivesUntilItsLastUserStops(t *testing.T) {
	g := newGroup(t)
	// A timeout of 10s opens a new shared context every 10ms.
	const d = 10 * time.Second
	a := Start(g, d)
	b := Start(g, d)
	if a.Context() != b.Context() {
		t.Fatal("not shared")
	}
	a.Stop()
	if err := b.Context().Err(); err != nil {
		t.Fatalf("a stopped timeout ended the one sharing its context: %v", err)
	}
	waitUntil(t, func() bool { c := Start(g, d); defer c.Stop(); return c.Context() != b.Context() })
	if err := b.Context().Err(); err != nil {
		t.Fatalf("a closed context was canceled while in use: %v", err)
	}
	b.Stop()
	if err := b.Context().Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("a closed context whose last user stopped: err %v, want canceled", err)
	}
}

func TestStopCancelsTheLastUsersContext(t *testing.T) {
	g := newGroup(t)
	a := Start(g, 10*time.Second)
	a.Stop()
	// Still open: the next operation joins it while it lasts.
	if err := a.Context().Err(); err != nil {
		t.Fatalf("an open context was canceled: %v", err)
	}
	waitUntil(t, func() bool { c := Start(g, 10*time.Second); defer c.Stop(); return c.Context() != a.Context() })
	if err := a.Context().Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("a context replaced with none using it: err %v, want canceled", err)
	}
}

func TestTimesOut(t *testing.T) {
	g := newGroup(t)
	tm := Start(g, 20*time.Millisecond)
	t.Cleanup(tm.Stop)
	select {
	case <-tm.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("did not time out")
	}
	if err := tm.Context().Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
}

func TestGroupCancelEndsOperations(t *testing.T) {
	g, cancel := NewGroup(context.Background())
	tm := Start(g, time.Hour)
	t.Cleanup(tm.Stop)
	cancel()
	if err := tm.Context().Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v after the group's cancel, want canceled", err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkStart compares an operation's timeout under a Group with one
// of its own, as net/http's Transport uses it: a child context of its
// own, selected on, then canceled.
func BenchmarkStart(b *testing.B) {
	run := func(b *testing.B, ctx context.Context) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				tm := Start(ctx, 10*time.Second)
				child, cancel := context.WithCancel(tm.Context())
				select {
				case <-child.Done():
				default:
				}
				cancel()
				tm.Stop()
			}
		})
	}
	parent, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	b.Run("own", func(b *testing.B) { run(b, parent) })
	b.Run("group", func(b *testing.B) { run(b, newGroup(b)) })
}
