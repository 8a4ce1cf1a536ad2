package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkace "github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.elastic.co/ecszerolog"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/hookstream/hookstream/event"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// recordTime is the Kafka timestamp of the test records.
var recordTime = time.Date(2026, 12, 2, 20, 0, 0, 0, time.UTC)

func newReader(t testing.TB, def Format, overrides map[Format]event.Locations) *Reader {
	t.Helper()
	r, err := NewReader(Options{
		Default: def,
		JSON: event.Locations{
			Type: []string{"type", "event_type"}, Level: []string{"level", "severity"},
			Source: []string{"source", "service"}, Timestamp: []string{"timestamp", "@timestamp", "time"},
			Message: []string{"message", "msg"},
		},
		Overrides: overrides,
		MaxBytes:  1 << 20, MaxDepth: 32,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// otlpLogs builds logs as an OpenTelemetry SDK exports them: one
// service, one scope, a record per severity band and body kind.
func otlpLogs() plog.Logs {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("host.name", "web-1")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("checkout/payments")
	sl.Scope().SetVersion("1.4.0")

	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 12, 2, 19, 59, 58, 123456789, time.UTC)))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 12, 2, 19, 59, 59, 0, time.UTC)))
	lr.SetSeverityNumber(plog.SeverityNumberError)
	lr.SetSeverityText("ERROR")
	lr.SetEventName("payment.failed")
	lr.Body().SetStr("card declined")
	lr.Attributes().PutStr("order_id", "o-1001")
	lr.Attributes().PutInt("http.status_code", 502)
	lr.Attributes().PutDouble("amount", 42.5)
	lr.Attributes().PutBool("retryable", true)
	tags := lr.Attributes().PutEmptySlice("tags")
	tags.AppendEmpty().SetStr("eu")
	tags.AppendEmpty().SetInt(7)
	lr.SetTraceID(pcommon.TraceID{0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c})
	lr.SetSpanID(pcommon.SpanID{0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74})

	lr = sl.LogRecords().AppendEmpty()
	lr.SetSeverityNumber(plog.SeverityNumberWarn2)
	lr.Attributes().PutStr("event.name", "stock.low")
	body := lr.Body().SetEmptyMap()
	body.PutStr("msg", "only 3 left")
	body.PutInt("sku", 12)
	body.PutEmptyBytes("raw").FromRaw([]byte{0, 1, 2})

	lr = sl.LogRecords().AppendEmpty()
	lr.SetSeverityText("Notice")
	lr.Body().SetInt(3)
	return logs
}

func TestOTLP(t *testing.T) {
	logs := otlpLogs()
	proto, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
	if err != nil {
		t.Fatal(err)
	}
	jsonValue, err := (&plog.JSONMarshaler{}).MarshalLogs(logs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		format Format
		value  []byte
	}{
		{"proto as otlp", OTLP, proto},
		{"json as otlp", OTLP, jsonValue},
		{"otlp_proto", OTLPProto, proto},
		{"otlp_json", OTLPJSON, jsonValue},
		{"proto as auto", Auto, proto},
		{"json as auto", Auto, jsonValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := read(t, newReader(t, tt.format, nil), &kgo.Record{Value: tt.value})
			want := []struct{ typ, level, source, message string }{
				{"payment.failed", "error", "checkout", "card declined"},
				{"stock.low", "warn", "checkout", "only 3 left"},
				{"", "notice", "checkout", "3"},
			}
			if len(evs) != len(want) {
				t.Fatalf("%d events, want %d", len(evs), len(want))
			}
			for i, w := range want {
				ev := evs[i]
				if ev.Type != w.typ || ev.Level != w.level || ev.Source != w.source || ev.Message != w.message || ev.Format != "otlp" {
					t.Errorf("event %d: %q %q %q %q %q, want %v", i, ev.Type, ev.Level, ev.Source, ev.Message, ev.Format, w)
				}
			}
			if got := evs[0].Time; !got.Equal(time.Date(2026, 12, 2, 19, 59, 58, 123456789, time.UTC)) {
				t.Errorf("time %v", got)
			}
			if got := evs[0].Traceparent; got != "00-5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174-00" {
				t.Errorf("traceparent of a record with trace and span IDs: %q", got)
			}
			if got := evs[1].Traceparent; got != "" {
				t.Errorf("traceparent of a record without: %q", got)
			}
			if got := evs[2].Time; !got.Equal(recordTime) {
				t.Errorf("time of a record without one: %v, want the record's", got)
			}
			golden(t, "otlp.json", evs)
		})
	}
}

