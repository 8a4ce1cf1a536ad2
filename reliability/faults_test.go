//go:build faults

package reliability

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
)

// TestCrashLoop kills hookstream with SIGKILL at random moments while it
// delivers to an endpoint that fails about 10% of requests, restarting it
// each time. Every matched event must end delivered or in the DLQ, and a
// duplicate must carry the webhook-id of its first delivery.
func TestCrashLoop(t *testing.T) {
	s := newSetup(t, 6)
	n := 4000 * scale()
	kills := 3 + 2*min(scale()-1, 1) // 3 in the short form, 5 at scale ≥ 2
	rc := newReceiver(t)
	rmu := newLockedRand()
	rc.fail = func() bool { return rmu.float() < 0.10 }

	p := s.start("crash-0")
	id, secret := p.subscribe(t, `{"name":"crash","url":"`+rc.srv.URL+`","filter":{"types":["match"]}}`)
	rc.trust(id, secret)
	matched, published := publish(t, s.broker.brokers, s.input, "crash", n, 2000, func(i int) bool { return i%2 == 0 })

	var recovery time.Duration
	for k := 1; k <= kills; k++ {
		// Let it deliver a random share of what is left, then kill it.
		target := rc.deliveredCount() + (len(matched)-rc.deliveredCount())*(10+rmu.intN(30))/100
		deadline := time.Now().Add(30 * time.Second)
		for rc.deliveredCount() < target && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		p.kill(t)
		before := rc.deliveredCount()
		start := time.Now()
		p = s.start("crash-" + strconv.Itoa(k))
		// Recovery: until the new process delivers something new.
		for rc.deliveredCount() == before && rc.deliveredCount() < len(matched) && time.Since(start) < 30*time.Second {
			time.Sleep(5 * time.Millisecond)
		}
		recovery = max(recovery, time.Since(start))
	}
	<-published
	lost, dups, dlq := s.account(t, rc, matched, 3*time.Minute)
	if lost != 0 {
		t.Errorf("%d matched events lost", lost)
	}
	result{command: "make test-faults RUN=TestCrashLoop", test: "crash loop", injected: strconv.Itoa(kills) + "× SIGKILL + restart, 10% of requests answered 503; recovery = restart to first new delivery",
		events: n, matched: len(matched), lost: lost, duplicates: dups, recovery: recovery, broker: s.broker.name}.log(t)
	t.Logf("%d of the matched events ended in the DLQ", len(dlq))
}

// TestBrokerRestart stops the broker mid-stream and starts it again:
// hookstream must recover by itself with nothing lost.
func TestBrokerRestart(t *testing.T) {
	s := newSetup(t, 6)
	n := 4000 * scale()
	rc := newReceiver(t)
	p := s.start("broker-restart")
	id, secret := p.subscribe(t, `{"name":"restart","url":"`+rc.srv.URL+`","filter":{"types":["match"]}}`)
	rc.trust(id, secret)
	matched, published := publish(t, s.broker.brokers, s.input, "br", n, 1000, func(i int) bool { return i%2 == 0 })

	for rc.deliveredCount() < len(matched)/4 {
		time.Sleep(5 * time.Millisecond)
	}
	stopped := time.Now()
	s.broker.restart(t, 2*time.Second)
	restarted := time.Now()
	<-published
	lost, dups, _ := s.account(t, rc, matched, 3*time.Minute)
	caughtUp := time.Since(restarted)
	if lost != 0 {
		t.Errorf("%d matched events lost", lost)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { code, _ := p.ready(t); return code == 200 }, "readyz not ready after the restart")
	result{command: "make test-faults RUN=TestBrokerRestart", test: "broker restart",
		injected: "broker stopped for 2s mid-stream, then started; recovery = longest gap between deliveries", events: n, matched: len(matched),
		lost: lost, duplicates: dups, recovery: rc.maxGap(), broker: s.broker.name}.log(t)
	t.Logf("broker down for %s; longest gap between deliveries %s; all caught up %s after the broker was back",
		restarted.Sub(stopped).Round(time.Millisecond), rc.maxGap().Round(time.Millisecond), caughtUp.Round(time.Millisecond))
}

// lockedRand is a math/rand source safe for the receiver's goroutines.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand() *lockedRand {
	return &lockedRand{r: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))}
}

func (l *lockedRand) float() float64 { l.mu.Lock(); defer l.mu.Unlock(); return l.r.Float64() }
func (l *lockedRand) intN(n int) int { l.mu.Lock(); defer l.mu.Unlock(); return l.r.IntN(n) }
