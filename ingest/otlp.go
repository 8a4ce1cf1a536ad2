package ingest

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/internal/jsonw"
)

// otlp reads an OTLP ExportLogsServiceRequest, as the OpenTelemetry
// Collector's Kafka exporter writes it, into one event per log record.
// Each event carries its record's attributes and those of the resource
// and scope it belongs to:
//
//	{"type": event name, "level": from the severity number, "source": service.name,
//	 "message": the body, "timestamp", "format": "otlp",
//	 "severity_number", "severity_text", "event_name", "body", "attributes",
//	 "resource", "scope": {"name", "version", "attributes"}, "trace_id", "span_id",
//	 "observed_timestamp"}
func (r *Reader) otlp(rec *kgo.Record, f Format) ([]*event.Event, error) {
	isJSON := event.FirstByte(rec.Value) == '{'
	switch {
	case f == OTLPProto && isJSON:
		return nil, poison(ReasonInvalidOTLP, "otlp_proto", "the value is JSON, not protobuf")
	case f == OTLPJSON && !isJSON:
		return nil, poison(ReasonInvalidOTLP, "otlp_json", "the value is not JSON")
	}
	var logs plog.Logs
	var err error
	if isJSON {
		var u plog.JSONUnmarshaler
		logs, err = u.UnmarshalLogs(rec.Value)
	} else {
		var u plog.ProtoUnmarshaler
		logs, err = u.UnmarshalLogs(rec.Value)
	}
	if err != nil {
		enc := "protobuf"
		if isJSON {
			enc = "JSON"
		}
		return nil, poison(ReasonInvalidOTLP, "otlp", "not an ExportLogsServiceRequest in %s: %v", enc, err)
	}
	w := otlpWriter{maxDepth: r.maxDepth - 2} // a value sits in an object in the event
	events := make([]*event.Event, 0, logs.LogRecordCount())
	rls := logs.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		res := rl.Resource().Attributes()
		resource, err := w.object(nil, res, 0)
		if err != nil {
			return nil, err
		}
		service := ""
		if v, ok := res.Get("service.name"); ok {
			service = v.AsString()
		}
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			sl := sls.At(j)
			scope, err := w.scope(sl.Scope())
			if err != nil {
				return nil, err
			}
			lrs := sl.LogRecords()
			for l := range lrs.Len() {
				ev, err := r.otlpRecord(rec, &w, lrs.At(l), service, resource, scope, sl.Scope().Name())
				if err != nil {
					return nil, err
				}
				events = append(events, ev)
			}
		}
	}
	return events, nil
}

// otlpRecord is the event of one log record, whose resource and scope
// are written already.
func (r *Reader) otlpRecord(rec *kgo.Record, w *otlpWriter, lr plog.LogRecord, service string, resource, scope []byte, scopeName string) (*event.Event, error) {
	attrs := lr.Attributes()
	k := known{typ: lr.EventName(), source: service, level: otlpLevel(lr.SeverityNumber(), lr.SeverityText())}
	if k.typ == "" {
		if v, ok := attrs.Get("event.name"); ok && v.Type() == pcommon.ValueTypeStr {
			k.typ = v.Str()
		}
	}
	if k.source == "" {
		k.source = scopeName
	}
	if ts := lr.Timestamp(); ts != 0 {
		k.time = ts.AsTime()
	} else if ts := lr.ObservedTimestamp(); ts != 0 {
		k.time = ts.AsTime()
	}
	// The members are written into the writer's scratch buffer, which the
	// event's own copies them from.
	d := slices.Grow(w.scratch[:0], 256+len(resource)+len(scope))
	defer func() { w.scratch = d[:0] }()
	if n := lr.SeverityNumber(); n != 0 {
		d = strconv.AppendInt(member(d, "severity_number"), int64(n), 10)
	}
	d = stringMember(d, "severity_text", lr.SeverityText())
	d = stringMember(d, "event_name", lr.EventName())
	body := lr.Body()
	if body.Type() != pcommon.ValueTypeEmpty {
		d = member(d, "body")
		start := len(d)
		var err error
		if d, err = w.value(d, body, 0); err != nil {
			return nil, err
		}
		k.message = bodyMessage(body, d[start:])
	}
	var err error
	if d, err = w.object(member(d, "attributes"), attrs, 0); err != nil {
		return nil, err
	}
	d = append(member(d, "resource"), resource...)
	d = append(member(d, "scope"), scope...)
	if id := lr.TraceID(); !id.IsEmpty() {
		d = stringMember(d, "trace_id", hex.EncodeToString(id[:]))
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		d = stringMember(d, "span_id", hex.EncodeToString(id[:]))
	}
	traceparent := ""
	if tid, sid := lr.TraceID(), lr.SpanID(); !tid.IsEmpty() && !sid.IsEmpty() {
		flags := "00"
		if lr.Flags().IsSampled() {
			flags = "01"
		}
		traceparent = "00-" + hex.EncodeToString(tid[:]) + "-" + hex.EncodeToString(sid[:]) + "-" + flags
	}
	if ts := lr.ObservedTimestamp(); ts != 0 {
		d = append(member(d, "observed_timestamp"), '"')
		d = append(ts.AsTime().UTC().AppendFormat(d, time.RFC3339Nano), '"')
	}
	ev, err := r.write(rec, "otlp", k, d)
	if ev != nil {
		ev.Traceparent = traceparent
	}
	return ev, err
}

