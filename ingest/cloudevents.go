package ingest

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"mime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/internal/jsonw"
)

// The Kafka protocol binding of CloudEvents: attributes in ce_ headers
// (binary mode), or the whole event as the value, marked by its content
// type (structured mode).
const (
	ceHeaderPrefix   = "ce_"
	ceContentType    = "content-type"
	ceStructuredType = "application/cloudevents+json"
)

// ceHeaderAttrs are the context attributes a binary-mode event carries
// in ce_ headers; datacontenttype is its content-type header.
var ceHeaderAttrs = []string{"type", "source", "time", "id", "specversion", "subject", "dataschema"}

// ceAttrs are the CloudEvents 1.0 context attributes other than
// extensions, in the order a converted event gives them.
var ceAttrs = []string{"id", "specversion", "subject", "datacontenttype", "dataschema"}

// cloudEvent reads a CloudEvent in the Kafka binding, in binary or
// structured mode:
//
//	{"type": type, "level": data's level or severity (or such an extension),
//	 "source": source, "message": data's message or msg (or data, a string),
//	 "timestamp": time, "format": "cloudevents", "id", "specversion", "subject",
//	 "datacontenttype", "dataschema", "extensions": {…}, "data" or "data_base64"}
func (r *Reader) cloudEvent(rec *kgo.Record) (*event.Event, error) {
	attrs := map[string]string{}
	exts := map[string]json.RawMessage{}
	var data []byte // raw JSON, or nil
	var dataBase64 string
	if contentType(rec) == ceStructuredType || header(rec, ceHeaderPrefix+"specversion") == nil {
		if err := r.check(rec.Value, ReasonInvalidCloudEvents, "cloudevents"); err != nil {
			return nil, err
		}
		var bad string
		event.Members(rec.Value, func(key, val []byte) {
			k := string(key)
			switch k {
			case "data":
				data = val
			case "data_base64":
				if json.Unmarshal(val, &dataBase64) != nil {
					bad = "data_base64 is not a string"
				}
			case "type", "source", "time", "id", "specversion", "subject", "datacontenttype", "dataschema":
				var s string
				if json.Unmarshal(val, &s) != nil {
					bad = k + " is not a string"
				}
				attrs[k] = s
			default:
				exts[k] = json.RawMessage(val)
			}
		})
		if bad != "" {
			return nil, poison(ReasonInvalidCloudEvents, "cloudevents", "%s", bad)
		}
	} else {
		for _, h := range rec.Headers {
			name, ok := strings.CutPrefix(strings.ToLower(h.Key), ceHeaderPrefix)
			if !ok {
				continue
			}
			if !utf8.Valid(h.Value) {
				return nil, poison(ReasonInvalidCloudEvents, "cloudevents", "header %s is not UTF-8", h.Key)
			}
			_, seenAttr := attrs[name]
			_, seenExt := exts[name]
			switch {
			case seenAttr || seenExt:
				// The first of a repeated header counts, as everywhere.
			case slices.Contains(ceHeaderAttrs, name):
				attrs[name] = string(h.Value)
			default:
				exts[name] = jsonw.AppendString(nil, string(h.Value))
			}
		}
		if ct := header(rec, ceContentType); ct != nil {
			attrs["datacontenttype"] = string(ct)
		}
		var err error
		if data, dataBase64, err = r.ceData(rec.Value, attrs["datacontenttype"]); err != nil {
			return nil, err
		}
	}
	if attrs["specversion"] != "1.0" {
		return nil, poison(ReasonInvalidCloudEvents, "cloudevents", "specversion is %q, not 1.0", attrs["specversion"])
	}
	for _, a := range []string{"id", "source", "type"} {
		if attrs[a] == "" {
			return nil, poison(ReasonInvalidCloudEvents, "cloudevents", "the required attribute %s is missing", a)
		}
	}
	k := known{typ: attrs["type"], source: attrs["source"]}
	if t := attrs["time"]; t != "" {
		var err error
		if k.time, err = time.Parse(time.RFC3339Nano, t); err != nil {
			return nil, poison(ReasonInvalidCloudEvents, "cloudevents", "time %q is not an RFC 3339 timestamp", t)
		}
	}
	k.level, k.message = dataFields(data)
	if k.level == "" {
		k.level = cmpString(exts["severity"], exts["level"])
	}
	d := make([]byte, 0, len(data)+len(dataBase64)+256)
	for _, a := range ceAttrs {
		d = stringMember(d, a, attrs[a])
	}
	if len(exts) > 0 {
		d = append(member(d, "extensions"), '{')
		first := true
		for _, name := range slices.Sorted(maps.Keys(exts)) {
			if !first {
				d = append(d, ',')
			}
			first = false
			d = append(append(jsonw.AppendString(d, name), ':'), exts[name]...)
		}
		d = append(d, '}')
	}
	switch {
	case data != nil:
		d = append(member(d, "data"), data...)
	case dataBase64 != "":
		d = jsonw.AppendString(member(d, "data_base64"), dataBase64)
	}
	return r.write(rec, "cloudevents", k, d)
}

// ceData is the data of a binary-mode event: JSON when its content type
// says so (or says nothing) and it is a JSON value within bounds, else a
// string when it is UTF-8, else base64.
func (r *Reader) ceData(value []byte, contentType string) (data []byte, b64 string, err error) {
	if len(value) == 0 {
		return nil, "", nil
	}
	if isJSONType(contentType) && event.Valid(value) {
		// Checked as a member's value, for its depth.
		wrapped := append(append(append(make([]byte, 0, len(value)+6), `{"d":`...), value...), '}')
		if err := r.check(wrapped, ReasonInvalidCloudEvents, "cloudevents"); err != nil {
			return nil, "", err
		}
		return value, "", nil
	}
	if utf8.Valid(value) {
		return jsonw.AppendString(nil, string(value)), "", nil
	}
	return nil, base64.StdEncoding.EncodeToString(value), nil
}

// isJSONType reports whether a datacontenttype names JSON: none, or
// application/json, text/json or any +json type.
func isJSONType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// dataFields are the level (or severity) and the message (or msg) of an
// event's data, when it is a JSON object, or the data itself as the
// message when it is a JSON string.
func dataFields(data []byte) (level, message string) {
	switch event.FirstByte(data) {
	case '"':
		_ = json.Unmarshal(data, &message)
		return "", message
	case '{':
		var lv, sv, msg, m2 []byte
		event.Members(data, func(key, val []byte) {
			switch string(key) {
			case "level":
				lv = val
			case "severity":
				sv = val
			case "message":
				msg = val
			case "msg":
				m2 = val
			}
		})
		return cmpString(lv, sv), cmpString(msg, m2)
	}
	return "", ""
}

// cmpString is the first of raw JSON values that is a non-empty string.
func cmpString(raws ...[]byte) string {
	for _, raw := range raws {
		var s string
		if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

// contentType is rec's content-type header, without parameters and in
// lower case.
func contentType(rec *kgo.Record) string {
	ct := header(rec, ceContentType)
	if ct == nil {
		return ""
	}
	mt, _, _ := strings.Cut(string(ct), ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// header is the value of rec's first header named key (in any case), or
// nil: the first of a repeated header counts, as everywhere.
func header(rec *kgo.Record, key string) []byte {
	for _, h := range rec.Headers {
		if strings.EqualFold(h.Key, key) {
			if h.Value == nil {
				return []byte{}
			}
			return h.Value
		}
	}
	return nil
}
