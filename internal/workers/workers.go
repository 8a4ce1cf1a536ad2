// Package workers runs tasks on goroutines that stay alive between tasks
// for a while. A goroutine per record or per delivery would grow a fresh
// stack each time (an HTTP round trip runs deep), and copying stacks as
// they grow cost about a tenth of the CPU of a saturated hookstream.
package workers

import "time"

// Pool starts a goroutine for a task only when none is idle; an idle one
// exits after the pool's idle time. There is no cap: callers bound the
// tasks they start.
type Pool struct {
	tasks chan func()
	idle  time.Duration
}

// New returns a pool whose goroutines wait idle for up to idle.
func New(idle time.Duration) *Pool {
	return &Pool{tasks: make(chan func()), idle: idle}
}

// Go runs task on an idle goroutine of the pool, or on a new one.
func (w *Pool) Go(task func()) {
	select {
	case w.tasks <- task:
	default:
		go w.loop(task)
	}
}

func (w *Pool) loop(task func()) {
	task()
	t := time.NewTimer(w.idle)
	defer t.Stop()
	for {
		select {
		case task := <-w.tasks:
			task()
			t.Reset(w.idle)
		case <-t.C:
			return
		}
	}
}
