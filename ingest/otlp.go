package ingest

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"google.golang.org/protobuf/encoding/protowire"

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
//
// A request in protobuf is read where it lies, without building the
// request first: its events are written straight from the wire format.
// A request in JSON is read by the OpenTelemetry Collector's own
// unmarshaler and written as the protobuf it stands for, so that both
// encodings give the same events.
func (r *Reader) otlp(rec *kgo.Record, f Format) ([]*event.Event, error) {
	isJSON := event.FirstByte(rec.Value) == '{'
	switch {
	case f == OTLPProto && isJSON:
		return nil, poison(ReasonInvalidOTLP, "otlp_proto", "the value is JSON, not protobuf")
	case f == OTLPJSON && !isJSON:
		return nil, poison(ReasonInvalidOTLP, "otlp_json", "the value is not JSON")
	}
	req := rec.Value
	if isJSON {
		var u plog.JSONUnmarshaler
		logs, err := u.UnmarshalLogs(rec.Value)
		if err != nil {
			return nil, poison(ReasonInvalidOTLP, "otlp", "not an ExportLogsServiceRequest in JSON: %v", err)
		}
		var m plog.ProtoMarshaler
		if req, err = m.MarshalLogs(logs); err != nil {
			return nil, poison(ReasonInvalidOTLP, "otlp", "the request in JSON does not encode as protobuf: %v", err)
		}
	}
	events, err := r.otlpRequest(rec, req)
	if err != nil {
		var p *event.PoisonError
		if errors.As(err, &p) {
			return nil, err
		}
		return nil, poison(ReasonInvalidOTLP, "otlp", "not an ExportLogsServiceRequest in protobuf: %v", err)
	}
	return events, nil
}

// The field numbers of the OTLP logs messages hookstream reads
// (opentelemetry/proto/logs/v1/logs.proto, common/v1/common.proto,
// resource/v1/resource.proto), each with the wire type it must have.
const (
	requestResourceLogs protowire.Number = 1 // ExportLogsServiceRequest.resource_logs

	resourceLogsResource  protowire.Number = 1
	resourceLogsScopeLogs protowire.Number = 2
	resourceLogsSchemaURL protowire.Number = 3

	resourceAttributes protowire.Number = 1
	resourceDropped    protowire.Number = 2
	resourceEntityRefs protowire.Number = 3

	scopeLogsScope      protowire.Number = 1
	scopeLogsLogRecords protowire.Number = 2
	scopeLogsSchemaURL  protowire.Number = 3

	scopeName       protowire.Number = 1
	scopeVersion    protowire.Number = 2
	scopeAttributes protowire.Number = 3
	scopeDropped    protowire.Number = 4

	recordTimestamp    protowire.Number = 1
	recordSeverity     protowire.Number = 2
	recordSeverityText protowire.Number = 3
	recordBody         protowire.Number = 5
	recordAttributes   protowire.Number = 6
	recordDropped      protowire.Number = 7
	recordFlags        protowire.Number = 8
	recordTraceID      protowire.Number = 9
	recordSpanID       protowire.Number = 10
	recordObserved     protowire.Number = 11
	recordEventName    protowire.Number = 12

	keyValueKey   protowire.Number = 1
	keyValueValue protowire.Number = 2

	valueString protowire.Number = 1 // AnyValue's oneof
	valueBool   protowire.Number = 2
	valueInt    protowire.Number = 3
	valueDouble protowire.Number = 4
	valueArray  protowire.Number = 5
	valueKVList protowire.Number = 6
	valueBytes  protowire.Number = 7

	listValues protowire.Number = 1 // ArrayValue.values, KeyValueList.values
)

// The lengths of IDs, and the flag of a sampled record.
const (
	traceIDLen  = 16
	spanIDLen   = 8
	sampledFlag = 1
)

// protoFields walks the fields of a protobuf message in order.
type protoFields struct {
	in  string // the message's name, for errors
	b   []byte // what is left of the message
	err error

	num protowire.Number
	typ protowire.Type
	u   uint64 // a varint's or a fixed-size field's value
	val []byte // a length-delimited field's bytes
}