func TestOTLPSeverities(t *testing.T) {
	tests := []struct {
		n    plog.SeverityNumber
		text string
		want string
	}{
		{plog.SeverityNumberTrace, "", "trace"}, {plog.SeverityNumberTrace4, "", "trace"},
		{plog.SeverityNumberDebug, "", "debug"}, {plog.SeverityNumberDebug4, "", "debug"},
		{plog.SeverityNumberInfo, "", "info"}, {plog.SeverityNumberInfo4, "", "info"},
		{plog.SeverityNumberWarn, "", "warn"}, {plog.SeverityNumberWarn4, "", "warn"},
		{plog.SeverityNumberError, "ignored", "error"}, {plog.SeverityNumberError4, "", "error"},
		{plog.SeverityNumberFatal, "", "fatal"}, {plog.SeverityNumberFatal4, "", "fatal"},
		{plog.SeverityNumberUnspecified, "", ""}, {plog.SeverityNumberUnspecified, "Critical", "critical"},
	}
	for _, tt := range tests {
		logs := plog.NewLogs()
		lr := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetSeverityNumber(tt.n)
		lr.SetSeverityText(tt.text)
		value, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
		if err != nil {
			t.Fatal(err)
		}
		evs := read(t, newReader(t, OTLP, nil), &kgo.Record{Value: value})
		if evs[0].Level != tt.want {
			t.Errorf("severity %d %q: level %q, want %q", tt.n, tt.text, evs[0].Level, tt.want)
		}
	}
}

// ecsLine is what Elastic's ECS logger for zerolog writes for one entry.
func ecsLine(t *testing.T, write func(zerolog.Logger)) []byte {
	t.Helper()
	saved := []any{zerolog.MessageFieldName, zerolog.ErrorFieldName, zerolog.TimeFieldFormat,
		zerolog.TimestampFieldName, zerolog.TimestampFunc, zerolog.LevelFieldName, zerolog.CallerSkipFrameCount}
	t.Cleanup(func() {
		zerolog.MessageFieldName, zerolog.ErrorFieldName = saved[0].(string), saved[1].(string)
		zerolog.TimeFieldFormat, zerolog.TimestampFieldName = saved[2].(string), saved[3].(string)
		zerolog.TimestampFunc, zerolog.LevelFieldName = saved[4].(func() time.Time), saved[5].(string)
		zerolog.CallerSkipFrameCount = saved[6].(int)
	})
	var buf bytes.Buffer
	logger := ecszerolog.New(&buf)
	zerolog.TimestampFunc = func() time.Time { return time.Date(2026, 12, 2, 19, 30, 0, 0, time.UTC) }
	write(logger)
	return bytes.TrimSpace(buf.Bytes())
}

func TestECS(t *testing.T) {
	line := ecsLine(t, func(l zerolog.Logger) {
		l.Error().Str("event.action", "payment-failed").Str("service.name", "checkout").
			Dict("http", zerolog.Dict().Dict("response", zerolog.Dict().Int("status_code", 502))).
			Str("http.request.method", "POST").Msg("card declined")
	})
	for _, format := range []Format{ECS, Auto} {
		t.Run(string(format), func(t *testing.T) {
			evs := read(t, newReader(t, format, nil), &kgo.Record{Value: line})
			ev := evs[0]
			if ev.Type != "payment-failed" || ev.Level != "error" || ev.Source != "checkout" || ev.Message != "card declined" ||
				!ev.Time.Equal(time.Date(2026, 12, 2, 19, 30, 0, 0, time.UTC)) {
				t.Errorf("well-known fields %q %q %q %q %v", ev.Type, ev.Level, ev.Source, ev.Message, ev.Time)
			}
			// Dotted and nested keys meet in one object.
			for _, path := range [][]string{{"ecs", "http", "response", "status_code"}, {"ecs", "http", "request", "method"}, {"ecs", "log", "level"}} {
				if _, ok := ev.Lookup(path); !ok {
					t.Errorf("no %s in %s", strings.Join(path, "."), ev.Raw)
				}
			}
			golden(t, "ecs.json", evs)
		})
	}
}

