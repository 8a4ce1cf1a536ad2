package processor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/delivery"
)

func TestWebhookID(t *testing.T) {
	at := time.UnixMilli(1714557600123)
	base := WebhookID(delivery.Origin{Topic: "logs", Partition: 1, Offset: 42}, at, "sub_1")
	if !regexp.MustCompile(`^msg_[a-z2-7]{26}$`).MatchString(base) {
		t.Fatalf("WebhookID = %q, want msg_ and 26 base32 characters", base)
	}
	if again := WebhookID(delivery.Origin{Topic: "logs", Partition: 1, Offset: 42}, at, "sub_1"); again != base {
		t.Errorf("not stable: %s then %s", base, again)
	}
	others := []struct {
		name   string
		origin delivery.Origin
		at     time.Time
		sub    string
	}{
		{"other subscription", delivery.Origin{Topic: "logs", Partition: 1, Offset: 42}, at, "sub_2"},
		{"other offset", delivery.Origin{Topic: "logs", Partition: 1, Offset: 43}, at, "sub_1"},
		{"other partition", delivery.Origin{Topic: "logs", Partition: 2, Offset: 42}, at, "sub_1"},
		{"other topic", delivery.Origin{Topic: "logs2", Partition: 1, Offset: 42}, at, "sub_1"},
		{"recreated topic", delivery.Origin{Topic: "logs", Partition: 1, Offset: 42}, at.Add(time.Hour), "sub_1"},
		{"topic and subscription run together", delivery.Origin{Topic: "log", Partition: 1, Offset: 42}, at, "ssub_1"},
	}
	for _, o := range others {
		if id := WebhookID(o.origin, o.at, o.sub); id == base {
			t.Errorf("%s: same id %s", o.name, id)
		}
	}
}

func TestDLQLabelIsBounded(t *testing.T) {
	tests := map[string]string{
		"exhausted":                     "exhausted",
		"permanent:http_4xx":            "permanent:http_4xx",
		"permanent:destination_blocked": "permanent:destination_blocked",
		"poison:invalid_json":           "poison",
	}
	for in, want := range tests {
		if got := dlqLabel(in); got != want {
			t.Errorf("dlqLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

// An event matching a healthy endpoint and one whose breaker is open is
// delivered to the first and, for the second, written to the rung that
// waits out the breaker's cooldown (an hour: the last one), with the
// refusal counted and in the history.
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
			recs := l.records(t, l.ladder.Rungs[1].Topic)
			if len(recs) != written {
				t.Fatalf("last rung holds %d records, want %d", len(recs), written)
			}
			for _, r := range recs {
				job, err := delivery.JobFromRecord(r)
				if err != nil {
					t.Fatal(err)
				}
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
		if a.Reason != "circuit_open" || a.Next != "retry:2s" || a.Rung != "" {
			t.Fatalf("history attempt %+v, want circuit_open then retry:2s", a)
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
// event, so that its offset is not committed, and leaves no history.
func TestHandleEventRefusedAndUnwritable(t *testing.T) {
	hist := &attempts{}
	p, _ := newTestProcessor(t, []string{downURL(t)}, hist)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.HandleEvent(ctx, &kgo.Record{Topic: "logs", Value: []byte(`{"type":"order.failed"}`), Timestamp: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "write to") {
		t.Fatalf("HandleEvent = %v, want a write error", err)
	}
	if n := len(hist.of("sub_a")); n != 0 {
		t.Errorf("history holds %d attempts of an unwritten delivery", n)
	}
}