// next reads the next field, reporting false at the end of the message
// or at an error.
func (f *protoFields) next() bool {
	if len(f.b) == 0 || f.err != nil {
		return false
	}
	var num protowire.Number
	var typ protowire.Type
	var n int
	if tag := f.b[0]; tag < 0x80 && tag>>3 != 0 { // a field number below 16, in one byte
		num, typ, n = protowire.Number(tag>>3), protowire.Type(tag&7), 1
	} else if num, typ, n = protowire.ConsumeTag(f.b); n < 0 {
		f.err = fmt.Errorf("%s: %w", f.in, protowire.ParseError(n))
		return false
	}
	f.b, f.num, f.typ = f.b[n:], num, typ
	switch typ {
	case protowire.VarintType:
		f.u, n = protowire.ConsumeVarint(f.b)
	case protowire.Fixed64Type:
		f.u, n = protowire.ConsumeFixed64(f.b)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(f.b)
		f.u = uint64(v)
	case protowire.BytesType:
		if len(f.b) > 0 && f.b[0] < 0x80 && int(f.b[0]) < len(f.b) { // a length below 128, in one byte
			f.val, n = f.b[1:1+f.b[0]], 1+int(f.b[0])
			break
		}
		f.val, n = protowire.ConsumeBytes(f.b)
	case protowire.StartGroupType, protowire.EndGroupType:
		// proto2's groups, which OTLP, a proto3 schema, never writes.
		f.err = fmt.Errorf("%s field %d is a group", f.in, num)
		return false
	default:
		n = protowire.ConsumeFieldValue(num, typ, f.b) // a reserved wire type: an error
	}
	if n < 0 {
		f.err = fmt.Errorf("%s field %d: %w", f.in, num, protowire.ParseError(n))
		return false
	}
	f.b = f.b[n:]
	return true
}

// is reports whether the field has wire type t, and makes it the walk's
// error if not: each known field has one.
func (f *protoFields) is(t protowire.Type) bool {
	if f.typ != t {
		f.err = fmt.Errorf("%s field %d is %s, not %s", f.in, f.num, wireTypes[f.typ], wireTypes[t])
		return false
	}
	return true
}

// wireTypes names the wire types, as errors give them.
var wireTypes = map[protowire.Type]string{
	protowire.VarintType: "a varint", protowire.Fixed32Type: "32-bit", protowire.Fixed64Type: "64-bit",
	protowire.BytesType: "length-delimited", protowire.StartGroupType: "a group", protowire.EndGroupType: "a group's end",
}

// check makes err, if any, the walk's error.
func (f *protoFields) check(err error) {
	if err != nil && f.err == nil {
		f.err = err
	}
}

// A protoValue is an AnyValue as read: the last of its oneof fields, as
// protobuf reads a value given more than once. num 0 is the empty value.
type protoValue struct {
	num protowire.Number
	u   uint64
	b   []byte
}

// merge reads msg, an AnyValue, into v.
func (v *protoValue) merge(msg []byte) error {
	f := protoFields{in: "AnyValue", b: msg}
	for f.next() {
		switch f.num {
		case valueString, valueArray, valueKVList, valueBytes:
			if f.is(protowire.BytesType) {
				*v = protoValue{num: f.num, b: f.val}
			}
		case valueBool, valueInt:
			if f.is(protowire.VarintType) {
				*v = protoValue{num: f.num, u: f.u}
			}
		case valueDouble:
			if f.is(protowire.Fixed64Type) {
				*v = protoValue{num: f.num, u: f.u}
			}
		}
	}
	return f.err
}

// keyValue reads msg, a KeyValue.
func keyValue(msg []byte) (key []byte, v protoValue, err error) {
	f := protoFields{in: "KeyValue", b: msg}
	for f.next() {
		switch f.num {
		case keyValueKey:
			if f.is(protowire.BytesType) {
				key = f.val
			}
		case keyValueValue:
			if f.is(protowire.BytesType) {
				f.check(v.merge(f.val))
			}
		}
	}
	return key, v, f.err
}

