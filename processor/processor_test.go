package processor

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/history"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/payload"
	"github.com/hookstream/hookstream/retry"
	"github.com/hookstream/hookstream/subscription"
	"github.com/hookstream/hookstream/tracing"
)

func TestWebhookID(t *testing.T) {
	at := time.UnixMilli(1714557600123)
	base := WebhookID(retry.Origin{Topic: "logs", Partition: 1, Offset: 42}, at, "sub_1")
	if !regexp.MustCompile(`^msg_[a-z2-7]{26}$`).MatchString(base) {
		t.Fatalf("WebhookID = %q, want msg_ and 26 base32 characters", base)
	}
	if again := WebhookID(retry.Origin{Topic: "logs", Partition: 1, Offset: 42}, at, "sub_1"); again != base {
		t.Errorf("not stable: %s then %s", base, again)
	}
	others := []struct {
		name   string
		origin retry.Origin
		at     time.Time
		sub    string
	}{
		{"other subscription", retry.Origin{Topic: "logs", Partition: 1, Offset: 42}, at, "sub_2"},
		{"other offset", retry.Origin{Topic: "logs", Partition: 1, Offset: 43}, at, "sub_1"},
		{"other partition", retry.Origin{Topic: "logs", Partition: 2, Offset: 42}, at, "sub_1"},
		{"other topic", retry.Origin{Topic: "logs2", Partition: 1, Offset: 42}, at, "sub_1"},
		{"recreated topic", retry.Origin{Topic: "logs", Partition: 1, Offset: 42}, at.Add(time.Hour), "sub_1"},
		{"topic and subscription run together", retry.Origin{Topic: "log", Partition: 1, Offset: 42}, at, "ssub_1"},
		{"the record's next event", retry.Origin{Topic: "logs", Partition: 1, Offset: 42, Index: 1}, at, "sub_1"},
	}
	for _, o := range others {
		if id := WebhookID(o.origin, o.at, o.sub); id == base {
			t.Errorf("%s: same id %s", o.name, id)
		}
	}
	if a, b := WebhookID(retry.Origin{Topic: "logs", Offset: 1, Index: 1}, at, "sub_1"), WebhookID(retry.Origin{Topic: "logs", Offset: 1, Index: 2}, at, "sub_1"); a == b {
		t.Errorf("two events of a record share id %s", a)
	}
}

// An OTLP request's log records are delivered one webhook each, with ids
// that tell them apart and stay the same when the record is read again;
// their retries keep their place in the record and their format.
func TestHandleEventOTLP(t *testing.T) {
	var mu sync.Mutex
	ids := map[string]string{} // webhook-id → the event's type
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			Type string `json:"type"`
		}
		_ = json.NewDecoder(r.Body).Decode(&env)
		mu.Lock()
		ids[r.Header.Get("webhook-id")] = env.Type
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(healthy.Close)
	p, l := newTestProcessor(t, []string{healthy.URL, downURL(t)}, nil)
	mu.Lock()
	clear(ids) // the warm-up
	mu.Unlock()

	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	for i, name := range []string{"payment.failed", "stock.low", "order.shipped"} {
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetEventName(name)
		lr.SetSeverityNumber(plog.SeverityNumberError)
		if i == 0 {
			lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
			lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
			lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
		}
	}
	value, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Topic: "otel", Partition: 2, Offset: 7, Value: value, Timestamp: time.UnixMilli(1714557600000)}
	for range 2 { // read twice, as after a crash
		if err := p.HandleEvent(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	if len(ids) != 3 {
		t.Errorf("healthy endpoint saw %d webhook ids, want 3: %v", len(ids), ids)
	}
	jobs, _ := l.jobs(t, l.ladder.Rungs[0].Topic)
	if len(jobs) != 6 {
		t.Fatalf("first rung holds %d jobs, want 6", len(jobs))
	}
	for _, job := range jobs {
		want := []string{"payment.failed", "stock.low", "order.shipped"}[job.Origin.Index]
		if job.EventFormat != "otlp" || job.EventType != want || job.Origin.Offset != 7 || job.Origin.Partition != 2 {
			t.Errorf("job %+v, want event %d of otel/2/7 (%s) in format otlp", job.Origin, job.Origin.Index, want)
		}
		if wantTrace := map[int]string{0: "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"}[job.Origin.Index]; job.Traceparent != wantTrace {
			t.Errorf("job of event %d continues trace %q, want %q", job.Origin.Index, job.Traceparent, wantTrace)
		}
		if job.WebhookID != WebhookID(job.Origin, rec.Timestamp, "sub_b") {
			t.Errorf("job of event %d has webhook id %s", job.Origin.Index, job.WebhookID)
		}
	}
}

// An event matching a healthy endpoint and one whose breaker is open is
// delivered to the first and, for the second, written to the first rung
// as a failed attempt (the breaker's cooldown does not move it along the
// ladder), with the refusal counted and in the history.
func TestHandleEventBesideAnOpenBreaker(t *testing.T) {
	var got atomic.Int64
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(healthy.Close)
	hist := &attempts{}
	p, l := newTestProcessor(t, []string{healthy.URL, downURL(t)}, hist)
	warmup := got.Load()

	tests := []struct {
		name   string
		events int
	}{{"one event", 1}, {"a burst under the healthy endpoint's cap of 128", 100}}
	written := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := got.Load()
			var wg sync.WaitGroup
			errs := make(chan error, tt.events)
			for i := range tt.events {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- p.HandleEvent(context.Background(), &kgo.Record{Topic: "logs", Partition: 0, Offset: int64(written + i),
						Value: []byte(`{"type":"order.failed","level":"error"}`), Timestamp: time.UnixMilli(1714557600000)})
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("HandleEvent: %v", err)
				}
			}
			written += tt.events
			if n := got.Load() - before; n != int64(tt.events) {
				t.Errorf("healthy endpoint got %d requests, want %d", n, tt.events)
			}
			jobs, _ := l.jobs(t, l.ladder.Rungs[0].Topic)
			if len(jobs) != written {
				t.Fatalf("first rung holds %d jobs, want %d", len(jobs), written)
			}
			for _, job := range jobs {
				if job.SubscriptionID != "sub_b" || job.Attempts != 1 || job.LastReason != "circuit_open" || job.EventType != "order.failed" {
					t.Fatalf("retry job %+v, want sub_b after 1 attempt refused with circuit_open", job)
				}
			}
		})
	}
	if n := len(hist.of("sub_b")); n != written {
		t.Errorf("history of sub_b holds %d attempts, want %d", n, written)
	}
	for _, a := range hist.of("sub_b") {
		if a.Reason != "circuit_open" || a.Next != "retry:1s" || a.Rung != "" {
			t.Fatalf("history attempt %+v, want circuit_open then retry:1s", a)
		}
	}
	if n := len(hist.of("sub_a")); n != written {
		t.Errorf("history of sub_a holds %d attempts, want %d", n, written)
	}
	if warmup != 1 {
		t.Errorf("warm-up reached the healthy endpoint %d times", warmup)
	}
}

