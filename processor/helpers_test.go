package processor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/history"
	"github.com/hookstream/hookstream/ingest"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/metrics"
	"github.com/hookstream/hookstream/payload"
	"github.com/hookstream/hookstream/retry"
	"github.com/hookstream/hookstream/subscription"
)

// downURL is an address nothing listens on: the first attempt to it is
// refused, which opens its breaker in a test processor.
func downURL(t testing.TB) string {
	t.Helper()
	return "http://" + testenv.FreeAddr(t)
}

// testLadder is where a test processor writes: two rungs and a DLQ, on a
// broker of its own.
type testLadder struct {
	brokers []string
	ladder  retry.Ladder
}

// newTestProcessor returns a processor whose subscriptions sub_a, sub_b, …
// post to urls, with a breaker that opens at the first failure: each URL
// gets one attempt first, so a URL that is down has its breaker open.
// Each of mods changes its options.
func newTestProcessor(t testing.TB, urls []string, hist History, mods ...func(*Options)) (*Processor, testLadder) {
	t.Helper()
	rungs := []string{testenv.Topic("retry-1s"), testenv.Topic("retry-2s")}
	dlq := testenv.Topic("dlq")
	brokers := testenv.Kafka(t, 3, append(rungs, dlq)...)
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)

	var subs []*subscription.Compiled
	for i, u := range urls {
		s, err := subscription.Compile(subscription.Subscription{ID: "sub_" + string(rune('a'+i)), Name: "test", URL: u,
			Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Enabled: true, MaxAttempts: 5,
			Timeout: subscription.Duration(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	guard, err := delivery.NewGuard([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	sender := delivery.NewSender(delivery.SenderOptions{Guard: guard, MaxIdleConnsPerHost: 128,
		BreakerFailures: 1, BreakerCooldown: time.Hour, MaxPerEndpoint: 128})
	t.Cleanup(sender.Close)
	for _, s := range subs {
		sender.Send(context.Background(), s, &delivery.Request{Request: payload.Request{Body: []byte(`{}`)}, WebhookID: "msg_warmup"})
	}
	events, err := ingest.NewReader(ingest.Options{
		JSON: event.Locations{Type: []string{"type"}, Level: []string{"level"}, Source: []string{"source"},
			Timestamp: []string{"time"}, Message: []string{"message"}},
		Topics:   map[string]ingest.Format{"otel": ingest.OTLP},
		MaxBytes: 1 << 20, MaxDepth: 32})
	if err != nil {
		t.Fatal(err)
	}
	ladder := retry.Ladder{DLQ: dlq}
	for i, topic := range rungs {
		ladder.Rungs = append(ladder.Rungs, retry.Rung{Topic: topic, Delay: time.Duration(i+1) * time.Second})
	}
	opts := Options{Events: events, Subscriptions: fixedSet{subscription.NewSet(subs)}, Sender: sender, Producer: producer,
		Ladder: ladder, Metrics: metrics.New(prometheus.NewRegistry()), Logger: zerolog.Nop(), History: hist,
		Linger: 5 * time.Millisecond}
	for _, mod := range mods {
		mod(&opts)
	}
	p := New(opts)
	return p, testLadder{brokers: brokers, ladder: ladder}
}

type fixedSet struct{ set *subscription.Set }

func (f fixedSet) Current() *subscription.Set { return f.set }

// records reads every record of topic written so far.
func (l testLadder) records(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(l.brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offsets, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var ends int64
	offsets.Each(func(o kadm.ListedOffset) { ends += o.Offset })
	var out []*kgo.Record
	for int64(len(out)) < ends {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: %d of %d records: %v", topic, len(out), ends, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// jobs reads every job written to topic so far, bundled or not, and
// the number of records that carried them.
func (l testLadder) jobs(t testing.TB, topic string) ([]*retry.Job, int) {
	t.Helper()
	recs := l.records(t, topic)
	var out []*retry.Job
	for _, r := range recs {
		if retry.IsBundle(r) {
			_, jobs, err := retry.JobsFromBundle(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, jobs...)
			continue
		}
		job, err := retry.JobFromRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, job)
	}
	return out, len(recs)
}

// attempts is a History that keeps what it is told.
type attempts struct {
	mu  sync.Mutex
	all map[string][]history.Attempt
}

func (a *attempts) Record(sub string, at history.Attempt) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.all == nil {
		a.all = map[string][]history.Attempt{}
	}
	a.all[sub] = append(a.all[sub], at)
}

func (a *attempts) of(sub string) []history.Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]history.Attempt(nil), a.all[sub]...)
}
