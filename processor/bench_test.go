package processor

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookstream/hookstream/retry"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkHandleEvent measures the work of one log event, many at once,
// for a healthy endpoint, for one whose circuit breaker is open (the event
// is written to the first retry rung) and for both. The producer writes to
// kfake in this process, so its cost is part of the figure.
//
//	go test -run '^$' -bench HandleEvent -benchmem ./processor
func BenchmarkHandleEvent(b *testing.B) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(healthy.Close)
	down := downURL(b)

	cases := []struct {
		name string
		urls []string
	}{
		{"healthy", []string{healthy.URL}},
		{"breaker_open", []string{down}},
		{"healthy+breaker_open", []string{healthy.URL, down}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p, _ := newTestProcessor(b, c.urls, nil)
			rec := &kgo.Record{Topic: "logs", Value: []byte(`{"type":"order.failed","level":"error","source":"billing",` +
				`"time":"2026-05-01T10:00:00Z","message":"card declined","order":{"id":"ord_1","amount":4200,"currency":"EUR"},` +
				`"customer":"cus_123","tags":["eu","card"],"request_id":"req_4f1c2a"}`), Timestamp: time.Now()}
			b.ReportAllocs()
			b.SetParallelism(192) // 384 records in flight on 2 CPUs, as delivery.max_in_flight
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := *rec
				for pb.Next() {
					if err := p.HandleEvent(context.Background(), &r); err != nil {
						b.Error(err)
						return
					}
					r.Offset++
				}
			})
		})
	}
}

// BenchmarkHandleJobRefused measures a bundle of 64 jobs read back from a
// rung while their endpoint's breaker is open: each is refused and goes
// on to the next rung, together. The figure is per job.
//
//	go test -run '^$' -bench HandleJobRefused -benchmem ./processor
func BenchmarkHandleJobRefused(b *testing.B) {
	p, l := newTestProcessor(b, []string{downURL(b)}, nil)
	event := []byte(`{"type":"order.failed","level":"error","source":"billing","time":"2026-05-01T10:00:00Z","message":"card declined"}`)
	recs := make([]*kgo.Record, 64)
	for i := range recs {
		recs[i] = (&retry.Job{WebhookID: fmt.Sprintf("msg_%026d", i), SubscriptionID: "sub_a", Attempts: 1, FirstAttempt: time.Now(),
			Origin: retry.Origin{Topic: "logs", Offset: int64(i)}, EventType: "order.failed", EventTime: time.Now(),
			LastReason: "circuit_open", LastError: "circuit breaker open", Event: event}).Record(l.ladder.Rungs[0].Topic, time.Now(), "")
	}
	bundle := retry.Bundle(l.ladder.Rungs[0].Topic, "sub_a", time.Now(), recs)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := p.HandleJob(context.Background(), bundle); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/job")
}
