package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/retry"
)

func TestDeliversEveryMatchedEvent(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	rc := newReceiver(t)
	in.subscribe(t, rc, map[string]any{"name": "errors", "filter": map[string]any{"levels": []string{"error"}}})
	in.subscribe(t, rc, map[string]any{"name": "payments", "filter": map[string]any{"sources": []string{"payment-*"},
		"where": []map[string]any{{"path": "amount", "op": "gte", "value": 100}}}})

	const n = 300
	var events [][]byte
	wantErrors, wantPay := 0, 0
	for i := range n {
		level := []string{"info", "error", "warn"}[i%3]
		source := []string{"payment-api", "auth"}[i%2]
		amount := i % 200
		if level == "error" {
			wantErrors++
		}
		if strings.HasPrefix(source, "payment-") && amount >= 100 {
			wantPay++
		}
		events = append(events, logEvent(i, fmt.Sprintf(`"level":%q,"source":%q,"amount":%d`, strings.ToUpper(level), source, amount)))
	}
	e.publish(events...)
	want := wantErrors + wantPay
	testenv.Eventually(t, 30*time.Second, func() bool { return rc.deliveredCount() == want },
		"delivered %d of %d", rc.deliveredCount(), want)

	attempts, delivered, _, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Fatalf("receiver rejected deliveries: %v", bad[:min(5, len(bad))])
	}
	for id, n := range delivered {
		if n != 1 || attempts[id] != 1 {
			t.Errorf("webhook %s delivered %d times in %d attempts", id, n, attempts[id])
		}
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return in.counter("hookstream_events_consumed_total") == n },
		"events consumed = %v, want %d", in.counter("hookstream_events_consumed_total"), n)
	// The receiver counts a request before hookstream has seen the answer.
	testenv.Eventually(t, 5*time.Second, func() bool {
		return in.counter("hookstream_delivery_attempts_total", "outcome", "delivered") == float64(want)
	}, "delivered metric = %v, want %d", in.counter("hookstream_delivery_attempts_total", "outcome", "delivered"), want)
	// Everything is committed once delivered.
	testenv.Eventually(t, 5*time.Second, func() bool {
		return in.counter("hookstream_uncommitted_records", "group", e.cfg.Kafka.Group) == 0
	}, "records remain uncommitted")
}

func TestRetriedOnTheLadderWithTheSameWebhookID(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	rc := newReceiver(t)
	rc.respond = failFirst(2)
	in.subscribe(t, rc, map[string]any{"name": "flaky"})

	e.publish(logEvent(1, `"level":"error"`), logEvent(2, `"level":"error"`))
	testenv.Eventually(t, 20*time.Second, func() bool { return rc.deliveredCount() == 2 }, "retried events not delivered")
	attempts, delivered, _, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Fatal(bad)
	}
	for id := range delivered {
		if attempts[id] != 3 {
			t.Errorf("webhook %s took %d attempts, want 3 (503, 503, 200) under one id", id, attempts[id])
		}
	}
	// First failure went to rung 1 (100ms), the second to rung 2 (200ms).
	if got := in.counter("hookstream_retries_scheduled_total", "rung", "100ms"); got != 2 {
		t.Errorf("retries on rung 100ms = %v, want 2", got)
	}
	if got := in.counter("hookstream_retries_scheduled_total", "rung", "200ms"); got != 2 {
		t.Errorf("retries on rung 200ms = %v, want 2", got)
	}
	if got := len(e.readTopic(e.cfg.DLQTopic())); got != 0 {
		t.Errorf("DLQ has %d records", got)
	}
}

