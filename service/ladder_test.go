package service

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookstream/hookstream/history"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/retry"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The tests of this file hold hookstream to its retry contract with the
// default ladder (1s, 2s, 4s, 8s), five attempts and the default breaker
// (five failures): attempt k+1 of a delivery is made rung k's delay after
// attempt k, never earlier, and nothing hookstream decides on its own (an
// open breaker, a slot cap) makes it later.

// ladderSlack is how late past its rung an attempt may be made: the
// consumer's timer, a fetch and the history clock's milliseconds.
const ladderSlack = 600 * time.Millisecond

func newLadderEnv(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	e := newEnv(t)
	e.cfg.Retry.Rungs = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	e.cfg.Delivery.MaxAttempts = 5
	e.cfg.Delivery.BreakerFailures = 5
	e.cfg.History.Attempts = 1000
	return e
}

// attemptsOf returns the recorded attempts of subscription id, grouped by
// webhook-id and in the order they were made.
func (in *instance) attemptsOf(t *testing.T, id string) map[string][]history.Attempt {
	t.Helper()
	var got struct{ Data []history.Attempt }
	in.getJSON(t, "/v1/subscriptions/"+id+"/attempts?limit=1000", &got)
	out := map[string][]history.Attempt{}
	for _, a := range got.Data {
		out[a.WebhookID] = append(out[a.WebhookID], a)
	}
	for _, as := range out {
		slices.SortFunc(as, func(a, b history.Attempt) int { return a.Number - b.Number })
	}
	return out
}

// checkOnTheLadder fails the test unless every delivery's attempts are
// numbered 1, 2, … and each was made its rung's delay after the one
// before: not earlier, and not later than ladderSlack past it.
func checkOnTheLadder(t *testing.T, rungs []time.Duration, byDelivery map[string][]history.Attempt) {
	t.Helper()
	for id, as := range byDelivery {
		for k, a := range as {
			if a.Number != k+1 {
				t.Errorf("%s: attempts %v are not numbered from 1", id, numbers(as))
				break
			}
			if k == 0 {
				continue
			}
			want := rungs[min(k-1, len(rungs)-1)]
			// History keeps milliseconds: allow one either way.
			if gap := a.Time.Sub(as[k-1].Time); gap < want-time.Millisecond || gap > want+ladderSlack {
				t.Errorf("%s: attempt %d came %s after attempt %d (%s), want %s (rung %s)", id, a.Number, gap, k, as[k-1].Reason, want, a.Rung)
			}
		}
	}
}

func numbers(as []history.Attempt) []int {
	out := make([]int, len(as))
	for i, a := range as {
		out[i] = a.Number
	}
	return out
}

// downFor answers 503 to every request until d after the first one, then
// 200, and reports when it recovered.
type downFor struct {
	d     time.Duration
	mu    sync.Mutex
	first time.Time
}

