package ingest

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"
)

// BenchmarkRead reads 50 log events per iteration in each format: 50 JSON
// records, one OTLP request of 50 log records (in protobuf, and in JSON),
// 50 rsyslog messages. ns/op divided by 50 is the cost per event.
func BenchmarkRead(b *testing.B) {
	jsonRecs := make([]*kgo.Record, 50)
	syslogRecs := make([]*kgo.Record, 50)
	logs := plog.NewLogs()
	sl := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for i := range 50 {
		jsonRecs[i] = &kgo.Record{Value: fmt.Appendf(nil, `{"type":"order.failed","level":"info","source":"svc","message":"order %d failed","metadata":{"amount":%d,"currency":"EUR"}}`, i, i)}
		syslogRecs[i] = &kgo.Record{Value: []byte(rsyslogMessage)}
		lr := sl.LogRecords().AppendEmpty()
		lr.SetEventName("order.failed")
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr(fmt.Sprintf("order %d failed", i))
		lr.Attributes().PutInt("amount", int64(i))
		lr.Attributes().PutStr("currency", "EUR")
	}
	proto, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
	if err != nil {
		b.Fatal(err)
	}
	otlpJSON, err := (&plog.JSONMarshaler{}).MarshalLogs(logs)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		format Format
		recs   []*kgo.Record
	}{
		{"json", JSON, jsonRecs},
		{"otlp", OTLP, []*kgo.Record{{Value: proto}}},
		{"otlp in an auto topic", Auto, []*kgo.Record{{Value: proto}}},
		{"otlp json", OTLP, []*kgo.Record{{Value: otlpJSON}}},
		{"syslog-json", SyslogJSON, syslogRecs},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := newReader(b, bc.format, nil)
			b.ReportAllocs()
			for b.Loop() {
				for _, rec := range bc.recs {
					if _, err := r.Read(rec); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
