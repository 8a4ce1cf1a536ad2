package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/metrics"
)

func produce(t testing.TB, brokers []string, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range n {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func committed(t testing.TB, brokers []string, group, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(context.Background(), group)
	if err != nil {
		return -1
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok {
		return -1
	}
	return o.At
}

func startGroup(t *testing.T, brokers []string, topic string, opts Options, h Handler) (*Group, *metrics.Metrics) {
	t.Helper()
	m := metrics.New(prometheus.NewRegistry())
	opts.Group = "g-" + testenv.Unique()
	opts.Topics = []string{topic}
	opts.Limiter = NewLimiter(64, m.InFlight)
	opts.CommitInterval = 50 * time.Millisecond
	opts.Client = []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.FetchMaxWait(100 * time.Millisecond)}
	opts.Logger = zerolog.New(zerolog.NewTestWriter(t))
	opts.Metrics = m
	g, err := New(opts, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return g, m
}

// TestCommitWaitsForEveryEarlierRecord holds record 3 while the others
// complete: the commit must stop at 3 until it is done.
func TestCommitWaitsForEveryEarlierRecord(t *testing.T) {
	topic := testenv.Topic("logs")
	brokers := testenv.Kafka(t, 1, topic)
	produce(t, brokers, topic, 10)
	release := make(chan struct{})
	var mu sync.Mutex
	seen := map[int64]bool{}
	g, _ := startGroup(t, brokers, topic, Options{}, func(ctx context.Context, r *kgo.Record) error {
		if r.Offset == 3 {
			<-release
		}
		mu.Lock()
		seen[r.Offset] = true
		mu.Unlock()
		return nil
	})
	testenv.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 9
	}, "the nine unblocked records were not processed")
	testenv.Eventually(t, 5*time.Second, func() bool { return committed(t, brokers, g.opts.Group, topic) == 3 },
		"commit did not reach 3")
	// It stays there while record 3 is in flight, across several commit intervals.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if c := committed(t, brokers, g.opts.Group, topic); c != 3 {
			t.Fatalf("committed %d while offset 3 is in flight", c)
		}
	}
	close(release)
	testenv.Eventually(t, 5*time.Second, func() bool { return committed(t, brokers, g.opts.Group, topic) == 10 },
		"commit did not reach 10 after the last record completed")
}

// TestFailedRecordIsNotCommitted: a record whose handler fails is never
// passed, so a restart gets it again.
func TestFailedRecordIsNotCommitted(t *testing.T) {
	topic := testenv.Topic("logs")
	brokers := testenv.Kafka(t, 1, topic)
	produce(t, brokers, topic, 5)
	var mu sync.Mutex
	n := 0
	g, _ := startGroup(t, brokers, topic, Options{}, func(ctx context.Context, r *kgo.Record) error {
		mu.Lock()
		n++
		mu.Unlock()
		if r.Offset == 2 {
			return fmt.Errorf("no durable outcome")
		}
		return nil
	})
	testenv.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return n == 5 }, "records not processed")
	testenv.Eventually(t, 5*time.Second, func() bool { return committed(t, brokers, g.opts.Group, topic) == 2 }, "commit did not stop at 2")
}

// TestRecordsWaitUntilDue: a rung's records are handed over no earlier
// than their due time, with the partition paused meanwhile.
func TestRecordsWaitUntilDue(t *testing.T) {
	topic := testenv.Topic("retry")
	brokers := testenv.Kafka(t, 1, topic)
	const delay = 700 * time.Millisecond
	type got struct{ due, at time.Time }
	var mu sync.Mutex
	var handled []got
	due := func(r *kgo.Record) time.Time { return r.Timestamp.Add(delay) }
	g, m := startGroup(t, brokers, topic, Options{Due: due}, func(ctx context.Context, r *kgo.Record) error {
		mu.Lock()
		handled = append(handled, got{due(r), time.Now()})
		mu.Unlock()
		return nil
	})
	produce(t, brokers, topic, 3)
	testenv.Eventually(t, 5*time.Second, func() bool { return testutil.ToFloat64(m.Paused.WithLabelValues(g.opts.Group)) == 1 },
		"partition was not paused while its head waited")
	testenv.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) == 3 }, "records not handled")
	for i, h := range handled {
		if h.at.Before(h.due) {
			t.Errorf("record %d handled %s before it was due", i, h.due.Sub(h.at))
		}
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return testutil.ToFloat64(m.Paused.WithLabelValues(g.opts.Group)) == 0 },
		"partition still paused after draining")
}

