package consumer

import "time"

// workers runs tasks on goroutines that stay alive between tasks for a
// while. A goroutine per record would grow a fresh stack for every
// delivery (an HTTP round trip runs deep), and copying stacks as they
// grow cost about a tenth of the CPU of a saturated worker.
type workers struct {
	tasks chan func()
	idle  time.Duration
}

func newWorkers(idle time.Duration) *workers {
	return &workers{tasks: make(chan func()), idle: idle}
}

// run hands task to an idle worker, or starts one.
func (w *workers) run(task func()) {
	select {
	case w.tasks <- task:
	default:
		go w.loop(task)
	}
}

func (w *workers) loop(task func()) {
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
