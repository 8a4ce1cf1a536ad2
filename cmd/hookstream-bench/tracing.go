package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/subscription"
)

// tracingCost: the drain of n events, one subscription, three ways one
// after the other: records without trace context; records with a W3C
// traceparent and spans off (the default: the header is passed on); the
// same with spans exported over OTLP/HTTP to a local sink that answers
// 200. Deliveries/s and CPU per 10k deliveries side by side.
func (b *bench) tracingCost(n int) []row {
	var exports atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		exports.Add(1)
	}))
	defer sink.Close()
	type result struct {
		rate, cpu float64
		rss       int64
	}
	measure := func(name string, headers []kgo.RecordHeader, endpoint string) result {
		b.headers, b.tracing = headers, endpoint
		defer func() { b.headers, b.tracing = nil, "" }()
		rc := newReceiver(false)
		defer rc.close()
		p, _ := b.run("tracing-"+name, []subscription.Subscription{{ID: "all", Name: "all", URL: rc.srv.URL}}, func(topic string) {
			check(b.produce(topic, n, 0, func(i int) []byte { return event(i, "info", i, 0) }))
		}, 6)
		defer p.stop()
		if !rc.waitCount(int64(n), 10*time.Minute) {
			check(fmt.Errorf("tracing %s: %d of %d delivered", name, rc.count.Load(), n))
		}
		cpu, rss := p.usage()
		return result{rate: float64(n) / time.Duration(rc.last.Load()-rc.first.Load()).Seconds(), cpu: cpu, rss: rss}
	}
	traceparent := []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}
	none := measure("none", nil, "")
	off := measure("off", traceparent, "")
	on := measure("on", traceparent, sink.URL+"/v1/traces")
	per10k := func(r result) float64 { return r.cpu / float64(n) * 10000 }
	rows := []row{}
	for _, c := range []struct {
		what string
		r    result
	}{{"no trace context", none}, {"a traceparent on each record, spans off (default)", off}, {"a traceparent on each record, spans exported over OTLP", on}} {
		rows = append(rows, row{Scenario: fmt.Sprintf("tracing: drain of %d events, %s", n, c.what),
			Result: fmt.Sprintf("%.0f deliveries/s (%.2f× the first), %.2f CPU s / 10k (%.2f×)", c.r.rate, c.r.rate/none.rate, per10k(c.r), per10k(c.r)/per10k(none)),
			Value:  c.r.rate, Unit: "deliveries/s", Target: "report", Met: c.r.rss < rssLimit, Deliveries: int64(n), CPUSeconds: c.r.cpu, PeakRSS: c.r.rss})
	}
	rows[1].Target = "spans off: ≥ 0.9× the deliveries/s without trace context"
	rows[1].Met = rows[1].Met && off.rate >= 0.9*none.rate
	rows[2].Result += fmt.Sprintf("; %d exports received", exports.Load())
	return rows
}