func TestPermanentFailureGoesStraightToTheDLQ(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	rc := newReceiver(t)
	rc.respond = func(string, int) int { return http.StatusBadRequest }
	in.subscribe(t, rc, map[string]any{"name": "strict"})

	e.publish(logEvent(7, `"type":"order.created"`))
	testenv.Eventually(t, 10*time.Second, func() bool { return len(e.readTopic(e.cfg.DLQTopic())) == 1 }, "no DLQ record")
	dlq := e.readTopic(e.cfg.DLQTopic())[0]
	if got := header(dlq, retry.HeaderReason); got != "permanent:http_4xx" {
		t.Errorf("reason = %q", got)
	}
	if got := header(dlq, retry.HeaderAttempt); got != "1" {
		t.Errorf("attempt = %q, want 1", got)
	}
	if got := header(dlq, retry.HeaderStatus); got != "400" {
		t.Errorf("status = %q", got)
	}
	attempts, _, _, _ := rc.snapshot()
	for id, n := range attempts {
		if n != 1 {
			t.Errorf("webhook %s attempted %d times; a 400 must not be retried", id, n)
		}
	}
	if got := in.counter("hookstream_retries_scheduled_total"); got != 0 {
		t.Errorf("retries scheduled = %v", got)
	}
}

func TestExhaustedRetriesGoToTheDLQWithHeaders(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	rc := newReceiver(t)
	rc.respond = func(string, int) int { return http.StatusServiceUnavailable }
	sub := in.subscribe(t, rc, map[string]any{"name": "down"})

	start := time.Now()
	e.publish(logEvent(1, `"type":"x"`))
	testenv.Eventually(t, 20*time.Second, func() bool { return len(e.readTopic(e.cfg.DLQTopic())) == 1 }, "no DLQ record")
	elapsed := time.Since(start)
	dlq := e.readTopic(e.cfg.DLQTopic())[0]
	job, err := retry.JobFromRecord(dlq)
	if err != nil {
		t.Fatal(err)
	}
	attempts, _, _, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Fatal(bad)
	}
	if len(attempts) != 1 || attempts[job.WebhookID] != 5 {
		t.Errorf("attempts = %v, want 5 for %s", attempts, job.WebhookID)
	}
	want := map[string]string{
		retry.HeaderKind:         "delivery",
		retry.HeaderAttempt:      "5",
		retry.HeaderSubscription: sub["id"].(string),
		retry.HeaderWebhookID:    job.WebhookID,
		retry.HeaderOrigin:       e.input + "/" + strconv.Itoa(int(job.Origin.Partition)) + "/0",
		retry.HeaderStatus:       "503",
		retry.HeaderReason:       "exhausted",
	}
	for k, v := range want {
		if got := header(dlq, k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if !strings.HasPrefix(header(dlq, retry.HeaderError), "http_5xx: endpoint answered 503") {
		t.Errorf("error header = %q", header(dlq, retry.HeaderError))
	}
	if fa, _ := strconv.ParseInt(header(dlq, retry.HeaderFirstAttempt), 10, 64); fa < start.UnixMilli() {
		t.Errorf("first-attempt %d before the event was published", fa)
	}
	// Four rungs of 100, 200, 300 and 400ms lie between the five attempts.
	if elapsed < time.Second {
		t.Errorf("DLQ reached after %s; the rungs alone take 1s", elapsed)
	}
	for _, rung := range []string{"100ms", "200ms", "300ms", "400ms"} {
		if got := in.counter("hookstream_retries_scheduled_total", "rung", rung); got != 1 {
			t.Errorf("rung %s used %v times, want 1", rung, got)
		}
	}
	if string(job.Event) != string(logEvent(1, `"type":"x"`)) {
		t.Errorf("DLQ job lost the event: %s", job.Event)
	}
}

func TestPoisonRecordsGoToTheDLQAndDoNotStopThePartition(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	rc := newReceiver(t)
	in.subscribe(t, rc, map[string]any{"name": "all"})

	poison := map[string]string{
		"not json":   "invalid_json",
		"[1,2,3]":    "not_object",
		"\xff\xfe{}": "invalid_utf8",
	}
	var values [][]byte
	for v := range poison {
		values = append(values, []byte(v))
	}
	values = append(values, logEvent(1, `"level":"info"`))
	e.publish(values...)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(e.readTopic(e.cfg.DLQTopic())) == len(poison) }, "poison not in the DLQ")
	testenv.Eventually(t, 10*time.Second, func() bool { return rc.deliveredCount() == 1 }, "the good event was not delivered")
	for _, r := range e.readTopic(e.cfg.DLQTopic()) {
		want, ok := poison[string(r.Value)]
		if !ok {
			t.Errorf("DLQ value %q is not an original poison value", r.Value)
			continue
		}
		if got := header(r, retry.HeaderReason); got != "poison:"+want {
			t.Errorf("%q: reason %q, want poison:%s", r.Value, got, want)
		}
		if header(r, retry.HeaderKind) != "poison" || !strings.HasPrefix(header(r, retry.HeaderOrigin), e.input+"/") {
			t.Errorf("%q: headers %v", r.Value, r.Headers)
		}
	}
	if got := in.counter("hookstream_poison_records_total"); got != float64(len(poison)) {
		t.Errorf("poison metric = %v", got)
	}
}