// kafkaCloudEvent is the Kafka record the CloudEvents SDK's Kafka binding
// writes for ev in the mode ctx asks for.
func kafkaCloudEvent(t *testing.T, ctx context.Context, ev cloudevents.Event) *kgo.Record {
	t.Helper()
	var msg sarama.ProducerMessage
	if err := kafkace.WriteProducerMessage(ctx, binding.ToMessage(&ev), &msg); err != nil {
		t.Fatal(err)
	}
	value, err := msg.Value.Encode()
	if err != nil {
		t.Fatal(err)
	}
	rec := &kgo.Record{Value: value, Timestamp: recordTime}
	for _, h := range msg.Headers {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: string(h.Key), Value: h.Value})
	}
	return rec
}

func TestCloudEvents(t *testing.T) {
	ev := cloudevents.NewEvent()
	ev.SetID("evt-1")
	ev.SetSource("/checkout")
	ev.SetType("com.example.payment.failed")
	ev.SetSubject("order/1001")
	ev.SetTime(time.Date(2026, 12, 2, 19, 45, 0, 0, time.UTC))
	ev.SetExtension("tenant", "acme")
	if err := ev.SetData(cloudevents.ApplicationJSON, map[string]any{"level": "ERROR", "message": "card declined", "amount": 42}); err != nil {
		t.Fatal(err)
	}
	modes := map[string]context.Context{
		"binary":     binding.WithForceBinary(context.Background()),
		"structured": binding.WithForceStructured(context.Background()),
	}
	for mode, ctx := range modes {
		for _, format := range []Format{CloudEvents, Auto} {
			t.Run(mode+"/"+string(format), func(t *testing.T) {
				evs := read(t, newReader(t, format, nil), kafkaCloudEvent(t, ctx, ev))
				got := evs[0]
				if got.Type != "com.example.payment.failed" || got.Source != "/checkout" || got.Level != "error" ||
					got.Message != "card declined" || !got.Time.Equal(ev.Time()) {
					t.Errorf("well-known fields %q %q %q %q %v", got.Type, got.Source, got.Level, got.Message, got.Time)
				}
				if v, ok := got.Lookup([]string{"data", "amount"}); !ok || v != 42.0 {
					t.Errorf("data.amount = %v %v", v, ok)
				}
				golden(t, "cloudevents.json", evs)
			})
		}
	}
	t.Run("text data", func(t *testing.T) {
		e := ev.Clone()
		if err := e.SetData("text/plain", "disk full"); err != nil {
			t.Fatal(err)
		}
		got := read(t, newReader(t, CloudEvents, nil), kafkaCloudEvent(t, binding.WithForceBinary(context.Background()), e))[0]
		if got.Message != "disk full" {
			t.Errorf("message %q", got.Message)
		}
	})
}

// rsyslogMessage is what rsyslog 8.2302 (Debian 12) wrote to Kafka with
// omkafka and the template "%jsonmesg%" for
// `logger -p auth.err -t sshd -i "Failed password for root from 10.0.0.9"`.
const rsyslogMessage = `{ "msg": " Failed password for root from 10.0.0.9", "rawmsg": "<35>Dec  2 20:25:05 sshd[4242]: Failed password for root from 10.0.0.9", ` +
	`"timereported": "2026-12-02T20:25:05.342438+00:00", "hostname": "web-1", "syslogtag": "sshd[4242]:", "inputname": "imuxsock", ` +
	`"fromhost": "web-1", "fromhost-ip": "127.0.0.1", "pri": "35", "syslogfacility": "4", "syslogseverity": "3", ` +
	`"timegenerated": "2026-12-02T20:25:05.342438+00:00", "programname": "sshd", "protocol-version": "0", "structured-data": "-", ` +
	`"app-name": "sshd", "procid": "4242", "msgid": "-", "uuid": null, "$!": null }`

func TestSyslogJSON(t *testing.T) {
	tests := []struct {
		name, value                         string
		typ, level, source, message, golden string
	}{
		{"jsonmesg", rsyslogMessage, "syslog.auth", "error", "sshd", "Failed password for root from 10.0.0.9", "syslog.json"},
		{"own template", `{"@timestamp":"2026-12-02T20:00:02Z","host":"db-1","severity":"warning","facility":"local3","tag":"postgres[77]:","message":"slow query"}`,
			"syslog.local3", "warn", "postgres", "slow query", ""},
		{"msgid", `{"msg":"x","syslogseverity":7,"app-name":"api","msgid":"ID47"}`, "ID47", "debug", "api", "x", ""},
		{"pri only", `{"msg":"y","pri":"14"}`, "syslog.user", "info", "", "y", ""},
		{"escapes", `{"msg":"say \"hi\"\u00e9\t","programname":"a\/b","syslogseverity":"6"}`, "syslog", "info", "a/b", `say "hi"é`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := read(t, newReader(t, SyslogJSON, nil), &kgo.Record{Value: []byte(tt.value)})
			ev := evs[0]
			if ev.Type != tt.typ || ev.Level != tt.level || ev.Source != tt.source || ev.Message != tt.message {
				t.Errorf("got %q %q %q %q, want %q %q %q %q", ev.Type, ev.Level, ev.Source, ev.Message, tt.typ, tt.level, tt.source, tt.message)
			}
			if tt.golden != "" {
				golden(t, tt.golden, evs)
			}
		})
	}
	t.Run("auto", func(t *testing.T) {
		if ev := read(t, newReader(t, Auto, nil), &kgo.Record{Value: []byte(rsyslogMessage)})[0]; ev.Format != "syslog-json" {
			t.Errorf("format %q", ev.Format)
		}
	})
}

