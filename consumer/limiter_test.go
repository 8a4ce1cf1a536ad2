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
		time.Sleep(10 * time.Millisecond) // waiting
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