// find returns the value of the first KeyValue in field of msg, an in,
// whose key is key, as a map's Get does.
func find(in string, msg []byte, field protowire.Number, key string) (protoValue, bool, error) {
	f := protoFields{in: in, b: msg}
	for f.next() {
		if f.num != field || !f.is(protowire.BytesType) {
			continue
		}
		k, v, err := keyValue(f.val)
		if err != nil {
			return protoValue{}, false, err
		}
		if string(k) == key {
			return v, true, nil
		}
	}
	return protoValue{}, false, f.err
}

// otlpRequest returns the events of req, an ExportLogsServiceRequest in
// protobuf.
func (r *Reader) otlpRequest(rec *kgo.Record, req []byte) ([]*event.Event, error) {
	w := otlpWriter{maxDepth: r.maxDepth - 2} // a value sits in an object in the event
	var events []*event.Event
	f := protoFields{in: "ExportLogsServiceRequest", b: req}
	for f.next() {
		if f.num == requestResourceLogs && f.is(protowire.BytesType) {
			var err error
			if events, err = r.resourceLogs(rec, &w, f.val, events); err != nil {
				return nil, err
			}
		}
	}
	return events, f.err
}

// resourceLogs appends the events of msg, a ResourceLogs: its resource
// first, wherever it lies (a message given more than once is merged, so
// each one's attributes count), then the records of each scope.
func (r *Reader) resourceLogs(rec *kgo.Record, w *otlpWriter, msg []byte, events []*event.Event) ([]*event.Event, error) {
	if err := w.open(0); err != nil {
		return nil, err
	}
	resource := []byte{'{'}
	var service protoValue
	found := false
	f := protoFields{in: "ResourceLogs", b: msg}
	for f.next() {
		switch f.num {
		case resourceLogsResource:
			if !f.is(protowire.BytesType) {
				break
			}
			var err error
			if resource, err = w.resource(resource, f.val); err != nil {
				return nil, err
			}
			if !found {
				service, found, err = find("Resource", f.val, resourceAttributes, "service.name")
				f.check(err)
			}
		case resourceLogsScopeLogs, resourceLogsSchemaURL:
			f.is(protowire.BytesType)
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	resource = append(resource, '}')
	svc, err := w.asString(service)
	if err != nil {
		return nil, err
	}
	for f = (protoFields{in: "ResourceLogs", b: msg}); f.next(); {
		if f.num == resourceLogsScopeLogs {
			if events, err = r.scopeLogs(rec, w, f.val, svc, resource, events); err != nil {
				return nil, err
			}
		}
	}
	return events, nil
}

// resource appends the attributes of msg, a Resource, to the object dst
// holds open.
func (w *otlpWriter) resource(dst, msg []byte) ([]byte, error) {
	f := protoFields{in: "Resource", b: msg}
	for f.next() {
		switch f.num {
		case resourceAttributes:
			if f.is(protowire.BytesType) {
				var err error
				dst, err = w.member(dst, f.val, 1)
				f.check(err)
			}
		case resourceDropped:
			f.is(protowire.VarintType)
		case resourceEntityRefs:
			f.is(protowire.BytesType)
		}
	}
	return dst, f.err
}

// scopeLogs appends the events of msg, a ScopeLogs.
func (r *Reader) scopeLogs(rec *kgo.Record, w *otlpWriter, msg []byte, service string, resource []byte, events []*event.Event) ([]*event.Event, error) {
	scope, name, records, err := w.scope(msg)
	if err != nil {
		return nil, err
	}
	events = slices.Grow(events, records)
	f := protoFields{in: "ScopeLogs", b: msg}
	for f.next() {
		if f.num != scopeLogsLogRecords {
			continue
		}
		ev, err := r.otlpRecord(rec, w, f.val, service, resource, scope, name)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, f.err
}

// scope writes the scope of msg, a ScopeLogs, as {"name", "version",
// "attributes"}, and returns its name and how many log records msg
// holds. A scope given more than once is merged: the last name and
// version, each one's attributes.
func (w *otlpWriter) scope(msg []byte) (scope []byte, name string, records int, err error) {
	sc := scopeParts{attrs: []byte{'{'}}
	f := protoFields{in: "ScopeLogs", b: msg}
	for f.next() {
		switch f.num {
		case scopeLogsScope:
			if f.is(protowire.BytesType) {
				f.check(w.readScope(f.val, &sc))
			}
		case scopeLogsLogRecords:
			if f.is(protowire.BytesType) {
				records++
			}
		case scopeLogsSchemaURL:
			f.is(protowire.BytesType)
		}
	}
	if f.err != nil {
		return nil, "", 0, f.err
	}
	var members []byte
	members = stringMember(members, "name", sc.name)
	members = stringMember(members, "version", sc.version)
	if len(sc.attrs) > 1 {
		members = append(append(member(members, "attributes"), sc.attrs...), '}')
	}
	return append(append([]byte{'{'}, members...), '}'), string(sc.name), records, nil
}

// scopeParts are a scope's parts as read so far.
type scopeParts struct {
	name, version []byte
	attrs         []byte // the attributes' object, yet to be closed
}

// readScope reads msg, an InstrumentationScope, into sc.
func (w *otlpWriter) readScope(msg []byte, sc *scopeParts) error {
	f := protoFields{in: "InstrumentationScope", b: msg}
	for f.next() {
		switch f.num {
		case scopeName:
			if f.is(protowire.BytesType) {
				sc.name = f.val
			}
		case scopeVersion:
			if f.is(protowire.BytesType) {
				sc.version = f.val
			}
		case scopeAttributes:
			if !f.is(protowire.BytesType) {
				break
			}
			if len(sc.attrs) == 1 { // the first: the object opens at depth 1
				f.check(w.open(1))
			}
			var err error
			sc.attrs, err = w.member(sc.attrs, f.val, 2)
			f.check(err)
		case scopeDropped:
			f.is(protowire.VarintType)
		}
	}
	return f.err
}

// A logRecord is what an event takes from a LogRecord, as read.
type logRecord struct {
	time, observed          uint64
	severity                int32
	severityText, eventName []byte
	body                    protoValue
	flags                   uint32
	traceID, spanID         []byte
	// eventNameAttr is the first attribute named event.name, if found.
	eventNameAttr protoValue
	found         bool
}

// readLogRecord reads msg, a LogRecord, and writes its attributes as
// the members of an object into w.attrs.
func (w *otlpWriter) readLogRecord(msg []byte) (logRecord, error) {
	var lr logRecord
	w.attrs = w.attrs[:0]
	f := protoFields{in: "LogRecord", b: msg}
	for f.next() {
		switch f.num {
		case recordTimestamp, recordObserved:
			if f.is(protowire.Fixed64Type) {
				if f.num == recordTimestamp {
					lr.time = f.u
				} else {
					lr.observed = f.u
				}
			}
		case recordSeverity:
			if f.is(protowire.VarintType) {
				lr.severity = int32(f.u) // an enum is an int32 on the wire
			}
		case recordSeverityText:
			if f.is(protowire.BytesType) {
				lr.severityText = f.val
			}
		case recordBody:
			if f.is(protowire.BytesType) {
				f.check(lr.body.merge(f.val))
			}
		case recordAttributes:
			if !f.is(protowire.BytesType) {
				break
			}
			key, v, err := keyValue(f.val)
			if err == nil {
				if !lr.found && string(key) == "event.name" {
					lr.eventNameAttr, lr.found = v, true
				}
				w.attrs, err = w.pair(w.attrs, key, v, 1)
			}
			f.check(err)
		case recordDropped:
			f.is(protowire.VarintType)
		case recordFlags:
			if f.is(protowire.Fixed32Type) {
				lr.flags = uint32(f.u)
			}
		case recordTraceID, recordSpanID:
			if !f.is(protowire.BytesType) {
				break
			}
			id, size, what := &lr.traceID, traceIDLen, "trace"
			if f.num == recordSpanID {
				id, size, what = &lr.spanID, spanIDLen, "span"
			}
			if len(f.val) != 0 && len(f.val) != size {
				f.check(fmt.Errorf("LogRecord has a %s ID of %d bytes, not %d", what, len(f.val), size))
			}
			*id = f.val
		case recordEventName:
			if f.is(protowire.BytesType) {
				lr.eventName = f.val
			}
		}
	}
	return lr, f.err
}

// otlpRecord is the event of msg, a LogRecord, whose resource and scope
// are written already.
func (r *Reader) otlpRecord(rec *kgo.Record, w *otlpWriter, msg []byte, service string, resource, scope []byte, scopeName string) (*event.Event, error) {
	if err := w.open(0); err != nil { // the attributes' object
		return nil, err
	}
	lr, err := w.readLogRecord(msg)
	if err != nil {
		return nil, err
	}
	k := known{typ: string(lr.eventName), source: service, level: otlpLevel(lr.severity, lr.severityText)}
	if k.typ == "" && lr.found && lr.eventNameAttr.num == valueString {
		k.typ = string(lr.eventNameAttr.b)
	}
	if k.source == "" {
		k.source = scopeName
	}
	if lr.time != 0 {
		k.time = time.Unix(0, int64(lr.time)).UTC()
	} else if lr.observed != 0 {
		k.time = time.Unix(0, int64(lr.observed)).UTC()
	}
	// The members are written into the writer's scratch buffer, which the
	// event's own copies them from.
	d := slices.Grow(w.scratch[:0], 256+len(w.attrs)+len(resource)+len(scope))
	defer func() { w.scratch = d[:0] }()
	if lr.severity != 0 {
		d = strconv.AppendInt(member(d, "severity_number"), int64(lr.severity), 10)
	}
	d = stringMember(d, "severity_text", lr.severityText)
	d = stringMember(d, "event_name", lr.eventName)
	if lr.body.num != 0 {
		d = member(d, "body")
		start := len(d)
		if d, err = w.value(d, lr.body, 0); err != nil {
			return nil, err
		}
		if k.message, err = bodyMessage(lr.body, d[start:]); err != nil {
			return nil, err
		}
	}
	d = append(append(append(member(d, "attributes"), '{'), w.attrs...), '}')
	d = append(member(d, "resource"), resource...)
	d = append(member(d, "scope"), scope...)
	traceID, spanID := nonZero(lr.traceID), nonZero(lr.spanID)
	if traceID {
		d = jsonHex(member(d, "trace_id"), lr.traceID)
	}
	if spanID {
		d = jsonHex(member(d, "span_id"), lr.spanID)
	}
	traceparent := ""
	if traceID && spanID {
		flags := "00"
		if lr.flags&sampledFlag != 0 {
			flags = "01"
		}
		traceparent = "00-" + hex.EncodeToString(lr.traceID) + "-" + hex.EncodeToString(lr.spanID) + "-" + flags
	}
	if lr.observed != 0 {
		d = append(member(d, "observed_timestamp"), '"')
		d = append(time.Unix(0, int64(lr.observed)).UTC().AppendFormat(d, time.RFC3339Nano), '"')
	}
	ev, err := r.write(rec, "otlp", k, d)
	if ev != nil {
		ev.Traceparent = traceparent
	}
	return ev, err
}

// nonZero reports whether an ID has a byte other than zero: an ID of
// zeros is no ID.
func nonZero(id []byte) bool {
	return slices.ContainsFunc(id, func(b byte) bool { return b != 0 })
}

// jsonHex appends id as a JSON string of hex digits.
func jsonHex(dst, id []byte) []byte {
	return append(hex.AppendEncode(append(dst, '"'), id), '"')
}

// bodyMessage is the message of a log record's body: a string body, or
// the "message" or "msg" string of a map body, or else the body as JSON.
func bodyMessage(body protoValue, asJSON []byte) (string, error) {
	switch body.num {
	case valueString:
		return string(body.b), nil
	case valueKVList:
		for _, key := range []string{"message", "msg"} {
			v, ok, err := find("KeyValueList", body.b, listValues, key)
			if err != nil {
				return "", err
			}
			if ok && v.num == valueString {
				return string(v.b), nil
			}
		}
	}
	return string(asJSON), nil
}

// otlpLevel maps an OTLP severity number onto a level: 1–4 trace, 5–8
// debug, 9–12 info, 13–16 warn, 17–20 error, 21–24 fatal. A record
// without a number gives its severity text.
func otlpLevel(n int32, text []byte) string {
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
	return string(text)
}

// otlpWriter writes OTLP values as JSON, refusing those nested deeper
// than maxDepth.
type otlpWriter struct {
	maxDepth int
	scratch  []byte // a log record's members, before its event is written
	attrs    []byte // a log record's attributes, before its members are written
}

// open checks that an object or array may open at depth.
func (w *otlpWriter) open(depth int) error {
	if depth >= w.maxDepth {
		return &event.PoisonError{Reason: event.ReasonTooDeep, Detail: fmt.Sprintf("otlp: a value nests deeper than %d levels", w.maxDepth)}
	}
	return nil
}

// member appends kv, a KeyValue, as a member of the object dst holds
// open, its value at depth.
func (w *otlpWriter) member(dst, kv []byte, depth int) ([]byte, error) {
	key, v, err := keyValue(kv)
	if err != nil {
		return nil, err
	}
	return w.pair(dst, key, v, depth)
}

// pair appends key and v as a member of the object dst holds open, or
// as the first member of one whose brace is yet to be written.
func (w *otlpWriter) pair(dst, key []byte, v protoValue, depth int) ([]byte, error) {
	if len(dst) > 0 && dst[len(dst)-1] != '{' { // no member's value ends with a brace that opens
		dst = append(dst, ',')
	}
	dst = append(jsonw.AppendString(dst, key), ':')
	return w.value(dst, v, depth)
}

// value appends v as JSON at depth: an int as a number, a double that
// JSON cannot hold (NaN, ±Inf) as a string, bytes as base64, an empty
// value as null.
func (w *otlpWriter) value(dst []byte, v protoValue, depth int) ([]byte, error) {
	switch v.num {
	case valueString:
		return jsonw.AppendString(dst, v.b), nil
	case valueInt:
		return strconv.AppendInt(dst, int64(v.u), 10), nil
	case valueDouble:
		f := math.Float64frombits(v.u)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return jsonw.AppendString(dst, strconv.FormatFloat(f, 'g', -1, 64)), nil
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
	case valueBool:
		return strconv.AppendBool(dst, v.u != 0), nil
	case valueBytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v.b)
		return append(dst, '"'), nil
	case valueKVList:
		if err := w.open(depth); err != nil {
			return nil, err
		}
		dst = append(dst, '{')
		f := protoFields{in: "KeyValueList", b: v.b}
		for f.next() {
			if f.num == listValues && f.is(protowire.BytesType) {
				var err error
				dst, err = w.member(dst, f.val, depth+1)
				f.check(err)
			}
		}
		return append(dst, '}'), f.err
	case valueArray:
		if err := w.open(depth); err != nil {
			return nil, err
		}
		dst = append(dst, '[')
		start := len(dst)
		f := protoFields{in: "ArrayValue", b: v.b}
		for f.next() {
			if f.num != listValues || !f.is(protowire.BytesType) {
				continue
			}
			var elem protoValue
			if err := elem.merge(f.val); err != nil {
				return nil, err
			}
			if len(dst) > start {
				dst = append(dst, ',')
			}
			var err error
			dst, err = w.value(dst, elem, depth+1)
			f.check(err)
		}
		return append(dst, ']'), f.err
	}
	return append(dst, "null"...), nil
}

// asString is v as OpenTelemetry's AsString gives it, for the service
// name: a scalar as the Collector writes it as text, bytes as base64, a
// map or a list as the JSON the event holds it as.
func (w *otlpWriter) asString(v protoValue) (string, error) {
	switch v.num {
	case 0:
		return "", nil
	case valueString:
		return string(v.b), nil
	case valueInt:
		return pcommon.NewValueInt(int64(v.u)).AsString(), nil
	case valueBool:
		return pcommon.NewValueBool(v.u != 0).AsString(), nil
	case valueDouble:
		return pcommon.NewValueDouble(math.Float64frombits(v.u)).AsString(), nil
	case valueBytes:
		b := pcommon.NewValueBytes()
		b.Bytes().FromRaw(v.b)
		return b.AsString(), nil
	}
	text, err := w.value(nil, v, 1)
	return string(text), err
}
