package ingest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookstream/hookstream/event"
)

// check tells whether value is a JSON object within the reader's bounds,
// as a record that claims format must be; a value that is not one gets
// reason, naming the format.
func (r *Reader) check(value []byte, reason event.Reason, format string) *event.PoisonError {
	err := r.json.Check(value)
	if err == nil {
		return nil
	}
	switch err.Reason {
	case event.ReasonTooLarge, event.ReasonTooDeep:
		err.Detail = format + ": " + err.Detail
		return err
	}
	return poison(reason, format, "%s", err.Detail)
}

// decodeObject decodes value, a JSON object that passed check, keeping
// numbers as they are written.
func decodeObject(value []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(value))
	d.UseNumber()
	var m map[string]any
	return m, d.Decode(&m)
}

// marshal writes v as JSON without escaping HTML characters, with keys
// in order.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// str is the value at keys in m when it is a string, or a number as
// written.
func str(m map[string]any, keys ...string) string {
	var v any = m
	for _, k := range keys {
		o, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = o[k]
	}
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// firstOf is the first of keys that m holds as a non-empty string, and
// "" when none does. A value of "-", syslog's nil value, counts as empty.
func firstOf(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if s := m[k]; s != "" && s != "-" {
			return s
		}
	}
	return ""
}

// keySet is a set of member names, each mapped to itself: a name read
// from a message is stored under the set's string, not a copy of it.
type keySet map[string]string

func newKeySet(names ...string) keySet {
	ks := make(keySet, len(names))
	for _, n := range names {
		ks[n] = n
	}
	return ks
}

// scalars reads the top-level members of obj, a JSON object that passed
// check, named in keys and holding a string or a number, as text (a
// number as written). Of a repeated key the last counts.
// m comes from scalarMaps; give it back with putScalars once read.
func scalars(obj []byte, keys keySet) map[string]string {
	m := scalarMaps.Get().(map[string]string)
	event.Members(obj, func(key, val []byte) {
		name, ok := keys[string(key)]
		if !ok {
			return
		}
		switch c := val[0]; {
		case c == '"':
			if bytes.IndexByte(val, '\\') < 0 {
				m[name] = string(val[1 : len(val)-1])
			} else if s, ok := unquote(val); ok {
				m[name] = s
			}
		case c == '-' || (c >= '0' && c <= '9'):
			m[name] = string(val)
		}
	})
	return m
}

// scalarMaps holds the maps scalars reads messages into.
var scalarMaps = sync.Pool{New: func() any { return make(map[string]string, 16) }}

// putScalars gives back a map scalars returned.
func putScalars(m map[string]string) {
	clear(m)
	scalarMaps.Put(m)
}

// unquote is the string a JSON string with escapes holds.
func unquote(val []byte) (string, bool) {
	var s string
	err := json.Unmarshal(val, &s)
	return s, err == nil
}

// timeText reads an RFC 3339 time, or unix seconds or milliseconds as
// text.
func timeText(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if decimal(s) {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return timeOf(json.Number(s))
		}
	}
	return timeOf(s)
}

// decimal reports whether s is made of what a decimal number is written
// with, so that a date is not parsed as a number first.
func decimal(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
		default:
			return false
		}
	}
	return s != ""
}

// timeOf reads an RFC 3339 string, or unix seconds or milliseconds
// (above 1e12), as a time.
func timeOf(v any) (time.Time, bool) {
	switch v := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
		return t.UTC(), err == nil
	case json.Number:
		f, err := v.Float64()
		if err != nil || f < 0 || f >= 253402300800e3 {
			return time.Time{}, false
		}
		if f > 1e12 {
			return time.UnixMilli(int64(f)).UTC(), true
		}
		if f >= 253402300800 {
			return time.Time{}, false
		}
		return time.Unix(int64(f), int64((f-float64(int64(f)))*1e9)).UTC(), true
	}
	return time.Time{}, false
}