// noTopic is a topic pattern that matches nothing: a group whose client
// joins in the background and is never assigned anything, for tests that
// drive assignments by hand.
func noTopic() []string { return []string{"^no-topic-" + testenv.Unique() + "$"} }

// TestRevokedAssignmentCannotCommit: a record that completes after its
// partition was revoked must not move the offsets of the next assignment.
func TestRevokedAssignmentCannotCommit(t *testing.T) {
	topic := testenv.Topic("logs")
	brokers := testenv.Kafka(t, 1, topic)
	m := metrics.New(prometheus.NewRegistry())
	g, err := New(Options{
		Group: "g-" + testenv.Unique(), Topics: noTopic(), Regex: true, Limiter: NewLimiter(8, nil),
		Client: []kgo.Opt{kgo.SeedBrokers(brokers...)}, Logger: zerolog.New(zerolog.NewTestWriter(t)), Metrics: m,
		RevokeWait: 10 * time.Millisecond, // record 0 is taken but never sent: do not wait for it
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.cl.Close)
	ctx := context.Background()
	tp := map[string][]int32{topic: {0}}

	g.assigned(ctx, g.cl, tp)
	old := g.parts[topicPartition{topic, 0}]
	old.queue = []*kgo.Record{{Topic: topic, Offset: 0}, {Topic: topic, Offset: 1}}
	g.runCtx = ctx
	r0, s0, _ := g.take(old)
	_, s1, _ := g.take(old)
	old.track.done(s1) // offset 1 done, 0 still in flight

	g.revoked(ctx, g.cl, tp)
	g.assigned(ctx, g.cl, tp)
	fresh := g.parts[topicPartition{topic, 0}]
	if fresh == old {
		t.Fatal("reassignment reused the revoked state")
	}
	// The in-flight record of the old assignment completes now.
	old.mu.Lock()
	if !old.revoked {
		t.Fatal("old state not marked revoked")
	}
	old.mu.Unlock()
	g.handle = func(context.Context, *kgo.Record) error { return nil }
	t.Cleanup(g.startWork(ctx))
	if err := g.opts.Limiter.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	g.dispatch(old, s0, r0)
	g.wg.Wait()
	if c := old.track.committable(); c != -1 {
		t.Errorf("revoked state advanced to %d", c)
	}
	if c := fresh.track.committable(); c != -1 {
		t.Errorf("new assignment has committable %d from the old one", c)
	}
}

// TestRevocationWaitsForRecordsInFlight: a revocation takes no more
// records of its partitions and waits, up to RevokeWait, for those in
// flight, so that the progress it commits covers them; one that outlasts
// the wait is left to the next owner.
func TestRevocationWaitsForRecordsInFlight(t *testing.T) {
	topic := testenv.Topic("logs")
	brokers := testenv.Kafka(t, 1, topic)
	tests := []struct {
		name          string
		handling      time.Duration // how long the record in flight takes
		closing       bool          // the group is shutting down: Run waits instead
		committable   int64         // after the revocation returns
		minTook, most time.Duration // how long the revocation took
	}{
		{"finishes within the wait", 100 * time.Millisecond, false, 1, 100 * time.Millisecond, 2 * time.Second},
		{"outlasts the wait", 3 * time.Second, false, -1, 200 * time.Millisecond, 2 * time.Second},
		{"shutting down", 300 * time.Millisecond, true, -1, 0, 150 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(Options{
				Group: "g-" + testenv.Unique(), Topics: noTopic(), Regex: true, Limiter: NewLimiter(8, nil),
				Client: []kgo.Opt{kgo.SeedBrokers(brokers...)}, Logger: zerolog.New(zerolog.NewTestWriter(t)),
				Metrics: metrics.New(prometheus.NewRegistry()), RevokeWait: 200 * time.Millisecond,
			}, func(context.Context, *kgo.Record) error { time.Sleep(tt.handling); return nil })
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(g.cl.Close)
			ctx := context.Background()
			tp := map[string][]int32{topic: {0}}
			g.runCtx = ctx
			t.Cleanup(g.startWork(ctx))
			g.assigned(ctx, g.cl, tp)
			p := g.parts[topicPartition{topic, 0}]
			p.queue = []*kgo.Record{{Topic: topic, Offset: 0}, {Topic: topic, Offset: 1}}
			rec, seq, _ := g.take(p)
			if err := g.opts.Limiter.Acquire(ctx); err != nil {
				t.Fatal(err)
			}
			g.dispatch(p, seq, rec)
			g.mu.Lock()
			g.closing = tt.closing
			g.mu.Unlock()

			start := time.Now()
			g.revoked(ctx, g.cl, tp)
			took := time.Since(start)
			if took < tt.minTook || took > tt.most {
				t.Errorf("revocation took %s, want %s to %s", took, tt.minTook, tt.most)
			}
			p.mu.Lock()
			got, queued := p.track.committable(), len(p.queue)
			p.mu.Unlock()
			if got != tt.committable {
				t.Errorf("committable after the revocation = %d, want %d", got, tt.committable)
			}
			if queued != 0 {
				t.Errorf("%d records still queued on a revoked partition", queued)
			}
			g.wg.Wait()
		})
	}
}

