package ingest

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hookstream/hookstream/event"
)

// Protobuf fields, written by hand for what an exporter may write but
// the Collector's marshaler never does: fields out of order, repeated,
// unknown.
func lenField(n protowire.Number, fields ...[]byte) []byte {
	b := protowire.AppendTag(nil, n, protowire.BytesType)
	return protowire.AppendBytes(b, slices.Concat(fields...))
}

func strField(n protowire.Number, s string) []byte { return lenField(n, []byte(s)) }

func varintField(n protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, n, protowire.VarintType), v)
}

func fixed64Field(n protowire.Number, v uint64) []byte {
	return protowire.AppendFixed64(protowire.AppendTag(nil, n, protowire.Fixed64Type), v)
}

// kv is a KeyValue field n with value, an AnyValue's fields.
func kv(n protowire.Number, key string, value ...[]byte) []byte {
	return lenField(n, strField(keyValueKey, key), lenField(keyValueValue, value...))
}

// request wraps log records in a request of one resource and scope.
func request(records ...[]byte) []byte {
	var lrs [][]byte
	for _, r := range records {
		lrs = append(lrs, lenField(scopeLogsLogRecords, r))
	}
	return lenField(requestResourceLogs, lenField(resourceLogsScopeLogs, lrs...))
}

// stricter are the errors of bytes the Collector reads although they
// are not protobuf, which hookstream refuses:
//   - a group: the Collector takes an unknown group's first field as its
//     end, and OTLP, a proto3 schema, has no groups;
//   - a field number of more than 29 bits: the Collector reads the low 32
//     bits of the tag;
//   - a varint of more than 64 bits: the Collector drops the bits beyond.
var stricter = []string{" is a group", "invalid field number", "variable length integer overflow"}

