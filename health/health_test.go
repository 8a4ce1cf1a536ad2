package health

import (
	"context"
	"encoding/json"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/subscription"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// fixture is a store holding one enabled subscription, and the topic
// system events go to.
type fixture struct {
	store   *subscription.Store
	brokers []string
	topic   string
	opts    Options
	clock   *atomic.Int64 // unix ms
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	topic := testenv.Topic("logs")
	brokers := testenv.Kafka(t, 1, topic)
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	store := subscription.NewStore(rdb, prefix)
	now := time.Unix(1_800_000_000, 0)
	sub := subscription.Subscription{ID: "sub_1", Name: "orders", URL: "https://user:pw@example.com/hook?token=secret",
		Enabled: true, Secret: subscription.NewSecret(), MaxAttempts: 5, Timeout: subscription.Duration(time.Second),
		CreatedAt: now, UpdatedAt: now}
	if err := store.Create(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, brokers: brokers, topic: topic, clock: new(atomic.Int64)}
	f.clock.Store(now.UnixMilli())
	f.opts = Options{Store: store, Redis: rdb, Prefix: prefix, DisableOnGone: true, DisableAfter: time.Hour,
		Producer: producer, Topic: topic, Disabled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "disabled"}, []string{"reason"}),
		Logger: zerolog.New(zerolog.NewTestWriter(t)), Now: f.now}
	return f
}

func (f *fixture) now() time.Time { return time.UnixMilli(f.clock.Load()) }

func (f *fixture) advance(d time.Duration) time.Time {
	return time.UnixMilli(f.clock.Add(d.Milliseconds()))
}

// events reads the system events published so far.
func (f *fixture) events(t *testing.T) []Event {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.ConsumeTopics(f.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []Event
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			var ev Event
			if err := json.Unmarshal(r.Value, &ev); err != nil {
				t.Errorf("system event %s: %v", r.Value, err)
			}
			out = append(out, ev)
		})
		if n == 0 {
			return out
		}
	}
}

func TestGoneDisablesAtOnceAndTellsOnce(t *testing.T) {
	f := newFixture(t)
	m := New(f.opts)
	m.Gone("sub_1")
	m.Gone("sub_1")
	m.flush(context.Background())
	m.Gone("sub_1") // a worker that had not heard yet
	m.flush(context.Background())

	sub, err := f.store.Get(context.Background(), "sub_1")
	if err != nil {
		t.Fatal(err)
	}
	if sub.Enabled || sub.DisabledReason != subscription.DisabledGone || sub.DisabledAt == nil || !sub.DisabledAt.Equal(f.now()) {
		t.Errorf("after a 410: enabled %v, reason %q, at %v; want disabled for gone now", sub.Enabled, sub.DisabledReason, sub.DisabledAt)
	}
	if n := testutil.ToFloat64(f.opts.Disabled.WithLabelValues("gone")); n != 1 {
		t.Errorf("disabled metric = %v, want 1", n)
	}
	evs := f.events(t)
	if len(evs) != 1 {
		t.Fatalf("%d system events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Type != EventType || ev.Source != "hookstream" || ev.Level != "warn" || ev.Reason != "gone" ||
		ev.Subscription.ID != "sub_1" || ev.Subscription.Name != "orders" || ev.Subscription.URL != "https://example.com/…" ||
		!ev.Timestamp.Equal(f.now()) || ev.Message == "" {
		t.Errorf("system event %+v", ev)
	}
}

func TestGoneOfAnUnknownSubscriptionIsNothing(t *testing.T) {
	f := newFixture(t)
	m := New(f.opts)
	m.Gone("sub_deleted")
	m.flush(context.Background())
	if n := len(m.gone); n != 0 {
		t.Errorf("%d subscriptions left to disable", n)
	}
	if evs := f.events(t); len(evs) != 0 {
		t.Errorf("system events %+v", evs)
	}
}

// TestFailingForDisableAfter: a subscription is disabled once every
// attempt to it, as two workers saw them, has failed for an hour.
func TestFailingForDisableAfter(t *testing.T) {
	type step struct {
		after     time.Duration // since the previous step
		worker    int
		delivered bool
	}
	tests := []struct {
		name     string
		steps    []step
		disabled bool
	}{
		{"failing for an hour", []step{{0, 0, false}, {30 * time.Minute, 1, false}, {30 * time.Minute, 0, false}}, true},
		{"failing for less", []step{{0, 0, false}, {59 * time.Minute, 1, false}}, false},
		{"another worker delivered meanwhile", []step{{0, 0, false}, {10 * time.Minute, 1, true}, {50 * time.Minute, 0, false}}, false},
		{"failing for an hour since the last success", []step{{0, 1, true}, {time.Minute, 0, false}, {time.Hour, 1, false}}, true},
		{"delivered last", []step{{0, 0, false}, {2 * time.Hour, 1, true}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			workers := []*Monitor{New(f.opts), New(f.opts)}
			for _, st := range tt.steps {
				at := f.advance(st.after)
				workers[st.worker].Observe("sub_1", st.delivered, at)
				workers[st.worker].flush(context.Background())
			}
			sub, err := f.store.Get(context.Background(), "sub_1")
			if err != nil {
				t.Fatal(err)
			}
			if got := !sub.Enabled; got != tt.disabled {
				t.Fatalf("disabled = %v, want %v", got, tt.disabled)
			}
			if tt.disabled && sub.DisabledReason != subscription.DisabledFailing {
				t.Errorf("disabled for %q", sub.DisabledReason)
			}
			if n := len(f.events(t)); n != map[bool]int{true: 1}[tt.disabled] {
				t.Errorf("%d system events", n)
			}
		})
	}
}

func TestObserveIsOffWithoutDisableAfter(t *testing.T) {
	f := newFixture(t)
	f.opts.DisableAfter = 0
	m := New(f.opts)
	m.Observe("sub_1", false, f.now())
	if len(m.seen) != 0 {
		t.Error("attempts observed with delivery.disable_after 0")
	}
}