func TestSyslogSeverities(t *testing.T) {
	for n, want := range []string{"error", "error", "error", "error", "warn", "info", "info", "debug"} {
		for _, sev := range []string{strconv.Itoa(n), syslogSeverities[n]} {
			ev := read(t, newReader(t, SyslogJSON, nil), &kgo.Record{Value: []byte(`{"msg":"m","syslogseverity":"` + sev + `"}`)})[0]
			if ev.Level != want {
				t.Errorf("severity %s: level %q, want %q", sev, ev.Level, want)
			}
			if v, _ := ev.Lookup([]string{"severity_name"}); v != syslogSeverities[n] {
				t.Errorf("severity %s: severity_name %v", sev, v)
			}
		}
	}
}

func TestJSONUnchanged(t *testing.T) {
	value := []byte(`{"type":"order.created","level":"INFO","source":"shop","message":"hi"}`)
	for _, format := range []Format{JSON, Auto} {
		ev := read(t, newReader(t, format, nil), &kgo.Record{Value: value})[0]
		if !bytes.Equal(ev.Raw, value) || ev.Format != "" || ev.Type != "order.created" || ev.Level != "info" {
			t.Errorf("%s: %s %q %q %q", format, ev.Raw, ev.Format, ev.Type, ev.Level)
		}
	}
}

func TestOverrides(t *testing.T) {
	r := newReader(t, SyslogJSON, map[Format]event.Locations{
		SyslogJSON: {Type: []string{`syslog["app-name"]`}, Source: []string{"hostname"}},
	})
	ev := read(t, r, &kgo.Record{Value: []byte(rsyslogMessage)})[0]
	if ev.Type != "sshd" || ev.Source != "web-1" || ev.Level != "error" {
		t.Errorf("got %q %q %q", ev.Type, ev.Source, ev.Level)
	}
	// The event's own members agree with its fields.
	if v, _ := ev.Lookup([]string{"type"}); v != "sshd" {
		t.Errorf("type member %v", v)
	}
	if _, err := NewReader(Options{Overrides: map[Format]event.Locations{JSON: {}}, MaxBytes: 1, MaxDepth: 1}); err == nil {
		t.Error("overrides of json accepted")
	}
}