// TestReadsCommittedRecordsOnly: records of an aborted transaction are
// never handled; those of a committed one and plain records are.
func TestReadsCommittedRecordsOnly(t *testing.T) {
	topic := testenv.Topic("logs")
	brokers := testenv.Kafka(t, 1, topic)
	tx, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.TransactionalID("tx-"+testenv.Unique()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tx.Close)
	ctx := context.Background()
	for _, end := range []struct {
		value  string
		commit kgo.TransactionEndTry
	}{{"aborted", kgo.TryAbort}, {"committed", kgo.TryCommit}} {
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := tx.ProduceSync(ctx, &kgo.Record{Value: []byte(end.value)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := tx.EndTransaction(ctx, end.commit); err != nil {
			t.Fatalf("end transaction of %q: %v", end.value, err)
		}
	}
	produce(t, brokers, topic, 1) // "0", outside any transaction

	var mu sync.Mutex
	var seen []string
	g, _ := startGroup(t, brokers, topic, Options{}, func(_ context.Context, r *kgo.Record) error {
		mu.Lock()
		seen = append(seen, string(r.Value))
		mu.Unlock()
		return nil
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	// Once the group has committed the whole partition, every record it
	// would handle has been handled.
	testenv.Eventually(t, 10*time.Second, func() bool { return committed(t, brokers, g.opts.Group, topic) == end.Offset },
		"group did not commit up to offset %d", end.Offset)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(seen)
	if fmt.Sprint(seen) != "[0 committed]" {
		t.Errorf("handled %q, want the committed record and the plain one only", seen)
	}
}

// TestFailedHandlerIsRetried: a record whose handling fails is handled
// again, with backoff, until it has an outcome, and then committed; while
// it fails, Failing says so.
func TestFailedHandlerIsRetried(t *testing.T) {
	topic := testenv.Topic("logs")
	brokers := testenv.Kafka(t, 1, topic)
	produce(t, brokers, topic, 5)
	var tries atomic.Int32
	release := make(chan struct{})
	g, m := startGroup(t, brokers, topic, Options{}, func(_ context.Context, r *kgo.Record) error {
		if string(r.Value) != "2" {
			return nil
		}
		switch n := tries.Add(1); {
		case n < 3:
			return errors.New("write to hookstream.retry.1s: NOT_ENOUGH_REPLICAS")
		case n == 3:
			<-release // failing, observed below
			return errors.New("still failing")
		}
		return nil
	})
	testenv.Eventually(t, 10*time.Second, func() bool { return tries.Load() == 3 }, "record not handled again")
	if n, err := g.Failing(); n != 1 || err == nil || !strings.Contains(err.Error(), "NOT_ENOUGH_REPLICAS") {
		t.Errorf("Failing() = %d, %v; want the record and its error", n, err)
	}
	if c := committed(t, brokers, g.opts.Group, topic); c > 2 {
		t.Errorf("committed %d past a record without an outcome", c)
	}
	close(release)
	testenv.Eventually(t, 10*time.Second, func() bool { return committed(t, brokers, g.opts.Group, topic) == 5 },
		"offsets not committed once the record was handled")
	if n, _ := g.Failing(); n != 0 {
		t.Errorf("Failing() = %d after success", n)
	}
	if got := testutil.ToFloat64(m.HandlerRetries.WithLabelValues(g.opts.Group)); got != 3 {
		t.Errorf("handler_retries_total = %v, want 3", got)
	}
}

// TestHeadWaitIsBounded: a record due a century ahead (a clock that
// jumped, a producer's header) waits at the head of its partition no
// longer than MaxWait, and the records behind it are not held longer.
func TestHeadWaitIsBounded(t *testing.T) {
	topic := testenv.Topic("retry")
	brokers := testenv.Kafka(t, 1, topic)
	produce(t, brokers, topic, 3)
	var mu sync.Mutex
	handled := map[string]time.Time{}
	start := time.Now()
	startGroup(t, brokers, topic, Options{
		Due: func(r *kgo.Record) time.Time {
			if string(r.Value) == "0" {
				return time.Now().AddDate(100, 0, 0)
			}
			return time.Time{}
		},
		MaxWait: 300 * time.Millisecond,
	}, func(_ context.Context, r *kgo.Record) error {
		mu.Lock()
		handled[string(r.Value)] = time.Now()
		mu.Unlock()
		return nil
	})
	testenv.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) == 3 },
		"records behind a head due in a century not handled")
	mu.Lock()
	defer mu.Unlock()
	// Each waited behind the head for MaxWait, and no longer than a few
	// polls after it.
	for v, at := range handled {
		if waited := at.Sub(start); waited < 300*time.Millisecond || waited > 5*time.Second {
			t.Errorf("record %s handled %s after start, want after the head's MaxWait (300ms)", v, waited)
		}
	}
}

// TestRecordsDueFarAheadWaitTogether: a run of records each due a
// century ahead, fetched together, waits out MaxWait once, not once each.
func TestRecordsDueFarAheadWaitTogether(t *testing.T) {
	topic := testenv.Topic("retry")
	brokers := testenv.Kafka(t, 1, topic)
	produce(t, brokers, topic, 3)
	const maxWait = time.Second
	var mu sync.Mutex
	handled := map[string]time.Duration{}
	start := time.Now()
	startGroup(t, brokers, topic, Options{
		Due:     func(*kgo.Record) time.Time { return time.Now().AddDate(100, 0, 0) },
		MaxWait: maxWait,
	}, func(_ context.Context, r *kgo.Record) error {
		mu.Lock()
		handled[string(r.Value)] = time.Since(start)
		mu.Unlock()
		return nil
	})
	testenv.Eventually(t, 10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(handled) == 3 },
		"records due in a century not handled")
	mu.Lock()
	defer mu.Unlock()
	for v, waited := range handled {
		if waited < maxWait || waited > maxWait+800*time.Millisecond {
			t.Errorf("record %s handled %s after start, want once MaxWait (%s) is over", v, waited, maxWait)
		}
	}
}

