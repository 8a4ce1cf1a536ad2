//go:build faults

package reliability

import (
	"testing"
	"time"
)

// TestBaseline runs the fault tests' set-up with no fault: every matched
// event delivered exactly once.
func TestBaseline(t *testing.T) {
	s := newSetup(t, 6)
	n := 4000 * scale()
	rc := newReceiver(t)
	p := s.start("baseline")
	id, secret := p.subscribe(t, `{"name":"baseline","url":"`+rc.srv.URL+`","filter":{"types":["match"]}}`)
	rc.trust(id, secret)
	start := time.Now()
	matched, published := publish(t, s.broker.brokers, s.input, "base", n, 0, func(i int) bool { return i%2 == 0 })
	<-published
	lost, dups, _ := s.account(t, rc, matched, 2*time.Minute)
	if lost != 0 || dups != 0 {
		t.Errorf("no fault, yet %d lost and %d duplicates", lost, dups)
	}
	result{command: "make test-faults RUN=TestBaseline", test: "baseline", injected: "none", events: n, matched: len(matched), lost: lost, duplicates: dups,
		broker: s.broker.name}.log(t)
	t.Logf("drained in %s", time.Since(start).Round(time.Millisecond))
}
