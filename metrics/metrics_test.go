package metrics

import (
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestChildren checks that the children looked up without the vectors'
// locks are the vectors' own: what is counted through them is exported,
// under the right labels, from many goroutines at once.
func TestChildren(t *testing.T) {
	m := New(prometheus.NewRegistry())
	const goroutines, each = 8, 100
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				m.Consumed("logs").Inc()
				m.Read([]string{"json", "otlp"}[g%2]).Add(2)
				m.Attempt("delivered", "").Inc()
				m.Attempt("retryable", "http_5xx").Inc()
				m.AttemptTook("delivered").Observe(0.002)
			}
		})
	}
	wg.Wait()
	const n = goroutines * each
	tests := []struct {
		name string
		got  prometheus.Collector
		want float64
	}{
		{"events_consumed_total{topic=logs}", m.EventsConsumed.WithLabelValues("logs"), n},
		{"events_read_total{format=json}", m.EventsRead.WithLabelValues("json"), n},
		{"events_read_total{format=otlp}", m.EventsRead.WithLabelValues("otlp"), n},
		{"delivery_attempts_total{outcome=delivered,reason=}", m.Deliveries.WithLabelValues("delivered", ""), n},
		{"delivery_attempts_total{outcome=retryable,reason=http_5xx}", m.Deliveries.WithLabelValues("retryable", "http_5xx"), n},
	}
	for _, tt := range tests {
		if got := testutil.ToFloat64(tt.got); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := testutil.CollectAndCount(m.Deliveries); got != 2 {
		t.Errorf("delivery_attempts_total has %d series, want 2", got)
	}
	if got := testutil.CollectAndCount(m.AttemptDuration); got != 1 {
		t.Errorf("delivery_attempt_duration_seconds has %d series, want 1", got)
	}
	if m.Attempt("delivered", "") != m.Deliveries.WithLabelValues("delivered", "") {
		t.Error("Attempt() is not the vector's own child")
	}
}

// BenchmarkAttempt compares counting an attempt through the vector's
// WithLabelValues with counting it through Attempt, on every CPU at once.
//
//	go test -run '^$' -bench Attempt ./metrics
func BenchmarkAttempt(b *testing.B) {
	m := New(prometheus.NewRegistry())
	for _, bc := range []struct {
		name  string
		count func()
	}{
		{"WithLabelValues", func() { m.Deliveries.WithLabelValues("delivered", "").Inc() }},
		{"Attempt", func() { m.Attempt("delivered", "").Inc() }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					bc.count()
				}
			})
		})
	}
}