// sameAsCollector reads value, and the request the Collector's own
// unmarshaler makes of it written out again by its marshaler, and
// reports a difference between their events. It reports false if the
// Collector refuses value.
func sameAsCollector(t *testing.T, r *Reader, value []byte) bool {
	t.Helper()
	logs, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(value)
	if err != nil {
		return false
	}
	canonical, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
	if err != nil {
		t.Fatalf("the Collector reads %x but cannot write it: %v", value, err)
	}
	got, gotErr := r.Read(&kgo.Record{Value: value, Timestamp: recordTime})
	want, wantErr := r.Read(&kgo.Record{Value: canonical, Timestamp: recordTime})
	var p *event.PoisonError
	if errors.As(gotErr, &p) && slices.ContainsFunc(stricter, func(s string) bool { return strings.Contains(p.Detail, s) }) {
		return true
	}
	if gotErr != nil || wantErr != nil {
		var g, w *event.PoisonError
		if !errors.As(gotErr, &g) || !errors.As(wantErr, &w) || g.Reason != w.Reason {
			t.Fatalf("%x reads as %v; as the Collector writes it, %v", value, gotErr, wantErr)
		}
		return true
	}
	if len(got) != len(want) {
		t.Fatalf("%x reads as %d events; as the Collector writes it, %d", value, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if string(g.Raw) != string(w.Raw) || g.Traceparent != w.Traceparent || g.Type != w.Type ||
			g.Level != w.Level || g.Source != w.Source || g.Message != w.Message || !g.Time.Equal(w.Time) {
			t.Fatalf("event %d of %x:\n got %s %q\nwant %s %q", i, value, g.Raw, g.Traceparent, w.Raw, w.Traceparent)
		}
	}
	return true
}

// TestOTLPAsTheCollector: a request whose fields come out of order,
// repeated or unknown is read as the OpenTelemetry Collector reads it
// (the last of a repeated scalar, messages merged, unknown fields
// skipped).
func TestOTLPAsTheCollector(t *testing.T) {
	record := slices.Concat(
		fixed64Field(recordTimestamp, 1_733_169_000_000_000_000),
		varintField(recordSeverity, 17),
		strField(recordEventName, "payment.failed"),
		lenField(recordBody, strField(valueString, "card declined")),
		kv(recordAttributes, "amount", varintField(valueInt, 42)),
	)
	tests := []struct {
		name  string
		value []byte
	}{
		{"in order", request(record)},
		{"a record's fields reversed", request(slices.Concat(
			kv(recordAttributes, "amount", varintField(valueInt, 42)),
			lenField(recordBody, strField(valueString, "card declined")),
			strField(recordEventName, "payment.failed"),
			varintField(recordSeverity, 17),
			fixed64Field(recordTimestamp, 1_733_169_000_000_000_000),
		))},
		{"scalars given twice: the last counts", request(slices.Concat(record,
			strField(recordEventName, "payment.retried"), varintField(recordSeverity, 9),
			fixed64Field(recordTimestamp, 1_733_169_001_000_000_000), strField(recordSeverityText, "a"),
			strField(recordSeverityText, "b")))},
		{"a body given twice: the last value counts", request(slices.Concat(record,
			lenField(recordBody, lenField(valueKVList, kv(listValues, "message", strField(valueString, "m")))),
			lenField(recordBody, lenField(valueKVList, kv(listValues, "msg", strField(valueString, "n")))),
		))},
		{"an empty body after a body", request(slices.Concat(record, lenField(recordBody)))},
		{"an attribute's value given twice", request(slices.Concat(record,
			lenField(recordAttributes, strField(keyValueKey, "k"), lenField(keyValueValue, strField(valueString, "s")),
				lenField(keyValueValue, varintField(valueBool, 1))),
		))},
		{"attributes between other fields, and a key twice", request(slices.Concat(
			kv(recordAttributes, "event.name", strField(valueString, "from.attribute")), record,
			kv(recordAttributes, "event.name", strField(valueString, "second")),
			kv(recordAttributes, "list", lenField(valueArray, lenField(listValues), lenField(listValues, fixed64Field(valueDouble, math.Float64bits(math.Inf(1)))))),
		))},
		{"the resource after its scopes, given twice", lenField(requestResourceLogs,
			lenField(resourceLogsScopeLogs, lenField(scopeLogsLogRecords, record)),
			lenField(resourceLogsResource, kv(resourceAttributes, "service.name", strField(valueString, "checkout"))),
			strField(resourceLogsSchemaURL, "https://opentelemetry.io/schemas/1.26.0"),
			lenField(resourceLogsResource, kv(resourceAttributes, "service.name", strField(valueString, "second")),
				kv(resourceAttributes, "host.name", strField(valueString, "h1"))),
		)},
		{"a service name that is a number", lenField(requestResourceLogs,
			lenField(resourceLogsResource, kv(resourceAttributes, "service.name", fixed64Field(valueDouble, math.Float64bits(1e21)))),
			lenField(resourceLogsScopeLogs, lenField(scopeLogsLogRecords, record)),
		)},
		{"a scope given twice, merged", lenField(requestResourceLogs, lenField(resourceLogsScopeLogs,
			lenField(scopeLogsLogRecords, record),
			lenField(scopeLogsScope, strField(scopeName, "first"), kv(scopeAttributes, "a", varintField(valueInt, 1))),
			lenField(scopeLogsScope, strField(scopeVersion, "1.0"), kv(scopeAttributes, "b", varintField(valueInt, 2))),
			lenField(scopeLogsScope, strField(scopeName, "orders")),
		))},
		{"unknown fields at each level", slices.Concat(varintField(99, 1), lenField(requestResourceLogs,
			strField(77, "x"), lenField(1000, lenField(scopeLogsLogRecords, record)),
			lenField(resourceLogsScopeLogs, fixed64Field(50, 7), lenField(scopeLogsLogRecords, slices.Concat(record,
				strField(4, "reserved"), varintField(200, 3), lenField(recordBody, varintField(40, 1)))),
			)))},
		{"trace and span IDs given twice", request(slices.Concat(record,
			lenField(recordTraceID, make([]byte, 16)), lenField(recordSpanID, []byte{1, 2, 3, 4, 5, 6, 7, 8}),
			lenField(recordTraceID, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}),
			protowire.AppendFixed32(protowire.AppendTag(nil, recordFlags, protowire.Fixed32Type), 1),
		))},
		{"two requests end to end", slices.Concat(request(record), request(record))},
	}
	r := newReader(t, OTLPProto, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !sameAsCollector(t, r, tt.value) {
				t.Fatalf("the Collector refuses %x", tt.value)
			}
		})
	}
}