// bodyMessage is the message of a log record's body: a string body, or
// the "message" or "msg" string of a map body, or else the body as JSON.
func bodyMessage(body pcommon.Value, asJSON []byte) string {
	switch body.Type() {
	case pcommon.ValueTypeStr:
		return body.Str()
	case pcommon.ValueTypeMap:
		for _, key := range []string{"message", "msg"} {
			if v, ok := body.Map().Get(key); ok && v.Type() == pcommon.ValueTypeStr {
				return v.Str()
			}
		}
	}
	return string(asJSON)
}

// otlpLevel maps an OTLP severity number onto a level: 1–4 trace, 5–8
// debug, 9–12 info, 13–16 warn, 17–20 error, 21–24 fatal. A record
// without a number gives its severity text.
func otlpLevel(n plog.SeverityNumber, text string) string {
	switch {
	case n >= 1 && n <= 4:
		return "trace"
	case n >= 5 && n <= 8:
		return "debug"
	case n >= 9 && n <= 12:
		return "info"
	case n >= 13 && n <= 16:
		return "warn"
	case n >= 17 && n <= 20:
		return "error"
	case n >= 21 && n <= 24:
		return "fatal"
	}
	return text
}

// otlpWriter writes OTLP values as JSON, refusing those nested deeper
// than maxDepth.
type otlpWriter struct {
	maxDepth int
	scratch  []byte // a log record's members, before its event is written
}

// scope writes s as {"name", "version", "attributes"}.
func (w *otlpWriter) scope(s pcommon.InstrumentationScope) ([]byte, error) {
	var members []byte
	members = stringMember(members, "name", s.Name())
	members = stringMember(members, "version", s.Version())
	if s.Attributes().Len() > 0 {
		var err error
		if members, err = w.object(member(members, "attributes"), s.Attributes(), 1); err != nil {
			return nil, err
		}
	}
	return append(append([]byte{'{'}, members...), '}'), nil
}

// object appends m as a JSON object at depth.
func (w *otlpWriter) object(dst []byte, m pcommon.Map, depth int) ([]byte, error) {
	if depth >= w.maxDepth {
		return nil, w.tooDeep()
	}
	dst = append(dst, '{')
	var err error
	first := true
	m.Range(func(k string, v pcommon.Value) bool {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(jsonw.AppendString(dst, k), ':')
		dst, err = w.value(dst, v, depth+1)
		return err == nil
	})
	return append(dst, '}'), err
}

// value appends v as JSON at depth: an int as a number, a double that
// JSON cannot hold (NaN, ±Inf) as a string, bytes as base64.
func (w *otlpWriter) value(dst []byte, v pcommon.Value, depth int) ([]byte, error) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return jsonw.AppendString(dst, v.Str()), nil
	case pcommon.ValueTypeInt:
		return strconv.AppendInt(dst, v.Int(), 10), nil
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return jsonw.AppendString(dst, strconv.FormatFloat(f, 'g', -1, 64)), nil
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
	case pcommon.ValueTypeBool:
		return strconv.AppendBool(dst, v.Bool()), nil
	case pcommon.ValueTypeBytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v.Bytes().AsRaw())
		return append(dst, '"'), nil
	case pcommon.ValueTypeMap:
		return w.object(dst, v.Map(), depth)
	case pcommon.ValueTypeSlice:
		if depth >= w.maxDepth {
			return nil, w.tooDeep()
		}
		s := v.Slice()
		dst = append(dst, '[')
		for i := range s.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = w.value(dst, s.At(i), depth+1); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	}
	return append(dst, "null"...), nil
}

func (w *otlpWriter) tooDeep() error {
	return &event.PoisonError{Reason: event.ReasonTooDeep, Detail: fmt.Sprintf("otlp: a value nests deeper than %d levels", w.maxDepth)}
}