func TestSubscriptionCreatedWhileRunningAppliesWithinASecond(t *testing.T) {
	e := newEnv(t)
	e.cfg.Redis.RefreshInterval = time.Hour // only the notification can be this fast
	in := e.start()
	rc := newReceiver(t)
	// Events flowing before the subscription exists are not delivered.
	e.publish(logEvent(0, `"level":"error"`))
	testenv.Eventually(t, 10*time.Second, func() bool { return in.counter("hookstream_events_consumed_total") == 1 }, "event not consumed")

	created := time.Now()
	rc.trust(in.createSub(t, map[string]any{"name": "late", "url": rc.url()}))
	testenv.Eventually(t, time.Second, func() bool { return in.counter("hookstream_subscriptions") == 1 },
		"subscription not in the worker's cache")
	t.Logf("subscription live in the worker %s after the API call began", time.Since(created))
	e.publish(logEvent(1, `"level":"error"`))
	testenv.Eventually(t, 10*time.Second, func() bool { return rc.deliveredCount() == 1 }, "event after creation not delivered")
	_, _, events, _ := rc.snapshot()
	for _, seq := range events {
		if seq != "1" {
			t.Errorf("delivered event seq %s; only the event after creation matches", seq)
		}
	}
}

func TestRetryUsesTheSubscriptionAsItIsNow(t *testing.T) {
	e := newEnv(t)
	e.cfg.Retry.Rungs = []time.Duration{time.Second, 2 * time.Second}
	in := e.start()
	rc := newReceiver(t)
	rc.respond = func(string, int) int { return http.StatusServiceUnavailable }
	sub := in.subscribe(t, rc, map[string]any{"name": "doomed"})
	e.publish(logEvent(1, `"level":"error"`))
	testenv.Eventually(t, 10*time.Second, func() bool { return in.counter("hookstream_retries_scheduled_total") == 1 }, "no retry scheduled")
	if status, body := in.do(t, http.MethodDelete, "/v1/subscriptions/"+sub["id"].(string), nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		return in.counter("hookstream_jobs_dropped_total", "reason", "subscription_deleted") == 1
	}, "retry of a deleted subscription not dropped")
	attempts, _, _, _ := rc.snapshot()
	for id, n := range attempts {
		if n != 1 {
			t.Errorf("webhook %s attempted %d times after its subscription was deleted", id, n)
		}
	}
}

