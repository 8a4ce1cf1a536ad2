package workers

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPoolRunsTasksConcurrently: a task never waits for a busy one.
func TestPoolRunsTasksConcurrently(t *testing.T) {
	p := New(time.Second)
	a, b := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	// Each task waits for the other: they finish only if both run at once.
	p.Go(func() { defer wg.Done(); close(a); <-b })
	p.Go(func() { defer wg.Done(); close(b); <-a })
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the second task waited for the first")
	}
}

// goid is the running goroutine's number, from its stack header.
func goid() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := strings.Fields(string(buf))
	return f[1] // "goroutine 42 [running]:"
}

// TestPoolReusesGoroutines: tasks one after another run on one goroutine,
// also when the pool's idle time is a fraction of how long they last.
func TestPoolReusesGoroutines(t *testing.T) {
	for _, idle := range []time.Duration{time.Minute, 100 * time.Millisecond} {
		t.Run(idle.String(), func(t *testing.T) { reusesGoroutines(t, New(idle)) })
	}
}

func reusesGoroutines(t *testing.T, p *Pool) {
	t.Helper()
	ids := map[string]int{}
	for range 40 {
		got := make(chan string)
		p.Go(func() { got <- goid() })
		ids[<-got]++
		// Let the worker get back to waiting for the next task.
		time.Sleep(5 * time.Millisecond)
	}
	if len(ids) != 1 {
		t.Errorf("40 sequential tasks ran on %d goroutines, want 1: %v", len(ids), ids)
	}
}

// TestPoolRetiresIdleGoroutines: a worker exits after its idle time.
func TestPoolRetiresIdleGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	p := New(50 * time.Millisecond)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		p.Go(func() { defer wg.Done(); time.Sleep(10 * time.Millisecond) })
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the idle time, want %d", n, before)
	}
}