// A request the Collector refuses is poison, and names what is wrong.
func TestOTLPRefused(t *testing.T) {
	record := strField(recordEventName, "x")
	tests := []struct {
		name    string
		value   []byte
		contain string
	}{
		{"a wire type a field does not have", request(slices.Concat(record, varintField(recordBody, 1))),
			"LogRecord field 5 is a varint, not length-delimited"},
		{"a trace ID of 3 bytes", request(slices.Concat(record, lenField(recordTraceID, []byte{1, 2, 3}))),
			"LogRecord has a trace ID of 3 bytes, not 16"},
		{"a span ID of 3 bytes", request(slices.Concat(record, lenField(recordSpanID, []byte{1, 2, 3}))),
			"LogRecord has a span ID of 3 bytes, not 8"},
		{"a length past the end", request(append(record, 0x2a, 0x10, 'a')), "LogRecord field 5: unexpected EOF"},
		{"a bad value in an attribute", request(slices.Concat(record, kv(recordAttributes, "k", strField(valueInt, "1")))),
			"AnyValue field 3 is length-delimited, not a varint"},
		{"a bad attribute of the resource", lenField(requestResourceLogs,
			lenField(resourceLogsResource, lenField(resourceAttributes, varintField(keyValueKey, 1)))),
			"KeyValue field 1 is a varint"},
		{"a bad scope", lenField(requestResourceLogs, lenField(resourceLogsScopeLogs, lenField(scopeLogsScope, varintField(scopeName, 1)))),
			"InstrumentationScope field 1 is a varint"},
		{"a group", request(slices.Concat(record, protowire.AppendTag(nil, 20, protowire.StartGroupType), varintField(1, 1),
			protowire.AppendTag(nil, 20, protowire.EndGroupType))), "LogRecord field 20 is a group"},
		{"resource logs that are a varint", varintField(requestResourceLogs, 1),
			"ExportLogsServiceRequest field 1 is a varint, not length-delimited"},
		{"a bad record after a good one", slices.Concat(request(record), request(append(record, 0x4a, 0x01))),
			"LogRecord field 9: unexpected EOF"},
	}
	r := newReader(t, OTLPProto, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(tt.value); err == nil {
				t.Fatalf("the Collector reads %x", tt.value)
			}
			evs, err := r.Read(&kgo.Record{Value: tt.value, Timestamp: recordTime})
			var p *event.PoisonError
			if !errors.As(err, &p) || p.Reason != ReasonInvalidOTLP {
				t.Fatalf("got %d events and %v, want %s", len(evs), err, ReasonInvalidOTLP)
			}
			if want := "otlp: not an ExportLogsServiceRequest in protobuf: " + tt.contain; !strings.HasPrefix(p.Detail, want) {
				t.Errorf("detail %q, want it to start %q", p.Detail, want)
			}
		})
	}
}

// FuzzOTLPAsTheCollector: whatever bytes the Collector reads as a
// request, hookstream reads as the same request.
func FuzzOTLPAsTheCollector(f *testing.F) {
	proto, _ := (&plog.ProtoMarshaler{}).MarshalLogs(otlpLogs())
	f.Add(proto)
	f.Add(slices.Concat(proto, proto))
	r := newReader(f, OTLPProto, nil)
	f.Fuzz(func(t *testing.T, value []byte) {
		sameAsCollector(t, r, value)
	})
}

// TestOTLPServiceNameAsTheCollectorWritesIt: a service.name that is not
// a string is the source as the Collector's AsString writes it.
func TestOTLPServiceNameAsTheCollectorWritesIt(t *testing.T) {
	tests := []struct {
		name string
		set  func(pcommon.Value)
	}{
		{"int", func(v pcommon.Value) { v.SetInt(-42) }},
		{"bool", func(v pcommon.Value) { v.SetBool(true) }},
		{"double", func(v pcommon.Value) { v.SetDouble(0.5) }},
		{"a large double", func(v pcommon.Value) { v.SetDouble(1e21) }},
		{"a small double", func(v pcommon.Value) { v.SetDouble(1e-7) }},
		{"NaN", func(v pcommon.Value) { v.SetDouble(math.NaN()) }},
		{"bytes", func(v pcommon.Value) { v.SetEmptyBytes().FromRaw([]byte{0, 1, 0xfe}) }},
	}
	r := newReader(t, OTLPProto, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := plog.NewLogs()
			rl := logs.ResourceLogs().AppendEmpty()
			v := rl.Resource().Attributes().PutEmpty("service.name")
			tt.set(v)
			rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetEventName("x")
			value, err := (&plog.ProtoMarshaler{}).MarshalLogs(logs)
			if err != nil {
				t.Fatal(err)
			}
			evs := read(t, r, &kgo.Record{Value: value})
			if want := v.AsString(); evs[0].Source != want {
				t.Errorf("source %q, want %q", evs[0].Source, want)
			}
		})
	}
}
