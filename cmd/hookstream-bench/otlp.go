package main

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/hookstream/hookstream/subscription"
)

// otlpPerRecord is how many log records an OTLP record of the otlp
// scenario carries.
const otlpPerRecord = 50

// otlpRecord is an OTLP logs request in protobuf, as the OpenTelemetry
// Collector's Kafka exporter writes it, carrying the log records first to
// first+otlpPerRecord-1 with what event() gives a JSON event: 2% errors,
// a bucket per event.
func otlpRecord(first int) []byte {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", fmt.Sprintf("svc-%d", first/otlpPerRecord%100))
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("orders")
	for i := first; i < first+otlpPerRecord; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetEventName("order.failed")
		lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		if i%50 == 0 {
			lr.SetSeverityNumber(plog.SeverityNumberError)
		}
		lr.Body().SetStr(fmt.Sprintf("order %d failed", i))
		a := lr.Attributes()
		a.PutInt("id", int64(i))
		a.PutInt("amount", int64(i%1000))
		a.PutInt("bucket", int64(i%100))
		a.PutStr("currency", "EUR")
		a.PutStr("customer", fmt.Sprintf("cus_%08d", i))
		tags := a.PutEmptySlice("tags")
		tags.AppendEmpty().SetStr("bench")
		tags.AppendEmpty().SetStr("eu")
	}
	value, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
	check(err)
	return value
}

// otlp: the same log events as JSON records, one event each, and as OTLP
// protobuf records of 50 log records, run one after the other against
// 100 subscriptions that 2% of the events match: events read per second
// and CPU per event, side by side.
func (b *bench) otlp(n int) []row {
	n = n / otlpPerRecord * otlpPerRecord
	type result struct {
		rate, cpu float64
		rss       int64
		delivered int64
		format    string
	}
	measure := func(format string) result {
		rc := newReceiver(false)
		defer rc.close()
		path := "metadata.bucket"
		if format == "otlp" {
			path = "attributes.bucket"
		}
		subs := make([]subscription.Subscription, 100)
		for j := range subs {
			subs[j] = subscription.Subscription{ID: fmt.Sprintf("sub_%03d", j), Name: "o", URL: rc.srv.URL,
				Filter: subscription.Filter{Levels: []string{"error"},
					Where: []subscription.Predicate{{Path: path, Op: subscription.OpEq, Value: float64(j)}}}}
		}
		b.format = format
		defer func() { b.format = "" }()
		p, _ := b.run("otlp-"+format, subs, func(topic string) {
			if format == "otlp" {
				check(b.produce(topic, n/otlpPerRecord, 0, func(i int) []byte { return otlpRecord(i * otlpPerRecord) }))
				return
			}
			check(b.produce(topic, n, 0, func(i int) []byte {
				level := "info"
				if i%50 == 0 {
					level = "error"
				}
				return event(i, level, i%100, 0)
			}))
		}, 6)
		defer p.stop()
		rate := countRate(p, "hookstream_events_read_total", n, "otlp "+format)
		if !rc.waitCount(int64(n/50), time.Minute) {
			check(fmt.Errorf("otlp: %d of %d %s deliveries", rc.count.Load(), n/50, format))
		}
		cpu, rss := p.usage()
		return result{rate: rate, cpu: cpu, rss: rss, delivered: rc.count.Load(), format: format}
	}
	js := measure("json")
	ot := measure("otlp")
	perEvent := func(r result) float64 { return r.cpu / float64(n) * 1e6 } // CPU µs per event
	ratio := perEvent(ot) / perEvent(js)
	rows := []row{}
	for _, r := range []result{js, ot} {
		what := "JSON records, one event each"
		if r.format == "otlp" {
			what = fmt.Sprintf("OTLP protobuf records of %d log records", otlpPerRecord)
		}
		rows = append(rows, row{Scenario: fmt.Sprintf("otlp: %d events as %s, 100 subscriptions, 2%% matching", n, what),
			Result: fmt.Sprintf("%.0f events/s read and matched; %.1f CPU µs per event (whole process) (%d delivered)", r.rate, perEvent(r), r.delivered),
			Value:  r.rate, Unit: "events/s", Target: "report", Met: r.rss < rssLimit, Deliveries: r.delivered, CPUSeconds: r.cpu, PeakRSS: r.rss})
	}
	rows[1].Target = "CPU per event ≤ JSON's"
	rows[1].Met = rows[1].Met && ratio <= 1
	rows[1].Result += fmt.Sprintf("; %.2f× JSON's CPU per event, %.2f× its events/s", ratio, ot.rate/js.rate)
	return rows
}