func TestPoison(t *testing.T) {
	logs := plog.NewLogs()
	logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
	proto, _ := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
	deep := plog.NewLogs()
	v := deep.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body()
	for range 40 {
		v = v.SetEmptySlice().AppendEmpty()
	}
	deepProto, _ := (&plog.ProtoMarshaler{}).MarshalLogs(deep)
	tests := []struct {
		name    string
		format  Format
		rec     *kgo.Record
		reason  event.Reason
		contain string
	}{
		{"otlp garbage", OTLP, &kgo.Record{Value: []byte{0x0a, 0xff, 0xff}}, ReasonInvalidOTLP, "otlp: not an ExportLogsServiceRequest in protobuf"},
		{"otlp bad json", OTLP, &kgo.Record{Value: []byte(`{"resourceLogs":7}`)}, ReasonInvalidOTLP, "in JSON"},
		{"otlp_json given proto", OTLPJSON, &kgo.Record{Value: proto}, ReasonInvalidOTLP, "otlp_json: the value is not JSON"},
		{"otlp_proto given json", OTLPProto, &kgo.Record{Value: []byte(`{}`)}, ReasonInvalidOTLP, "otlp_proto"},
		{"otlp too deep", OTLP, &kgo.Record{Value: deepProto}, event.ReasonTooDeep, "otlp: a value nests deeper"},
		{"ecs not json", ECS, &kgo.Record{Value: []byte(`log.level=info`)}, ReasonInvalidECS, "ecs: value is not JSON"},
		{"ecs no timestamp", ECS, &kgo.Record{Value: []byte(`{"message":"x"}`)}, ReasonInvalidECS, "no @timestamp"},
		{"ecs bad timestamp", ECS, &kgo.Record{Value: []byte(`{"@timestamp":"yesterday"}`)}, ReasonInvalidECS, "not an RFC 3339"},
		{"ce no id", CloudEvents, &kgo.Record{Value: []byte(`{"specversion":"1.0","source":"/x","type":"t"}`)}, ReasonInvalidCloudEvents, "id is missing"},
		{"ce old version", CloudEvents, &kgo.Record{Value: []byte(`{"specversion":"0.3","id":"1","source":"/x","type":"t"}`)}, ReasonInvalidCloudEvents, `specversion is "0.3"`},
		{"ce binary no type", CloudEvents, &kgo.Record{Value: []byte(`{}`), Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("1")}, {Key: "ce_source", Value: []byte("/x")}}},
			ReasonInvalidCloudEvents, "type is missing"},
		{"ce repeated header", CloudEvents, &kgo.Record{Value: []byte(`{}`), Headers: []kgo.RecordHeader{
			{Key: "ce_specversion", Value: []byte("0.3")}, {Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("1")},
			{Key: "ce_source", Value: []byte("/x")}, {Key: "ce_type", Value: []byte("t")}}},
			ReasonInvalidCloudEvents, `specversion is "0.3"`},
		{"ce bad time", CloudEvents, &kgo.Record{Value: []byte(`{"specversion":"1.0","id":"1","source":"/x","type":"t","time":"noon"}`)}, ReasonInvalidCloudEvents, "not an RFC 3339"},
		{"ce not json", CloudEvents, &kgo.Record{Value: []byte(`<xml/>`)}, ReasonInvalidCloudEvents, "cloudevents: value is not JSON"},
		{"syslog no msg", SyslogJSON, &kgo.Record{Value: []byte(`{"syslogseverity":"3"}`)}, ReasonInvalidSyslog, "no msg or message"},
		{"syslog array", SyslogJSON, &kgo.Record{Value: []byte(`[1]`)}, ReasonInvalidSyslog, "syslog-json: value is JSON but not an object"},
		{"too large", SyslogJSON, &kgo.Record{Value: bytes.Repeat([]byte(" "), 1<<20+1)}, event.ReasonTooLarge, "limit"},
		{"auto not json", Auto, &kgo.Record{Value: []byte(`hello`)}, event.ReasonInvalidJSON, "not JSON"},
		{"auto binary not OTLP", Auto, &kgo.Record{Value: []byte{0x0a, 0xff, 0xff}}, event.ReasonInvalidUTF8, "not valid UTF-8"},
		{"auto OTLP too deep", Auto, &kgo.Record{Value: deepProto}, event.ReasonTooDeep, "otlp: a value nests deeper"},
		{"auto too large", Auto, &kgo.Record{Value: bytes.Repeat([]byte{0x0a}, 1<<20+1)}, event.ReasonTooLarge, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := newReader(t, tt.format, nil).Read(tt.rec)
			var p *event.PoisonError
			if !errors.As(err, &p) {
				t.Fatalf("got %d events and %v, want a poison error", len(evs), err)
			}
			if p.Reason != tt.reason || !strings.Contains(p.Detail, tt.contain) {
				t.Errorf("got %s: %s; want %s containing %q", p.Reason, p.Detail, tt.reason, tt.contain)
			}
		})
	}
}

func TestTopicFormats(t *testing.T) {
	r, err := NewReader(Options{Default: JSON, Topics: map[string]Format{"otel": OTLP}, MaxBytes: 1 << 10, MaxDepth: 8})
	if err != nil {
		t.Fatal(err)
	}
	if r.FormatOf("otel") != OTLP || r.FormatOf("logs") != JSON {
		t.Errorf("formats %s %s", r.FormatOf("otel"), r.FormatOf("logs"))
	}
}

// read reads rec, stamped with recordTime, and checks each event as a
// retried delivery would see it.
func read(t *testing.T, r *Reader, rec *kgo.Record) []*event.Event {
	t.Helper()
	if rec.Timestamp.IsZero() {
		rec.Timestamp = recordTime
	}
	evs, err := r.Read(rec)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		again, err := r.Stored(ev.Format, ev.Raw)
		if err != nil {
			t.Fatalf("event %d as stored: %v", i, err)
		}
		if again.Type != ev.Type || again.Level != ev.Level || again.Source != ev.Source || again.Message != ev.Message ||
			(ev.Format != "" && !again.Time.Equal(ev.Time)) {
			t.Errorf("event %d as stored: %q %q %q %q %v, read as %q %q %q %q %v", i,
				again.Type, again.Level, again.Source, again.Message, again.Time, ev.Type, ev.Level, ev.Source, ev.Message, ev.Time)
		}
	}
	return evs
}