// A refused delivery whose retry record cannot be written fails the
// event, so that its offset is not committed, and leaves no history:
// alone (written while the event waits), beside a healthy delivery
// (written in the background) and in a burst sharing one bundle.
func TestHandleEventRefusedAndUnwritable(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(healthy.Close)
	tests := []struct {
		name   string
		events int
		beside bool
	}{{"alone", 1, false}, {"beside a healthy endpoint", 1, true}, {"a burst", 50, true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			urls, down := []string{downURL(t)}, "sub_a"
			if tt.beside {
				urls, down = []string{healthy.URL, downURL(t)}, "sub_b"
			}
			hist := &attempts{}
			p, l := newTestProcessor(t, urls, hist)
			closed, err := kgo.NewClient(kgo.SeedBrokers(l.brokers...))
			if err != nil {
				t.Fatal(err)
			}
			closed.Close()
			p.Producer, p.parcels.producer = closed, closed
			errs := handleEvents(t, p, 0, tt.events)
			for _, err := range errs {
				if err == nil || !strings.Contains(err.Error(), "write to") {
					t.Fatalf("HandleEvent = %v, want a write error", err)
				}
			}
			if n := len(hist.of(down)); n != 0 {
				t.Errorf("history holds %d attempts of unwritten deliveries", n)
			}
		})
	}
}

// handleEvents hands n events, at offsets from first on, to p at once and
// returns what each HandleEvent returned.
func handleEvents(t *testing.T, p *Processor, first, n int) []error {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.HandleEvent(context.Background(), &kgo.Record{Topic: "logs", Partition: 0, Offset: int64(first + i),
				Value: []byte(`{"type":"order.failed","level":"error"}`), Timestamp: time.UnixMilli(1714557600000)})
		}()
	}
	wg.Wait()
	return errs
}