// TestRestartMidStream stops a worker while it delivers and starts a new
// one on the same group: every matched event is delivered at least once,
// and a redelivered one keeps its webhook-id.
func TestRestartMidStream(t *testing.T) {
	for _, tc := range []struct {
		name  string
		drain time.Duration
	}{
		{"graceful", 10 * time.Second},
		{"abandoned in-flight", time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.cfg.ShutdownTimeout = tc.drain
			e.cfg.Delivery.MaxInFlight = 8
			first := e.start()
			rc := newReceiver(t)
			// Slow enough that the stop lands mid-stream.
			rc.respond = func(string, int) int {
				time.Sleep(10 * time.Millisecond)
				return http.StatusOK
			}
			first.subscribe(t, rc, map[string]any{"name": "all", "filter": map[string]any{"types": []string{"match"}}})

			const n = 400
			var values [][]byte
			for i := range n {
				typ := "match"
				if i%4 == 3 {
					typ = "other"
				}
				values = append(values, logEvent(i, fmt.Sprintf(`"type":%q`, typ)))
			}
			e.publish(values...)
			want := n - n/4
			testenv.Eventually(t, 20*time.Second, func() bool { return rc.deliveredCount() >= want/4 }, "first worker delivered too little")
			first.stop(t)
			mid := rc.deliveredCount()

			e.start()
			testenv.Eventually(t, 60*time.Second, func() bool { return rc.deliveredCount() == want },
				"after restart: %d of %d distinct events delivered", rc.deliveredCount(), want)
			_, delivered, events, bad := rc.snapshot()
			if len(bad) > 0 {
				t.Fatal(bad[:min(5, len(bad))])
			}
			seqs := map[string]bool{}
			dups := 0
			for id, seq := range events {
				seqs[seq] = true
				dups += delivered[id] - 1
			}
			if len(seqs) != want {
				t.Errorf("%d distinct events delivered, want %d", len(seqs), want)
			}
			t.Logf("%d delivered before the stop, %d duplicates (each under its original webhook-id)", mid, dups)
		})
	}
}

// TestFailedStartReturns: a part that fails to start after the cache is
// running must make Run return, not hang on the cache.
func TestFailedStartReturns(t *testing.T) {
	e := newEnv(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	e.cfg.Admin.Addr = busy.Addr().String()
	svc, err := New(Options{Config: e.cfg, Logger: zerolog.New(zerolog.NewTestWriter(t)), Redis: e.rdb})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "admin.addr") {
			t.Errorf("Run() = %v, want an admin.addr error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after a failed start")
	}
}

// TestRotatedSecretSignsBesideTheNewOne: after a rotation through the API
// on a running worker, deliveries verify under the old and the new secret.
func TestRotatedSecretSignsBesideTheNewOne(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	var mu sync.Mutex
	var secrets []string
	var bothVerified int
	var lastSignature string
	check := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		lastSignature = r.Header.Get("webhook-signature")
		ok := len(secrets) == 2
		for _, secret := range secrets {
			wh, err := standardwebhooks.NewWebhook(secret)
			ok = ok && err == nil && wh.Verify(b, r.Header) == nil
		}
		if ok {
			bothVerified++
		}
	}))
	t.Cleanup(check.Close)

	sub := in.createSub(t, map[string]any{"name": "rotating", "url": check.URL})
	status, body := in.do(t, http.MethodPost, "/v1/subscriptions/"+sub["id"].(string)+"/rotate-secret", nil)
	if status != http.StatusOK {
		t.Fatalf("rotate: %d %s", status, body)
	}
	var rotated struct{ Secret string }
	if err := json.Unmarshal(body, &rotated); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secrets = []string{sub["secret"].(string), rotated.Secret}
	mu.Unlock()
	// The worker sees the rotation within a second; keep publishing until
	// a delivery verifies under both secrets.
	seq := 0
	testenv.Eventually(t, 10*time.Second, func() bool {
		seq++
		e.publish(logEvent(seq, `"level":"error"`))
		mu.Lock()
		defer mu.Unlock()
		return bothVerified > 0
	}, "no delivery verified under both the old and the new secret")
	mu.Lock()
	defer mu.Unlock()
	if n := len(strings.Fields(lastSignature)); n != 2 {
		t.Errorf("delivery carries %d signatures, want 2: %s", n, lastSignature)
	}
}