// golden compares the events, indented, with testdata/name: the shape
// each format's events have, as the README shows it. go test ./ingest
// -update rewrites them.
func golden(t *testing.T, name string, evs []*event.Event) {
	t.Helper()
	var out bytes.Buffer
	for _, ev := range evs {
		if err := json.Indent(&out, ev.Raw, "", "  "); err != nil {
			t.Fatalf("%s: %v", ev.Raw, err)
		}
		out.WriteByte('\n')
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; go test ./ingest -update writes it", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("%s differs:\n got: %s\nwant: %s", path, out.Bytes(), want)
	}
}

// A body that is neither a string nor a map with a message is the
// message as JSON, whatever members come before it in the event.
func TestOTLPBodyAsMessage(t *testing.T) {
	logs := plog.NewLogs()
	lrs := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetEmptyMap().PutInt("code", 7) // nothing before the body
	lr := lrs.AppendEmpty()
	lr.SetSeverityNumber(plog.SeverityNumberWarn)
	lr.Body().SetEmptySlice().AppendEmpty().SetStr("a")
	value, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
	if err != nil {
		t.Fatal(err)
	}
	evs := read(t, newReader(t, OTLP, nil), &kgo.Record{Value: value})
	for i, want := range []string{`{"code":7}`, `["a"]`} {
		if evs[i].Message != want {
			t.Errorf("event %d: message %q, want %q", i, evs[i].Message, want)
		}
	}
}

func TestInvalidUTF8InOTLP(t *testing.T) {
	logs := plog.NewLogs()
	lr := logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetEventName("a\xff\xfeb")
	lr.Body().SetStr("m\xc3")
	value, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
	if err != nil {
		t.Fatal(err)
	}
	ev := read(t, newReader(t, OTLP, nil), &kgo.Record{Value: value})[0]
	if ev.Type != "a\uFFFD\uFFFDb" || ev.Message != "m\uFFFD" {
		t.Errorf("type %q message %q", ev.Type, ev.Message)
	}
}

// A converted event is written into one buffer, sized before it is
// written: an event and its bytes are two allocations, whatever the
// timestamp's precision.
func TestWriteSizesItsBuffer(t *testing.T) {
	r := newReader(t, OTLP, nil)
	rec := &kgo.Record{Timestamp: recordTime}
	detail := []byte(`"attributes":{"order_id":"o-1001"}`)
	for _, ts := range []time.Time{{}, time.Date(2026, 12, 2, 19, 59, 58, 123456789, time.UTC)} {
		k := known{typ: "payment.failed", level: "error", source: "checkout", message: "card declined", time: ts}
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := r.write(rec, "otlp", k, detail); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 2 {
			t.Errorf("timestamp %v: %v allocations, want 2", ts, allocs)
		}
	}
}

// TestSyslogTimes: the time a syslog message was reported, written as
// RFC 3339 or as unix seconds or milliseconds, in a string or a number;
// text that is neither gives none, and the record's time stands.
func TestSyslogTimes(t *testing.T) {
	tests := []struct {
		name, member string
		want         time.Time
	}{
		{"RFC 3339 with a fraction", `"2026-12-02T20:25:05.342438+00:00"`, time.Date(2026, 12, 2, 20, 25, 5, 342438000, time.UTC)},
		{"unix seconds as text", `"1764706800"`, time.Unix(1764706800, 0)},
		{"unix milliseconds as text", `"1764706800123"`, time.UnixMilli(1764706800123)},
		{"unix seconds as a number", `1764706800`, time.Unix(1764706800, 0)},
		{"syslog's nil value", `"-"`, recordTime},
		{"a hexadecimal number", `"0x1p30"`, recordTime},
		{"neither", `"yesterday"`, recordTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := read(t, newReader(t, SyslogJSON, nil), &kgo.Record{Value: []byte(`{"msg":"m","timereported":` + tt.member + `}`)})[0]
			if !ev.Time.Equal(tt.want) {
				t.Errorf("time %v, want %v", ev.Time, tt.want)
			}
		})
	}
}
