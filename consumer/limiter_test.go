package consumer

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestLimiterTakesAgainWhenSomeAreFree: a full limiter lets records be
// taken again only once 1/32 of its slots (at least one) are free.
func TestLimiterTakesAgainWhenSomeAreFree(t *testing.T) {
	tests := []struct {
		n, freed int
		resumes  bool
	}{
		{64, 1, false},
		{64, 2, true},
		{384, 11, false},
		{384, 12, true},
		{16, 1, true},
		{1, 1, true},
	}
	for _, tt := range tests {
		l := NewLimiter(tt.n, nil)
		ctx := context.Background()
		for range tt.n {
			if err := l.Acquire(ctx); err != nil {
				t.Fatal(err)
			}
		}
		got := make(chan error, 1)
		go func() { got <- l.Acquire(ctx) }()
		waitForWaiter(t, l)
		for range tt.freed {
			l.Release()
		}
		select {
		case err := <-got:
			if err != nil || !tt.resumes {
				t.Errorf("n %d, %d freed: Acquire returned %v, want it to wait", tt.n, tt.freed, err)
			}
			if want := tt.n - tt.freed + 1; l.InUse() != want {
				t.Errorf("n %d, %d freed: %d in use, want %d", tt.n, tt.freed, l.InUse(), want)
			}
		case <-time.After(100 * time.Millisecond):
			if tt.resumes {
				t.Errorf("n %d, %d freed: Acquire still waits", tt.n, tt.freed)
			}
			// Free enough for the wait to end.
			for range max(tt.n/32, 1) {
				l.Release()
			}
			if err := <-got; err != nil {
				t.Errorf("n %d: Acquire = %v after enough were freed", tt.n, err)
			}
		}
	}
}

// waitForWaiter returns once an Acquire waits on the full limiter l.
func waitForWaiter(t *testing.T, l *Limiter) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		l.mu.Lock()
		waiting := l.room != nil
		l.mu.Unlock()
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Acquire on the full limiter did not wait")
		}
	}
}

func TestLimiterWaitEndsWithItsContext(t *testing.T) {
	l := NewLimiter(1, nil)
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	t.Cleanup(cancel)
	if err := l.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire on a full limiter = %v, want the context's deadline", err)
	}
	l.Release()
	if err := l.Acquire(context.Background()); err != nil || l.InUse() != 1 {
		t.Errorf("Acquire after the release = %v with %d in use, want a slot", err, l.InUse())
	}
}