func (o *downFor) respond(string, int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.first.IsZero() {
		o.first = time.Now()
	}
	if time.Since(o.first) < o.d {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

func (o *downFor) recovered() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.first.Add(o.d)
}

// TestLadderRidesOutAShortOutage: an endpoint that answers 503 for 2.5s
// and then recovers, with 20 deliveries due to it. Its breaker opens at
// once; every delivery still arrives on the ladder's schedule, the last
// within 16s of its first attempt (not after the breaker's old 30s
// cooldown).
func TestLadderRidesOutAShortOutage(t *testing.T) {
	e := newLadderEnv(t)
	in := e.start()
	rc := newReceiver(t)
	outage := &downFor{d: 2500 * time.Millisecond}
	rc.respond = outage.respond
	sub := in.subscribe(t, rc, map[string]any{"name": "outage"})

	e.publish(logEvents(20, `"level":"error"`)...)
	testenv.Eventually(t, 30*time.Second, func() bool { return rc.deliveredCount() == 20 }, "not every delivery arrived")

	requests := rc.requests()
	for id, at := range requests {
		if took := at[len(at)-1].Sub(at[0]); took > 16*time.Second {
			t.Errorf("%s delivered %s after its first attempt, want within 16s", id, took)
		}
	}
	var byDelivery map[string][]history.Attempt
	testenv.Eventually(t, 5*time.Second, func() bool {
		byDelivery = in.attemptsOf(t, sub["id"].(string))
		for _, as := range byDelivery {
			if as[len(as)-1].Outcome != "delivered" {
				return false
			}
		}
		return len(byDelivery) == 20
	}, "history lacks the deliveries")
	checkOnTheLadder(t, e.cfg.Retry.Rungs, byDelivery)
	refused := 0
	for _, as := range byDelivery {
		for _, a := range as {
			if a.Reason == "circuit_open" {
				refused++
			}
		}
	}
	if refused == 0 {
		t.Error("no attempt was refused by the breaker: the test did not open it")
	}
	t.Logf("20 deliveries: %d attempts refused by the open breaker, %d requests", refused, total(requests))
}

// TestLadderDeadLettersADeadEndpointOnSchedule: an endpoint that always
// answers 503, with 5 deliveries: all in the DLQ within 20s of the first
// attempt, each after 5 attempts, with at most 25 requests made.
func TestLadderDeadLettersADeadEndpointOnSchedule(t *testing.T) {
	e := newLadderEnv(t)
	in := e.start()
	rc := newReceiver(t)
	rc.respond = func(string, int) int { return http.StatusServiceUnavailable }
	sub := in.subscribe(t, rc, map[string]any{"name": "dead"})

	e.publish(logEvents(5, `"level":"error"`)...)
	testenv.Eventually(t, 30*time.Second, func() bool { return len(e.readTopic(e.cfg.DLQTopic())) == 5 }, "deliveries not dead-lettered")
	var first time.Time
	for _, at := range rc.requests() {
		if first.IsZero() || at[0].Before(first) {
			first = at[0]
		}
	}
	if took := time.Since(first); took > 20*time.Second {
		t.Errorf("the DLQ held every delivery %s after the first attempt, want within 20s", took)
	}
	for _, r := range e.readTopic(e.cfg.DLQTopic()) {
		if got := header(r, retry.HeaderAttempt); got != "5" {
			t.Errorf("DLQ record after %s attempts, want 5", got)
		}
		if got := header(r, retry.HeaderReason); got != "exhausted" {
			t.Errorf("DLQ reason %q", got)
		}
	}
	if n := total(rc.requests()); n > 25 {
		t.Errorf("a dead endpoint got %d requests, want at most 25", n)
	}
	byDelivery := in.attemptsOf(t, sub["id"].(string))
	checkOnTheLadder(t, e.cfg.Retry.Rungs, byDelivery)
	t.Logf("5 deliveries dead-lettered after %d requests", total(rc.requests()))
}

// TestLadderRetriesAtOneAndThreeSeconds: an endpoint that fails twice and
// then succeeds is tried again 1s after the first attempt and 2s after the
// second.
func TestLadderRetriesAtOneAndThreeSeconds(t *testing.T) {
	e := newLadderEnv(t)
	in := e.start()
	rc := newReceiver(t)
	rc.respond = failFirst(2)
	sub := in.subscribe(t, rc, map[string]any{"name": "flaky"})
	e.publish(logEvent(1, `"level":"error"`))
	testenv.Eventually(t, 15*time.Second, func() bool { return rc.deliveredCount() == 1 }, "not delivered")
	var byDelivery map[string][]history.Attempt
	testenv.Eventually(t, 5*time.Second, func() bool {
		byDelivery = in.attemptsOf(t, sub["id"].(string))
		for _, as := range byDelivery {
			return len(as) == 3
		}
		return false
	}, "history lacks the attempts")
	checkOnTheLadder(t, e.cfg.Retry.Rungs, byDelivery)
	for id, at := range rc.requests() {
		if len(at) != 3 {
			t.Fatalf("%s: %d requests, want 3", id, len(at))
		}
		// Measured where the requests arrive: the first one's connection
		// is dialled, the later ones' reused, and due times are kept in
		// milliseconds, so an arrival may come a moment before the rung
		// (the attempts themselves are checked to the millisecond above).
		const arrival = 5 * time.Millisecond
		for i, want := range []time.Duration{time.Second, 3 * time.Second} {
			if got := at[i+1].Sub(at[0]); got < want-arrival || got > want+ladderSlack {
				t.Errorf("request %d came %s after the first, want %s", i+2, got, want)
			}
		}
		t.Logf("requests at +%s and +%s", at[1].Sub(at[0]), at[2].Sub(at[0]))
	}
}

// TestLadderDeliversWithinARungOfRecovering: an endpoint that recovers
// while its breaker is open gets every pending delivery within one rung of
// recovering: the breaker's probe comes due with the deliveries' rung.
func TestLadderDeliversWithinARungOfRecovering(t *testing.T) {
	e := newLadderEnv(t)
	in := e.start()
	rc := newReceiver(t)
	// Down through the first three attempts (at 0, +1s and +3s), up
	// before the fourth (+7s).
	outage := &downFor{d: 4 * time.Second}
	rc.respond = outage.respond
	sub := in.subscribe(t, rc, map[string]any{"name": "recovering"})

	e.publish(logEvents(10, `"level":"error"`)...)
	testenv.Eventually(t, 30*time.Second, func() bool { return rc.deliveredCount() == 10 }, "not every delivery arrived")
	recovered := outage.recovered()
	byDelivery := in.attemptsOf(t, sub["id"].(string))
	for id, at := range rc.requests() {
		last := at[len(at)-1]
		// The outage ends between the third and fourth rungs (4s): the
		// fourth attempt is at most one rung after it.
		if late := last.Sub(recovered); late > 4*time.Second+ladderSlack {
			t.Errorf("%s delivered %s after the endpoint recovered, want within one rung (4s)", id, late)
			for _, a := range byDelivery[id] {
				t.Logf("  attempt %d at +%s: %s", a.Number, a.Time.Sub(recovered.Add(-outage.d)), a.Reason)
			}
		}
	}
	checkOnTheLadder(t, e.cfg.Retry.Rungs, byDelivery)
	t.Logf("10 deliveries, %d requests", total(rc.requests()))
}

func total(requests map[string][]time.Time) int {
	n := 0
	for _, at := range requests {
		n += len(at)
	}
	return n
}

// A rung record is due at its not-before, but never later than its write
// time plus the rung's delay, whatever its header says: a record at the
// head of a partition holds the others back for at most that long.
func TestDueAtIsBoundedByTheRung(t *testing.T) {
	written := time.UnixMilli(1_700_000_000_000)
	tests := []struct {
		name      string
		notBefore string // header value; "" for none
		want      time.Time
	}{
		{"no header", "", written.Add(8 * time.Second)},
		{"due on its rung", fmt.Sprint(written.Add(8 * time.Second).UnixMilli()), written.Add(8 * time.Second)},
		{"due earlier", fmt.Sprint(written.Add(time.Second).UnixMilli()), written.Add(time.Second)},
		{"held by a Retry-After", fmt.Sprint(written.Add(time.Hour).UnixMilli()), written.Add(8 * time.Second)},
		{"a century ahead", fmt.Sprint(written.AddDate(100, 0, 0).UnixMilli()), written.Add(8 * time.Second)},
		{"unreadable", "soon", written.Add(8 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &kgo.Record{Timestamp: written}
			if tt.notBefore != "" {
				r.Headers = []kgo.RecordHeader{{Key: retry.HeaderNotBefore, Value: []byte(tt.notBefore)}}
			}
			if got := dueAt(r, 8*time.Second); !got.Equal(tt.want) {
				t.Errorf("dueAt = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestRateLimitHoldsAcrossInstances: a subscription limited to 50/s, its
// deliveries made by three instances: the receiver never sees more than
// 50/s + 10% in any second, nothing is lost and waiting spends no attempt.
func TestRateLimitHoldsAcrossInstances(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cfg.Retry.Rungs = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	instances := []*instance{e.start(), e.start(), e.start()}
	e.waitForGroups(3)
	rc := newReceiver(t)
	instances[0].subscribe(t, rc, map[string]any{"name": "paced", "rate_limit": map[string]any{"per_second": 50, "burst": 1}})
	for _, in := range instances[1:] {
		testenv.Eventually(t, 5*time.Second, func() bool { return in.counter("hookstream_subscriptions") == 1 },
			"subscription not loaded by every instance")
	}

	const events = 1500 // 30s at the limit
	e.publish(logEvents(events, `"level":"info"`)...)
	testenv.Eventually(t, 90*time.Second, func() bool { return rc.deliveredCount() == events }, "not every event delivered")

	attempts, _, _, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Fatal(bad[:min(len(bad), 5)])
	}
	var at []time.Time
	for id, times := range rc.requests() {
		if attempts[id] != 1 {
			t.Errorf("%s: %d requests, want 1", id, attempts[id])
		}
		at = append(at, times...)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	busiest := 0
	for i, j := 0, 0; i < len(at); i++ {
		for at[i].Sub(at[j]) >= time.Second {
			j++
		}
		busiest = max(busiest, i-j+1)
	}
	took := at[len(at)-1].Sub(at[0])
	t.Logf("%d deliveries in %s by 3 instances (%.1f/s), at most %d in one second", len(at), took, float64(len(at)-1)/took.Seconds(), busiest)
	if busiest > 55 {
		t.Errorf("the receiver saw %d requests in one second, over 50/s + 10%%", busiest)
	}
	if dlq := e.readTopic(e.cfg.DLQTopic()); len(dlq) != 0 {
		t.Errorf("%d deliveries in the DLQ", len(dlq))
	}
	// Waiting for a turn spent no attempt: every delivery was its first.
	var put float64
	for _, in := range instances {
		put += in.counter("hookstream_delivery_attempts_total", "reason", "rate_limited")
	}
	t.Logf("%v deliveries waited on the first rung for their turn", put)
}

// TestRetryWrittenByAClockAhead: a retry written by a worker whose clock
// runs an hour ahead says, in its timestamp and its not-before, that it
// is due in an hour. It waits at the head of its rung's partition no
// longer than the rung's delay, and the records behind it no longer
// either: no partition stalls on a clock. (A worker whose clock is ahead
// also takes the others' retries as due early; no scheme that compares
// times written on other hosts can prevent that.)
func TestRetryWrittenByAClockAhead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cfg.Kafka.Partitions = 1 // every retry on one partition, behind the one from the future
	in := e.start()
	rc := newReceiver(t)
	sub := in.subscribe(t, rc, map[string]any{"name": "receiver"})

	ahead := time.Now().Add(time.Hour)
	rung := e.cfg.RetryTopics()[0]
	var recs []*kgo.Record
	for i := range 5 {
		job := &retry.Job{WebhookID: fmt.Sprintf("msg_ahead_%d", i), SubscriptionID: sub["id"].(string), Attempts: 1,
			FirstAttempt: ahead, Origin: retry.Origin{Topic: e.input, Offset: int64(i)}, EventType: "t", EventTime: ahead,
			Event: logEvent(i, `"level":"error"`)}
		rec := job.Record(rung, ahead.Add(e.cfg.Retry.Rungs[0]), "")
		if i == 0 {
			rec.Timestamp = ahead // the head: written an hour ahead
		}
		recs = append(recs, rec)
	}
	cl, err := kgo.NewClient(e.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	start := time.Now()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return rc.deliveredCount() == len(recs) },
		"retries behind one written an hour ahead were not delivered")
	took := time.Since(start)
	t.Logf("%d retries, the first written an hour ahead, delivered in %s", len(recs), took)
	if rung := e.cfg.Retry.Rungs[0]; took > rung+2*time.Second {
		t.Errorf("delivered %s after they were written, want within the rung's delay (%s) and a little", took, rung)
	}
}