// Deliveries an open breaker refuses within a linger of each other go to
// their rung as one bundle record, up to 64 jobs each, and each is
// settled once its bundle is written.
func TestRefusedDeliveriesTravelTogether(t *testing.T) {
	tests := []struct {
		name        string
		linger      time.Duration
		events      int
		wantRecords func(int) bool
	}{
		{"no linger: a record each", 0, 40, func(n int) bool { return n == 40 }},
		{"a burst: bundles", time.Second, 40, func(n int) bool { return n == 1 }},
		{"more than a bundle holds", time.Second, 600, func(n int) bool { return n >= 3 && n < 600 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hist := &attempts{}
			p, l := newTestProcessor(t, []string{downURL(t)}, hist)
			p.parcels.linger = tt.linger
			for i, err := range handleEvents(t, p, 0, tt.events) {
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
			}
			topic := l.ladder.Rungs[0].Topic
			jobs, records := l.jobs(t, topic)
			if !tt.wantRecords(records) {
				t.Errorf("%d deliveries went in %d records", tt.events, records)
			}
			seen := map[string]bool{}
			for _, j := range jobs {
				if seen[j.WebhookID] || j.SubscriptionID != "sub_a" || j.Attempts != 1 || j.LastReason != "circuit_open" {
					t.Fatalf("job %+v: want each delivery once, of sub_a, refused with circuit_open", j)
				}
				seen[j.WebhookID] = true
			}
			if len(seen) != tt.events {
				t.Errorf("rung holds %d deliveries, want %d", len(seen), tt.events)
			}
			bundles := 0
			for _, r := range l.records(t, topic) {
				if retry.IsBundle(r) {
					bundles++
					_, js, _ := retry.JobsFromBundle(r)
					if len(js) > maxBundleJobs {
						t.Errorf("a bundle of %d jobs, over the cap of %d", len(js), maxBundleJobs)
					}
					// The rung releases a record at its time plus the
					// rung's delay at the latest: no job may be due later.
					for _, j := range js {
						if due := r.Timestamp.Add(l.ladder.Rungs[0].Delay); due.Before(j.NotBefore.Truncate(time.Millisecond)) {
							t.Fatalf("bundle timed %s releases job due %s early", r.Timestamp, j.NotBefore)
						}
					}
				}
			}
			if got := testutil.ToFloat64(p.Metrics.Bundles.WithLabelValues("1s")); got != float64(bundles) {
				t.Errorf("retry_bundles_total = %v, %d bundles written", got, bundles)
			}
			if n := len(hist.of("sub_a")); n != tt.events {
				t.Errorf("history holds %d attempts, want %d", n, tt.events)
			}
		})
	}
}

