// Package workers runs tasks on goroutines that stay alive between tasks
// for a while. A goroutine per record or per delivery would grow a fresh
// stack each time (an HTTP round trip runs deep), and copying stacks as
// they grow cost about a tenth of the CPU of a saturated hookstream.
package workers

import (
	"sync"
	"time"
)

// Pool starts a goroutine for a task only when none is idle; an idle one
// exits after between one and two of the pool's idle times. There is no
// cap: callers bound the tasks they start.
//
// Idle goroutines wait on channels of their own, most recently idle on
// top, rather than all on one: a channel shared by hundreds of idle
// goroutines, each also waiting on a timer of its own, made every task
// contend for the channel's lock and reset a timer.
type Pool struct {
	idle time.Duration

	mu       sync.Mutex
	ready    []*worker // idle, the longest idle first
	low      int       // fewest ready since the last sweep
	sweeping bool      // a sweep is due
}

type worker struct {
	tasks chan func() // closed to retire the worker
}

// New returns a pool whose goroutines wait idle for up to about idle.
func New(idle time.Duration) *Pool {
	return &Pool{idle: idle}
}

// Go runs task on an idle goroutine of the pool, or on a new one.
func (p *Pool) Go(task func()) {
	p.mu.Lock()
	if n := len(p.ready); n > 0 {
		w := p.ready[n-1]
		p.ready[n-1] = nil
		p.ready = p.ready[:n-1]
		p.low = min(p.low, n-1)
		p.mu.Unlock()
		w.tasks <- task
		return
	}
	p.mu.Unlock()
	go p.run(&worker{tasks: make(chan func(), 1)}, task)
}

func (p *Pool) run(w *worker, task func()) {
	for ok := true; ok; task, ok = <-w.tasks {
		task()
		p.mu.Lock()
		p.ready = append(p.ready, w)
		if !p.sweeping {
			p.sweeping = true
			p.low = 0 // none was ready before
			time.AfterFunc(p.idle, p.sweep)
		}
		p.mu.Unlock()
	}
}

// sweep retires the goroutines that stayed ready since the last sweep,
// the bottom of the stack that no task reached.
func (p *Pool) sweep() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.ready[:p.low] {
		close(w.tasks)
	}
	n := copy(p.ready, p.ready[p.low:])
	clear(p.ready[n:])
	p.ready = p.ready[:n]
	p.low = n
	if n == 0 {
		p.sweeping = false
		return
	}
	time.AfterFunc(p.idle, p.sweep)
}