// TestArrivalsAreForgotten: what a group notes of each fetch is dropped
// as its records are taken, whether or not they had to wait.
func TestArrivalsAreForgotten(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no due times", Options{}},
		{"due at once", Options{Due: func(*kgo.Record) time.Time { return time.Time{} }, MaxWait: time.Second}},
		{"due far ahead", Options{Due: func(*kgo.Record) time.Time { return time.Now().AddDate(1, 0, 0) }, MaxWait: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := testenv.Topic("retry")
			brokers := testenv.Kafka(t, 1, topic)
			var handled atomic.Int32
			g, _ := startGroup(t, brokers, topic, tt.opts, func(context.Context, *kgo.Record) error { handled.Add(1); return nil })
			for range 5 { // several fetches
				produce(t, brokers, topic, 20)
				time.Sleep(20 * time.Millisecond)
			}
			testenv.Eventually(t, 10*time.Second, func() bool { return handled.Load() == 100 }, "%d of 100 handled", handled.Load())
			g.mu.Lock()
			defer g.mu.Unlock()
			for tp, p := range g.parts {
				p.mu.Lock()
				if n := len(p.arrivals); n != 0 {
					t.Errorf("%v: %d fetches still noted after every record was taken", tp, n)
				}
				p.mu.Unlock()
			}
		})
	}
}