// A bundle read back from a rung: each of its jobs is attempted with the
// subscription as it is now.
func TestHandleJobBundle(t *testing.T) {
	var got sync.Map // webhook-id → requests
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := got.LoadOrStore(r.Header.Get("webhook-id"), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(healthy.Close)
	const n = 30
	bundle := func(l testLadder, sub string, attempts int) *kgo.Record {
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = (&retry.Job{WebhookID: fmt.Sprintf("msg_%s_%d", sub, i), SubscriptionID: sub, Attempts: attempts,
				FirstAttempt: time.Now(), Origin: retry.Origin{Topic: "logs", Offset: int64(i)}, EventType: "order.failed",
				Event: fmt.Appendf(nil, `{"n":%d}`, i)}).Record(l.ladder.Rungs[0].Topic, time.Now(), "")
		}
		rec := retry.Bundle(l.ladder.Rungs[0].Topic, sub, time.Now(), recs)
		return rec
	}
	tests := []struct {
		name  string
		sub   string // sub_a is healthy, sub_b down, sub_z unknown
		tries int
		// linger, when set, is longer than settling the bundle's jobs may
		// take on a loaded machine, for a case that wants them in one.
		linger time.Duration
		check  func(t *testing.T, p *Processor, l testLadder)
	}{
		{"endpoint up: each job delivered", "sub_a", 1, 0, func(t *testing.T, p *Processor, l testLadder) {
			for i := range n {
				if c, ok := got.Load(fmt.Sprintf("msg_sub_a_%d", i)); !ok || c.(*atomic.Int64).Load() != 1 {
					t.Errorf("job %d not delivered once", i)
				}
			}
			if jobs, _ := l.jobs(t, l.ladder.Rungs[1].Topic); len(jobs) != 0 {
				t.Errorf("%d jobs retried", len(jobs))
			}
		}},
		{"breaker still open: one bundle to the next rung", "sub_b", 1, time.Second, func(t *testing.T, p *Processor, l testLadder) {
			jobs, records := l.jobs(t, l.ladder.Rungs[1].Topic)
			if len(jobs) != n || records != 1 {
				t.Fatalf("next rung holds %d jobs in %d records, want %d in one bundle", len(jobs), records, n)
			}
			for _, j := range jobs {
				if j.Attempts != 2 || j.LastReason != "circuit_open" {
					t.Fatalf("job %+v: want a second attempt refused with circuit_open", j)
				}
			}
		}},
		{"last attempt refused: a DLQ record each", "sub_b", 4, 0, func(t *testing.T, p *Processor, l testLadder) {
			recs := l.records(t, l.ladder.DLQ)
			if len(recs) != n {
				t.Fatalf("DLQ holds %d records, want one per delivery: %d", len(recs), n)
			}
			for _, r := range recs {
				job, err := retry.JobFromRecord(r)
				if reason, _ := retry.HeaderValue(r, retry.HeaderReason); err != nil || reason != "exhausted" || job.Attempts != 5 {
					t.Fatalf("DLQ record: %v, reason %q, job %+v", err, reason, job)
				}
			}
		}},
		{"subscription deleted: dropped", "sub_z", 1, 0, func(t *testing.T, p *Processor, l testLadder) {
			if got := testutil.ToFloat64(p.Metrics.JobsDropped.WithLabelValues("subscription_deleted")); got != n {
				t.Errorf("jobs_dropped_total = %v, want %d", got, n)
			}
			if recs := l.records(t, l.ladder.Rungs[1].Topic); len(recs) != 0 {
				t.Errorf("%d records retried", len(recs))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, l := newTestProcessor(t, []string{healthy.URL, downURL(t)}, nil, func(o *Options) {
				if tt.linger > 0 {
					o.Linger = tt.linger
				}
			})
			if err := p.HandleJob(context.Background(), bundle(l, tt.sub, tt.tries)); err != nil {
				t.Fatal(err)
			}
			tt.check(t, p, l)
		})
	}
	t.Run("undecodable: to the DLQ as it is", func(t *testing.T) {
		p, l := newTestProcessor(t, []string{healthy.URL}, nil)
		rec := bundle(l, "sub_a", 1)
		rec.Value = rec.Value[:len(rec.Value)-1]
		if err := p.HandleJob(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		recs := l.records(t, l.ladder.DLQ)
		if len(recs) != 1 || !bytes.Equal(recs[0].Value, rec.Value) {
			t.Fatalf("DLQ holds %d records, want the bundle as it was", len(recs))
		}
		if reason, _ := retry.HeaderValue(recs[0], retry.HeaderReason); reason != "poison:invalid_job" {
			t.Errorf("DLQ reason %q", reason)
		}
	})
}

// A delivery put off without an attempt (its endpoint had its cap in
// flight) waits on the first rung whatever its attempts, and the put-off
// after retry.MaxPutOffs in a row counts as a failed attempt.
func TestPutOffsGoToTheFirstRungAndAreBounded(t *testing.T) {
	p, l := newTestProcessor(t, nil, nil)
	sub, err := subscription.Compile(subscription.Subscription{ID: "sub_a", Name: "n", URL: "http://127.0.0.1:1", Enabled: true,
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", MaxAttempts: 5, Timeout: subscription.Duration(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	putOff := delivery.Outcome{Class: delivery.Retryable, Reason: delivery.ReasonSaturated, NotAttempted: true}
	job := &retry.Job{WebhookID: "msg_1", SubscriptionID: "sub_a", Attempts: 2, Event: []byte(`{}`)}
	for i := range retry.MaxPutOffs + 1 {
		out := p.count(job, time.Now(), putOff)
		s := p.plan(sub, job, out)
		if i < retry.MaxPutOffs {
			if !out.NotAttempted || job.Attempts != 2 || job.PutOffs != i+1 || s.topic != l.ladder.Rungs[0].Topic {
				t.Fatalf("put-off %d: attempts %d, put-offs %d, to %s; want no attempt spent and the first rung", i+1, job.Attempts, job.PutOffs, s.topic)
			}
			continue
		}
		if out.NotAttempted || job.Attempts != 3 || job.PutOffs != 0 || s.topic != l.ladder.Rungs[1].Topic {
			t.Fatalf("put-off %d: attempts %d, put-offs %d, to %s; want it counted as the third attempt, on the second rung",
				i+1, job.Attempts, job.PutOffs, s.topic)
		}
	}
	if out := p.count(job, time.Now(), delivery.Outcome{Class: delivery.Retryable, Reason: delivery.ReasonHTTP5xx}); out.NotAttempted || job.PutOffs != 0 {
		t.Errorf("an attempt leaves put-offs at %d", job.PutOffs)
	}
}

// A job read from a rung before its endpoint's Retry-After is over goes
// round the last rung again without an attempt, still due when the
// endpoint asked; one due a century ahead is held no longer than
// retry.max_retry_after. A not-before ahead on a job the endpoint did not
// hold (the writer's clock was ahead) does not hold it: the rung's
// consumer already waited as long as the rung allows.
func TestHandleJobHoldsJobsNotDue(t *testing.T) {
	var got atomic.Int64
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(healthy.Close)
	tests := []struct {
		name       string
		notBefore  time.Duration // from now
		retryAfter time.Duration // what the endpoint asked for; 0 for none
		want       time.Duration // the held job's not-before, from now; 0 when attempted
	}{
		{"retry-after of 20 minutes", 20 * time.Minute, 20 * time.Minute, 20 * time.Minute},
		{"a century ahead", 100 * 365 * 24 * time.Hour, time.Hour, time.Hour},
		{"an hour ahead, no retry-after: a clock ahead", time.Hour, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, l := newTestProcessor(t, []string{healthy.URL}, nil)
			p.Ladder.MaxRetryAfter = time.Hour
			before := got.Load()
			now := time.Now()
			job := &retry.Job{WebhookID: "msg_1", SubscriptionID: "sub_a", Attempts: 4, FirstAttempt: now,
				Origin: retry.Origin{Topic: "logs"}, Event: []byte(`{}`), RetryAfter: tt.retryAfter}
			if err := p.HandleJob(context.Background(), job.Record(l.ladder.Rungs[0].Topic, now.Add(tt.notBefore), "")); err != nil {
				t.Fatal(err)
			}
			jobs, _ := l.jobs(t, l.ladder.Rungs[1].Topic)
			if tt.want == 0 {
				if n := got.Load() - before; n != 1 || len(jobs) != 0 {
					t.Errorf("%d requests and %d held jobs, want the job attempted at once", n, len(jobs))
				}
				return
			}
			if n := got.Load() - before; n != 0 {
				t.Errorf("the endpoint got %d requests before the job was due", n)
			}
			if len(jobs) != 1 || jobs[0].Attempts != 4 || jobs[0].RetryAfter != tt.retryAfter {
				t.Fatalf("last rung holds %+v, want the job with its 4 attempts and its retry-after", jobs)
			}
			if d := jobs[0].NotBefore.Sub(now); d < tt.want-time.Second || d > tt.want+time.Second {
				t.Errorf("held job due %s from now, want %s", d, tt.want)
			}
			if n := testutil.ToFloat64(p.Metrics.RetriesHeld); n != 1 {
				t.Errorf("retries_held_total = %v", n)
			}
		})
	}
}

// health is a Health that keeps what it is told.
type health struct {
	mu        sync.Mutex
	observed  map[string][]bool
	goneCalls []string
}

func (h *health) Observe(id string, delivered bool, _ time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.observed == nil {
		h.observed = map[string][]bool{}
	}
	h.observed[id] = append(h.observed[id], delivered)
}

func (h *health) Gone(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.goneCalls = append(h.goneCalls, id)
}

// An endpoint that answers 410 Gone: the delivery goes to the DLQ with
// reason gone, and health hears of it.
func TestGoneEndpoint(t *testing.T) {
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	t.Cleanup(gone.Close)
	p, l := newTestProcessor(t, []string{gone.URL}, nil)
	h := &health{}
	p.Health = h
	for i, err := range handleEvents(t, p, 0, 1) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	recs := l.records(t, l.ladder.DLQ)
	if len(recs) != 1 {
		t.Fatalf("DLQ holds %d records, want 1", len(recs))
	}
	if reason, _ := retry.HeaderValue(recs[0], retry.HeaderReason); reason != "gone" {
		t.Errorf("DLQ reason %q, want gone", reason)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.goneCalls) != 1 || h.goneCalls[0] != "sub_a" || len(h.observed["sub_a"]) != 1 || h.observed["sub_a"][0] {
		t.Errorf("health told gone %v, observed %v; want sub_a gone after one failed attempt", h.goneCalls, h.observed)
	}
}

// Retries of a subscription hookstream disabled go to the DLQ, without an
// attempt, with the reason it was disabled for, to be replayed once it is
// enabled again; those of one an operator disabled are dropped.
func TestHandleJobOfADisabledSubscription(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	t.Cleanup(srv.Close)
	tests := []struct {
		name    string
		reason  subscription.DisabledReason
		dlq     string // the DLQ reason; "" when dropped
		dropped float64
	}{
		{"disabled: gone", subscription.DisabledGone, "gone", 0},
		{"disabled: failing", subscription.DisabledFailing, "failing", 0},
		{"disabled by an operator", "", "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, l := newTestProcessor(t, nil, nil)
			sub, err := subscription.Compile(subscription.Subscription{ID: "sub_a", Name: "n", URL: srv.URL,
				Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", MaxAttempts: 5, Timeout: subscription.Duration(time.Second),
				DisabledReason: tt.reason})
			if err != nil {
				t.Fatal(err)
			}
			p.Subscriptions = fixedSet{subscription.NewSet([]*subscription.Compiled{sub})}
			recs := make([]*kgo.Record, 3)
			for i := range recs {
				recs[i] = (&retry.Job{WebhookID: fmt.Sprintf("msg_%d", i), SubscriptionID: "sub_a", Attempts: 2, FirstAttempt: time.Now(),
					Origin: retry.Origin{Topic: "logs", Offset: int64(i)}, Event: []byte(`{}`)}).Record(l.ladder.Rungs[0].Topic, time.Now(), "")
			}
			if err := p.HandleJob(context.Background(), retry.Bundle(l.ladder.Rungs[0].Topic, "sub_a", time.Now(), recs)); err != nil {
				t.Fatal(err)
			}
			if got.Load() != 0 {
				t.Fatalf("a disabled subscription's endpoint got %d requests", got.Load())
			}
			dlq := l.records(t, l.ladder.DLQ)
			if tt.dlq == "" {
				if len(dlq) != 0 {
					t.Errorf("DLQ holds %d records", len(dlq))
				}
			} else {
				if len(dlq) != 3 {
					t.Fatalf("DLQ holds %d records, want 3", len(dlq))
				}
				for _, r := range dlq {
					job, err := retry.JobFromRecord(r)
					if reason, _ := retry.HeaderValue(r, retry.HeaderReason); err != nil || reason != tt.dlq || job.Attempts != 2 {
						t.Errorf("DLQ record: %v, reason %q, job %+v; want reason %s and the attempts unchanged", err, reason, job, tt.dlq)
					}
				}
			}
			if n := testutil.ToFloat64(p.Metrics.JobsDropped.WithLabelValues("subscription_disabled")); n != tt.dropped {
				t.Errorf("jobs dropped = %v, want %v", n, tt.dropped)
			}
		})
	}
}

// A worker whose cache lacks a subscription drops its retries only once
// the store confirms it is gone: a stale cache or an unreachable Redis
// fails the record, to be handled again, and drops nothing.
func TestHandleJobConfirmsBeforeDropping(t *testing.T) {
	tests := []struct {
		name    string
		lookup  func(context.Context, string) (subscription.Subscription, error)
		dropped float64
		failed  bool
	}{
		{"deleted in the store too", func(context.Context, string) (subscription.Subscription, error) {
			return subscription.Subscription{}, subscription.ErrNotFound
		}, 1, false},
		{"the cache is behind", func(_ context.Context, id string) (subscription.Subscription, error) {
			return subscription.Subscription{ID: id, Enabled: true}, nil
		}, 0, true},
		{"redis is unreachable", func(context.Context, string) (subscription.Subscription, error) {
			return subscription.Subscription{}, errors.New("dial tcp 127.0.0.1:6379: connection refused")
		}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, l := newTestProcessor(t, nil, nil)
			p.Lookup = tt.lookup
			job := &retry.Job{WebhookID: "msg_1", SubscriptionID: "sub_stale", Attempts: 1, FirstAttempt: time.Now(),
				Origin: retry.Origin{Topic: "logs"}, Event: []byte(`{}`)}
			err := p.HandleJob(context.Background(), job.Record(l.ladder.Rungs[0].Topic, time.Now(), ""))
			if (err != nil) != tt.failed {
				t.Errorf("HandleJob: %v, want failed %v", err, tt.failed)
			}
			if n := testutil.ToFloat64(p.Metrics.JobsDropped.WithLabelValues("subscription_deleted")); n != tt.dropped {
				t.Errorf("dropped %v, want %v", n, tt.dropped)
			}
		})
	}
}

// withPayloads gives p's subscriptions sub_a, sub_b, … the payloads
// specs, in order.
func withPayloads(t *testing.T, p *Processor, specs ...payload.Spec) {
	t.Helper()
	change(t, p, len(specs), func(i int, s *subscription.Subscription) { s.Payload = specs[i] })
}

// change edits p's first n subscriptions.
func change(t *testing.T, p *Processor, n int, edit func(int, *subscription.Subscription)) {
	t.Helper()
	var subs []*subscription.Compiled
	for i := range n {
		cur, ok := p.Subscriptions.Current().Get("sub_" + string(rune('a'+i)))
		if !ok {
			t.Fatalf("no subscription %d", i)
		}
		s := cur.Subscription
		edit(i, &s)
		c, err := subscription.Compile(s)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, c)
	}
	p.Subscriptions = fixedSet{subscription.NewSet(subs)}
}

