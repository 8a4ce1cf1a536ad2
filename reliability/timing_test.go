//go:build faults

package reliability

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/retry"
)

// rungs is the ladder every fault test's process runs (startWith).
var rungs = []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond}

// TestClockSkewOnOneHost: of two workers, one's clock is an hour ahead.
// Every delivery fails twice, so each walks two rungs, written and read
// by either worker. No retry waits more than its rung's delay beyond when
// it was due (a record written an hour ahead holds its partition no
// longer than the rung's delay), nothing is lost and every delivery
// arrives. Retries the worker ahead reads come early: it thinks them due.
// (Its signatures carry its time too: a receiver enforcing the Standard
// Webhooks tolerance refuses them, so this one verifies without it.)
func TestClockSkewOnOneHost(t *testing.T) {
	s := newSetup(t, 4)
	onTime := s.start("on-time")
	s.startWith("ahead", s.redis, "HOOKSTREAM_FAULT_CLOCK_SKEW=1h")
	rc := newReceiver(t)
	rc.failFirst = 2
	rc.ignoreTimestamp = true // the worker ahead signs an hour ahead
	id, secret := onTime.subscribe(t, `{"name":"twice","url":"`+rc.srv.URL+`","filter":{"types":["match"]}}`)
	rc.trust(id, secret)

	n := 400 * scale()
	start := time.Now()
	matched, published := publish(t, s.broker.brokers, s.input, "skew", n, 200, func(int) bool { return true })
	<-published
	lost, dups, dlq := s.account(t, rc, matched, 2*time.Minute)
	took := time.Since(start)

	var late time.Duration
	early, retries := 0, 0
	rc.mu.Lock()
	for ev, at := range rc.attempts {
		if len(at) < 3 { // more when a rebalance redelivers one
			t.Errorf("event %s: %d attempts, want 3 (two refused, one delivered)", ev, len(at))
		}
		for k := 1; k < min(len(at), 3); k++ {
			retries++
			gap, rung := at[k].Sub(at[k-1]), rungs[k-1]
			if gap < rung-5*time.Millisecond { // record times are whole milliseconds
				early++
			}
			late = max(late, gap-rung)
			if gap > 2*rung+time.Second {
				t.Errorf("event %s: attempt %d came %s after the one before, on a rung of %s", ev, k+1, gap, rung)
			}
		}
	}
	rc.mu.Unlock()
	if len(dlq) > 0 {
		t.Errorf("%d deliveries in the DLQ, want none", len(dlq))
	}
	t.Logf("%d retries: the latest %s after its rung's delay, %d early (read by the worker ahead); all delivered in %s",
		retries, late.Round(time.Millisecond), early, took.Round(time.Millisecond))
	result{command: "make test-faults RUN=TestClockSkewOnOneHost", test: "clock skew on one host",
		injected: fmt.Sprintf("one of two workers an hour ahead; every delivery fails twice; latest retry %s past its rung, %d of %d early",
			late.Round(10*time.Millisecond), early, retries),
		events: n, matched: len(matched), lost: lost, duplicates: dups, broker: s.broker.name}.log(t)
}

// TestDLQUnwritableForAWhile: for ten seconds the broker refuses every
// DLQ write (its records are larger than the topic takes). Deliveries to
// a healthy endpoint go on; those to a dead one wait at the end of the
// ladder, their partitions committing nothing past them, and /readyz says
// why. Once the DLQ takes writes again, every one of them lands there and
// the groups catch up. Nothing is lost.
func TestDLQUnwritableForAWhile(t *testing.T) {
	s := newSetup(t, 4)
	p := s.start("worker")
	healthy := newReceiver(t)
	hid, hsecret := p.subscribe(t, `{"name":"healthy","url":"`+healthy.srv.URL+`","filter":{"types":["match"]}}`)
	healthy.trust(hid, hsecret)
	did, _ := p.subscribe(t, `{"name":"dead","url":"`+closedURL(t)+`","filter":{"types":["match"]}}`)

	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker.brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	dlqTopic := s.group + ".dlq"
	setMax := func(n int) { testenv.SetTopicConfig(t, cl, dlqTopic, "max.message.bytes", strconv.Itoa(n)) }
	setMax(1024) // smaller than any DLQ record below
	const down = 10 * time.Second

	n := 200 * scale()
	start := time.Now()
	matched, published := publishWith(t, s.broker.brokers, s.input, "dlq", n, 0, func(int) bool { return true },
		`,"pad":"`+strings.Repeat("x", 2048)+`"`)
	<-published
	// The dead endpoint's deliveries reach the end of the ladder in ~3s.
	time.Sleep(down)
	status, body := p.ready(t)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "pipeline") {
		t.Errorf("readyz while the DLQ refuses writes: %d %s", status, body)
	}
	if got := len(dlqRecords(t, s.broker.brokers, dlqTopic)); got != 0 {
		t.Errorf("%d records in a DLQ that takes none", got)
	}
	if got := healthy.deliveredCount(); got != len(matched) {
		t.Errorf("the healthy endpoint got %d of %d while the DLQ was unwritable", got, len(matched))
	}
	setMax(1 << 20)
	recovered := time.Now()

	lost, dups, _ := s.account(t, healthy, matched, 2*time.Minute)
	var dead int
	testenv.Eventually(t, time.Minute, func() bool {
		dead = 0
		for _, r := range dlqRecords(t, s.broker.brokers, dlqTopic) {
			if sub, _ := retry.HeaderValue(r, retry.HeaderSubscription); sub == did {
				dead++
			}
		}
		return dead == len(matched)
	}, "the DLQ holds %d of the dead endpoint's %d deliveries", dead, len(matched))
	testenv.Eventually(t, time.Minute, func() bool { status, _ := p.ready(t); return status == http.StatusOK },
		"/readyz not ready once the DLQ takes writes")
	caughtUp := time.Since(recovered)
	t.Logf("DLQ unwritable for %s: %d deliveries waited; all in the DLQ %s after it took writes again (%s in all)",
		down, dead, caughtUp.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	result{command: "make test-faults RUN=TestDLQUnwritableForAWhile", test: "DLQ unwritable for a while",
		injected: fmt.Sprintf("DLQ refuses every write for %s; a healthy endpoint and a dead one", down),
		events:   n, matched: 2 * len(matched), lost: lost, duplicates: dups, recovery: caughtUp, broker: s.broker.name}.log(t)
}
