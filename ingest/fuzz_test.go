package ingest

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/hookstream/hookstream/event"
)

// fuzzFormat reads any bytes as format: each gives events or a
// PoisonError, nothing panics, and every event is a JSON object within
// the limits that reads back, as a retry reads it, with the same fields.
func fuzzFormat(f *testing.F, format Format, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	r := newReader(f, format, nil)
	f.Fuzz(func(t *testing.T, value []byte) {
		evs, err := r.Read(&kgo.Record{Value: value, Timestamp: recordTime})
		if err != nil {
			var p *event.PoisonError
			if !errors.As(err, &p) {
				t.Fatalf("error %v is not a PoisonError", err)
			}
			return
		}
		for _, ev := range evs {
			if !json.Valid(ev.Raw) || len(ev.Raw) > r.maxBytes {
				t.Fatalf("event %q is not JSON within bounds", ev.Raw)
			}
			again, err := r.Stored(ev.Format, ev.Raw)
			if err != nil {
				t.Fatalf("%s: %v", ev.Raw, err)
			}
			if again.Type != ev.Type || again.Level != ev.Level || again.Source != ev.Source || again.Message != ev.Message {
				t.Fatalf("%s reads back as %q %q %q %q", ev.Raw, again.Type, again.Level, again.Source, again.Message)
			}
		}
	})
}

func FuzzOTLP(f *testing.F) {
	proto, _ := (&plog.ProtoMarshaler{}).MarshalLogs(otlpLogs())
	js, _ := (&plog.JSONMarshaler{}).MarshalLogs(otlpLogs())
	fuzzFormat(f, OTLP, proto, js, []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"kvlistValue":{"values":[{"key":"a","value":{"doubleValue":"NaN"}}]}}}]}]}]}`),
		[]byte{0x0a, 0x02, 0x12, 0x00})
}

func FuzzECS(f *testing.F) {
	fuzzFormat(f, ECS, []byte(`{"@timestamp":"2026-12-02T19:30:00Z","log.level":"error","log":{"logger":"x"},"a.b.c":1,"a":{"b":{"d":2}},"a.b":3,"service.name":"s","message":"m"}`),
		[]byte(`{"@timestamp":1733169000000,"..":1,"x.":2}`))
}

func FuzzCloudEvents(f *testing.F) {
	fuzzFormat(f, CloudEvents, []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","time":"2026-12-02T19:45:00Z","data":{"level":"warn","msg":"m"},"ext":1}`),
		[]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"AAEC"}`))
}

func FuzzSyslogJSON(f *testing.F) {
	fuzzFormat(f, SyslogJSON, []byte(rsyslogMessage), []byte(`{"msg":"x","pri":"191","tag":"a[1"}`))
}

func FuzzAuto(f *testing.F) {
	proto, _ := (&plog.ProtoMarshaler{}).MarshalLogs(otlpLogs())
	ce := `{"specversion":"1.0","id":"1","source":"/s","type":"t"}`
	fuzzFormat(f, Auto, proto, []byte(ce), []byte(rsyslogMessage), []byte(`{"@timestamp":"2026-12-02T19:30:00Z","ecs.version":"1.6.0"}`),
		[]byte(`{"type":"x"}`))
}