// TestRenderFailureIsDeadLettered: an event a subscription's template
// cannot render goes to the DLQ as permanent, with the template's error,
// and the other subscriptions of the event get theirs; a retry renders
// from its job, decoding the event again for a format that reads it.
func TestRenderFailureIsDeadLettered(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	var failing atomic.Bool
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(recv.Close)
	p, l := newTestProcessor(t, []string{recv.URL, recv.URL}, nil)
	// The Slack message, with no template, reads the event's level.
	withPayloads(t, p,
		payload.Spec{Format: payload.Template, Body: `{"order":{{ .order }}}`},
		payload.Spec{Format: payload.Slack})
	failing.Store(true)
	mu.Lock()
	bodies = nil // the warm-up requests
	mu.Unlock()
	for i, err := range handleEvents(t, p, 0, 1) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	dlq := l.records(t, l.ladder.DLQ)
	if len(dlq) != 1 {
		t.Fatalf("DLQ holds %d records, want 1", len(dlq))
	}
	reason, _ := retry.HeaderValue(dlq[0], retry.HeaderReason)
	msg, _ := retry.HeaderValue(dlq[0], retry.HeaderError)
	if reason != "permanent:render_failed" || !strings.Contains(msg, `map has no entry for key "order"`) {
		t.Errorf("DLQ reason %q, error %q", reason, msg)
	}
	// The Slack delivery failed with a 503 and waits on the first rung;
	// its retry is rendered from the job alone.
	jobs, _ := l.jobs(t, l.ladder.Rungs[0].Topic)
	if len(jobs) != 1 || jobs[0].SubscriptionID != "sub_b" {
		t.Fatalf("first rung holds %v, want sub_b's job", jobs)
	}
	failing.Store(false)
	guard, _ := delivery.NewGuard([]string{"127.0.0.0/8"})
	p.Sender = delivery.NewSender(delivery.SenderOptions{Guard: guard}) // its breaker closed
	t.Cleanup(p.Sender.Close)
	rung := l.records(t, l.ladder.Rungs[0].Topic)
	p.Now = func() time.Time { return time.Now().Add(time.Minute) } // the job is due
	if err := p.HandleJob(context.Background(), rung[0]); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || bodies[0] != bodies[1] || !strings.Contains(bodies[1], `"text":"[ERROR] order.failed"`) ||
		!strings.Contains(bodies[1], `"*Level*\nerror"`) {
		t.Errorf("the endpoint got %q, want the same Slack message twice", bodies)
	}
}

// TestSecretsStayOutOfLogsAndRecords: a delivery whose OAuth2 token
// endpoint fails, until it is dead-lettered, writes neither its client
// secret, nor its bearer-like header values, nor its routing key in any
// log line or retry and DLQ record.
func TestSecretsStayOutOfLogsAndRecords(t *testing.T) {
	const clientSecret, routingKey = "cl1ent-s3cret-value", "R0UT1NG-s3cret-key"
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		// A careless token endpoint echoes what it was sent.
		http.Error(w, fmt.Sprintf(`{"error":"invalid_client","error_description":"bad %s %s"}`, clientSecret, r.Header.Get("Authorization")),
			http.StatusUnauthorized)
	}))
	t.Cleanup(tokens.Close)
	recv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(recv.Close)
	p, l := newTestProcessor(t, []string{recv.URL}, nil)
	var logs testenv.Buffer
	p.Logger = zerolog.New(&logs).Level(zerolog.DebugLevel)
	change(t, p, 1, func(_ int, s *subscription.Subscription) {
		s.MaxAttempts = 1
		s.Payload = payload.Spec{Format: payload.PagerDuty, RoutingKey: routingKey}
		s.Auth = &credential.Spec{Type: credential.OAuth2, TokenURL: tokens.URL, ClientID: "hookstream", ClientSecret: clientSecret}
	})
	for i, err := range handleEvents(t, p, 0, 1) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	dlq := l.records(t, l.ladder.DLQ)
	if len(dlq) != 1 {
		t.Fatalf("DLQ holds %d records, want 1", len(dlq))
	}
	if reason, _ := retry.HeaderValue(dlq[0], retry.HeaderReason); reason != "exhausted" {
		t.Errorf("DLQ reason %q", reason)
	}
	written := logs.String()
	for _, r := range dlq {
		for _, h := range r.Headers {
			written += h.Key + "=" + string(h.Value) + "\n"
		}
		written += string(r.Value)
	}
	if !strings.Contains(written, "auth_failed") {
		t.Errorf("nothing says why the delivery failed:\n%s", written)
	}
	basic := base64.StdEncoding.EncodeToString([]byte("hookstream:" + clientSecret))
	for _, secret := range []string{clientSecret, routingKey, basic, url.QueryEscape(clientSecret)} {
		if strings.Contains(written, secret) {
			t.Errorf("%q is written:\n%s", secret, written)
		}
	}
}

// A W3C traceparent on a log event reaches the webhook and the retry
// record: unchanged when no spans are recorded, else as the attempt's
// span, a child of the event's.
func TestTraceContext(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	var got atomic.Value
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("traceparent"))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(healthy.Close)
	rec := tracetest.NewSpanRecorder()
	for _, tt := range []struct {
		name   string
		tracer *tracing.Tracer
	}{{"spans off", nil}, {"spans on", tracing.NewWith(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))}} {
		t.Run(tt.name, func(t *testing.T) {
			p, l := newTestProcessor(t, []string{healthy.URL, downURL(t)}, nil)
			p.Tracer = tt.tracer
			err := p.HandleEvent(context.Background(), &kgo.Record{Topic: "logs", Offset: 1, Timestamp: time.UnixMilli(1714557600000),
				Value: []byte(`{"type":"t"}`), Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte(parent)}}})
			if err != nil {
				t.Fatal(err)
			}
			sent := got.Load().(string)
			jobs, _ := l.jobs(t, l.ladder.Rungs[0].Topic)
			if len(jobs) != 1 || jobs[0].Traceparent != parent {
				t.Fatalf("retry jobs %d, the first with traceparent %q", len(jobs), jobs[0].Traceparent)
			}
			if tt.tracer == nil {
				if sent != parent {
					t.Errorf("webhook traceparent %q, want the event's %q", sent, parent)
				}
				return
			}
			var span sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.SpanContext().SpanID().String() == strings.Split(sent, "-")[2] {
					span = s
				}
			}
			if span == nil || span.Parent().SpanID().String() != "00f067aa0ba902b7" || !strings.HasPrefix(sent, "00-4bf92f3577b34da6a3ce929d0e0e4736-") {
				t.Fatalf("webhook traceparent %q is not an attempt span under the event's", sent)
			}
			attrs := map[string]string{}
			for _, a := range span.Attributes() {
				attrs[string(a.Key)] = a.Value.String()
			}
			if attrs["hookstream.subscription"] != "sub_a" || attrs["hookstream.attempt"] != "1" || attrs["hookstream.rung"] != "input" ||
				attrs["http.response.status_code"] != "204" || attrs["hookstream.outcome"] != "delivered" {
				t.Errorf("span attributes %v", attrs)
			}
		})
	}
}

// Routes names the deliveries a record starts, with the webhook-ids its
// attempts carry, without making them; a poison record starts none.
func TestRoutes(t *testing.T) {
	seen := make(chan string, 4)
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("webhook-id")
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(healthy.Close)
	p, _ := newTestProcessor(t, []string{healthy.URL}, nil)
	<-seen // the warm-up

	rec := &kgo.Record{Topic: "logs", Partition: 1, Offset: 42, Value: []byte(`{"type":"order.failed","level":"error"}`),
		Timestamp: time.UnixMilli(1714557600000)}
	routes := p.Routes(rec)
	want := []Route{{SubscriptionID: "sub_a", WebhookID: WebhookID(retry.Origin{Topic: "logs", Partition: 1, Offset: 42}, rec.Timestamp, "sub_a")}}
	if !slices.Equal(routes, want) {
		t.Fatalf("Routes() = %v, want %v", routes, want)
	}
	select {
	case id := <-seen:
		t.Fatalf("Routes made an attempt (webhook-id %s)", id)
	default:
	}
	if err := p.HandleEvent(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if id := <-seen; id != routes[0].WebhookID {
		t.Errorf("the attempt carried webhook-id %s, Routes said %s", id, routes[0].WebhookID)
	}

	if got := p.Routes(&kgo.Record{Topic: "logs", Value: []byte(`not json`)}); got != nil {
		t.Errorf("Routes(poison) = %v, want none", got)
	}
}

// A failed attempt's history keeps the request as it was sent and the
// start of the response, with every secret masked; a delivered one keeps
// neither.
func TestHistoryKeepsWhatAFailedAttemptSent(t *testing.T) {
	const headerSecret, token, routingKey, querySecret = "hdr-s3cret-value", "b3arer-t0ken-value", "R0UT1NG-s3cret-key", "qu3ry-s3cret"
	var fail atomic.Bool
	fail.Store(true)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fail.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		// A careless endpoint echoes what it was sent.
		body, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "refused %s %s %s", r.Header.Get("X-Api-Key"), r.Header.Get("Authorization"), body)
	}))
	t.Cleanup(recv.Close)
	hist := &attempts{}
	p, l := newTestProcessor(t, []string{recv.URL}, hist)
	p.KeepRequests = true
	change(t, p, 1, func(_ int, s *subscription.Subscription) {
		s.URL = recv.URL + "/hook?key=" + querySecret
		s.MaxAttempts = 1
		s.Headers = map[string]string{"X-Api-Key": headerSecret}
		s.Payload = payload.Spec{Format: payload.PagerDuty, RoutingKey: routingKey}
		s.Auth = &credential.Spec{Type: credential.Bearer, Token: token}
	})
	for i, err := range handleEvents(t, p, 0, 1) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	var failed *history.Attempt
	for _, a := range hist.of("sub_a") {
		if a.Status == http.StatusBadRequest {
			failed = &a
		}
	}
	if failed == nil || failed.Request == nil {
		t.Fatalf("no failed attempt with its request: %+v", hist.of("sub_a"))
	}
	r := failed.Request
	if r.Method != "POST" || r.URL != recv.URL+"/hook?key=…" || r.BodyBytes == 0 || !strings.Contains(r.Body, `"routing_key":"R0UT…"`) {
		t.Errorf("request %+v", r)
	}
	for name, want := range map[string]string{"X-Api-Key": "hdr-…", "Authorization": "(bearer, set when sent)", "Content-Type": "application/json"} {
		if got := r.Headers[name]; got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	if r.Headers["Webhook-Id"] == "" {
		t.Errorf("headers lack webhook-id: %v", r.Headers)
	}
	if !strings.HasPrefix(failed.Response, "refused hdr-…") {
		t.Errorf("response %q", failed.Response)
	}
	kept, _ := json.Marshal(failed)
	// The DLQ record's error quotes the response too.
	dlq := l.records(t, l.ladder.DLQ)
	if len(dlq) != 1 {
		t.Fatalf("DLQ holds %d records, want 1", len(dlq))
	}
	for _, r := range dlq {
		for _, h := range r.Headers {
			kept = fmt.Appendf(kept, "\n%s=%s", h.Key, h.Value)
		}
	}
	for _, secret := range []string{headerSecret, token, routingKey, querySecret} {
		if strings.Contains(string(kept), secret) {
			t.Errorf("the history or the DLQ keeps %q: %s", secret, kept)
		}
	}

	fail.Store(false)
	for i, err := range handleEvents(t, p, 1, 1) {
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	all := hist.of("sub_a")
	if last := all[len(all)-1]; last.Outcome != "delivered" || last.Request != nil || last.Response != "" {
		t.Errorf("a delivered attempt keeps %+v", last)
	}
}
