// Package event decodes log events, the JSON objects read from the input
// topics, and finds the well-known fields used to match them.
package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Event is a decoded log event. The well-known fields are read when it is
// decoded; the whole object is decoded only when Fields is first called,
// which only subscriptions with field predicates need. An Event is not
// safe for concurrent use.
type Event struct {
	// Raw is the record value as received; deliveries carry it unchanged.
	Raw []byte
	// Type, Source and Message are the well-known fields as strings, empty
	// when absent. Level is lower-cased.
	Type, Level, Source, Message string
	// Time is the event's timestamp field, or the zero time when absent or
	// unreadable.
	Time time.Time
	// Format is the format the event was converted from ("otlp", "ecs",
	// …) into hookstream's event shape; empty for a JSON event taken as
	// it came.
	Format string
	// Traceparent is the W3C trace context the event carries in its own
	// fields (an OTLP log record's trace and span IDs), or empty.
	Traceparent string

	fields  map[string]any
	decoded bool
	valid   bool // Raw is a JSON object checked by a Decoder
}

// Fields returns the decoded JSON object, as encoding/json would decode
// it into a map[string]any. It is empty for an object that holds a number
// beyond float64.
func (e *Event) Fields() map[string]any {
	if !e.decoded {
		e.decoded = true
		ok := false
		if e.valid {
			// Checked already: walked without checking again, and
			// without reflection.
			e.fields, ok = decodeObject(e.Raw)
		} else {
			ok = json.Unmarshal(e.Raw, &e.fields) == nil
		}
		if !ok || e.fields == nil {
			e.fields = map[string]any{}
		}
	}
	return e.fields
}

// Written returns ev, whose Raw is a JSON object hookstream wrote
// itself, as a decoder's event: its fields are read without checking
// Raw again.
func Written(ev Event) *Event {
	ev.valid = true
	return &ev
}

// Decoded reports whether the event's object is decoded: Fields was
// called.
func (e *Event) Decoded() bool { return e.decoded }

// Lookup returns the value at a chain of object keys ("metadata",
// "amount"), as Fields would hold it, and whether there is one. An event
// whose object is not decoded yet is scanned for it instead, which
// decodes only that value: Lookup does not write to the event, so
// several goroutines may call it at once as long as none calls Fields.
func (e *Event) Lookup(keys []string) (any, bool) {
	if e.decoded || !e.valid {
		var v any = e.Fields()
		for _, k := range keys {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		}
		return v, true
	}
	raw, ok := lookupRaw(e.Raw, keys)
	if !ok {
		return nil, false
	}
	return decodeValue(raw)
}

// LookupEach looks up each chain of keys in paths, as Lookup does, into
// the same index of vals, and reports whether every one has a value. An
// event whose object is not decoded yet is scanned once for the first
// keys of them all, not once for each: a template reads several fields.
func (e *Event) LookupEach(paths [][]string, vals []any) bool {
	if e.decoded || !e.valid || FirstByte(e.Raw) != '{' {
		for i, keys := range paths {
			v, ok := e.Lookup(keys)
			if !ok {
				return false
			}
			vals[i] = v
		}
		return true
	}
	var small [8][]byte
	found := small[:]
	if len(paths) > len(small) {
		found = make([][]byte, len(paths))
	}
	found = found[:len(paths)]
	members(e.Raw, func(key, v []byte) {
		for i, keys := range paths {
			if len(keys) > 0 && string(key) == keys[0] {
				found[i] = v // the last of duplicate keys, as encoding/json
			}
		}
	})
	for i, keys := range paths {
		raw, ok := e.Raw, true
		if len(keys) > 0 {
			raw, ok = lookupRaw(found[i], keys[1:])
		}
		if !ok || raw == nil {
			return false
		}
		if vals[i], ok = decodeValue(raw); !ok {
			return false
		}
	}
	return true
}

// lookupRaw returns the raw value at the chain of object keys in raw, a
// JSON value checked already.
func lookupRaw(raw []byte, keys []string) ([]byte, bool) {
	for _, k := range keys {
		if FirstByte(raw) != '{' {
			return nil, false
		}
		var val []byte
		members(raw, func(key, v []byte) {
			if string(key) == k {
				val = v // the last of duplicate keys, as encoding/json
			}
		})
		if val == nil {
			return nil, false
		}
		raw = val
	}
	return raw, true
}

// Reason says why a record is poison. Reasons are metric labels.
type Reason string

// The reasons a record value is refused.
const (
	ReasonEmpty       Reason = "empty"
	ReasonTooLarge    Reason = "too_large"
	ReasonInvalidUTF8 Reason = "invalid_utf8"
	ReasonTooDeep     Reason = "too_deep"
	ReasonInvalidJSON Reason = "invalid_json"
	ReasonNotObject   Reason = "not_object"
)

// PoisonError is returned for a record value that is not a usable event.
type PoisonError struct {
	Reason Reason
	Detail string
}

func (e *PoisonError) Error() string { return "poison record: " + string(e.Reason) + ": " + e.Detail }

// Locations lists, for each well-known field, the paths tried in order.
type Locations struct {
	Type, Level, Source, Timestamp, Message []string
}

// Decoder turns record values into events. It is safe for concurrent use.
type Decoder struct {
	maxBytes, maxDepth              int
	typ, level, source, ts, message []Path
	// topKeys maps each top-level key of the well-known fields' paths to
	// its slot in a scan; nil when some path goes deeper, and events are
	// then decoded whole.
	topKeys map[string]int
	slots   int
	// The slot of each path of each field, in order.
	typSlots, levelSlots, sourceSlots, tsSlots, messageSlots []int
}

// NewDecoder compiles the field locations. maxBytes and maxDepth bound
// the accepted values.
func NewDecoder(loc Locations, maxBytes, maxDepth int) (*Decoder, error) {
	d := &Decoder{maxBytes: maxBytes, maxDepth: maxDepth}
	for _, f := range []struct {
		dst   *[]Path
		paths []string
	}{
		{&d.typ, loc.Type}, {&d.level, loc.Level}, {&d.source, loc.Source},
		{&d.ts, loc.Timestamp}, {&d.message, loc.Message},
	} {
		for _, s := range f.paths {
			p, err := ParsePath(s)
			if err != nil {
				return nil, err
			}
			*f.dst = append(*f.dst, p)
		}
	}
	d.topKeys = map[string]int{}
	for _, f := range []struct {
		paths []Path
		slots *[]int
	}{
		{d.typ, &d.typSlots}, {d.level, &d.levelSlots}, {d.source, &d.sourceSlots},
		{d.ts, &d.tsSlots}, {d.message, &d.messageSlots},
	} {
		for _, p := range f.paths {
			key, ok := p.topKey()
			if !ok {
				d.topKeys = nil
				return d, nil
			}
			slot, seen := d.topKeys[key]
			if !seen {
				slot = d.slots
				d.topKeys[key] = slot
				d.slots++
			}
			*f.slots = append(*f.slots, slot)
		}
	}
	return d, nil
}

// Decode parses a record value. Any error is a *PoisonError.
func (d *Decoder) Decode(value []byte) (*Event, error) {
	if err := d.Check(value); err != nil {
		return nil, err
	}
	ev := &Event{Raw: value, valid: true}
	if d.topKeys == nil {
		d.objectFields(ev)
	} else {
		d.scanFields(ev)
	}
	return ev, nil
}

// Check tells whether value is a JSON object within the decoder's bounds,
// and if not why, as a *PoisonError.
func (d *Decoder) Check(value []byte) *PoisonError {
	switch {
	case len(value) == 0:
		return &PoisonError{ReasonEmpty, "record has no value"}
	case len(value) > d.maxBytes:
		return &PoisonError{ReasonTooLarge, fmt.Sprintf("value is %d bytes, limit is %d", len(value), d.maxBytes)}
	case !utf8.Valid(value):
		return &PoisonError{ReasonInvalidUTF8, "value is not valid UTF-8"}
	}
	if depth := nesting(value, d.maxDepth); depth > d.maxDepth {
		return &PoisonError{ReasonTooDeep, fmt.Sprintf("nesting exceeds %d levels", d.maxDepth)}
	}
	first := FirstByte(value)
	if first != '{' {
		if Valid(value) {
			return &PoisonError{ReasonNotObject, "value is JSON but not an object (starts with " + strconv.QuoteRune(rune(first)) + ")"}
		}
		return &PoisonError{ReasonInvalidJSON, "value is not JSON"}
	}
	if !Valid(value) {
		var v any
		err := json.Unmarshal(value, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return &PoisonError{ReasonInvalidJSON, fmt.Sprintf("%v at offset %d", se, se.Offset)}
		}
		return &PoisonError{ReasonInvalidJSON, "value is not JSON"}
	}
	return nil
}

// objectFields reads the well-known fields of ev from its decoded object.
func (d *Decoder) objectFields(ev *Event) {
	obj := ev.Fields()
	str := func(paths []Path) string {
		for _, p := range paths {
			if v, ok := p.Lookup(obj); ok {
				if s, ok := scalarString(v); ok {
					return s
				}
			}
		}
		return ""
	}
	ev.Type, ev.Level, ev.Source, ev.Message = str(d.typ), strings.ToLower(str(d.level)), str(d.source), str(d.message)
	for _, p := range d.ts {
		if v, ok := p.Lookup(obj); ok {
			if t, ok := parseTime(v); ok {
				ev.Time = t
				return
			}
		}
	}
}

// scanFields reads the well-known fields of ev from one scan of its
// top-level members, when every path is a top-level key. It allocates
// only the strings it returns.
func (d *Decoder) scanFields(ev *Event) {
	var buf [16][]byte // the defaults' 11 slots fit; more are allocated
	vals := buf[:]
	if d.slots > len(buf) {
		vals = make([][]byte, d.slots)
	}
	members(ev.Raw, func(key, val []byte) {
		if i, ok := d.topKeys[string(key)]; ok {
			vals[i] = val // a repeated key: the last wins, as in encoding/json
		}
	})
	str := func(slots []int) string {
		for _, i := range slots {
			if raw := vals[i]; raw != nil {
				if s, ok := rawString(raw); ok {
					return s
				}
			}
		}
		return ""
	}
	ev.Type, ev.Level, ev.Source, ev.Message = str(d.typSlots), strings.ToLower(str(d.levelSlots)), str(d.sourceSlots), str(d.messageSlots)
	for _, i := range d.tsSlots {
		if raw := vals[i]; raw != nil {
			if t, ok := rawTime(raw); ok {
				ev.Time = t
				return
			}
		}
	}
}

// scalarString gives a well-known field's value as a string: strings as
// they are, numbers and booleans as text; null, objects and arrays are
// not taken.
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// rawString is scalarString of a raw JSON value.
func rawString(raw []byte) (string, bool) {
	switch raw[0] {
	case '"':
		if bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1]), true
		}
	case 't':
		return "true", true
	case 'f':
		return "false", true
	case 'n', '{', '[':
		return "", false
	}
	return scalarString(scalar(raw))
}

// rawTime is parseTime of a raw JSON value.
func rawTime(raw []byte) (time.Time, bool) {
	if raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		t, err := time.Parse(time.RFC3339Nano, string(raw[1:len(raw)-1]))
		return t, err == nil
	}
	return parseTime(scalar(raw))
}

// lastTime is the latest time an event may carry, the end of year 9999,
// in unix seconds: later ones (and numbers beyond int64) are not read as
// times, and the record's time is used instead.
const lastTime = 253402300799

// parseTime reads RFC 3339 strings and unix times in seconds or
// milliseconds (numbers above 1e12 are taken as milliseconds), up to the
// end of year 9999.
func parseTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		return t, err == nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return time.Time{}, false
		}
		if v > 1e12 {
			if v >= (lastTime+1)*1e3 {
				return time.Time{}, false
			}
			return time.UnixMilli(int64(v)).UTC(), true
		}
		if v >= lastTime+1 {
			return time.Time{}, false
		}
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
	}
	return time.Time{}, false
}

// FirstByte is b's first byte that is not JSON whitespace, or 0.
func FirstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}

// nesting returns the deepest nesting of arrays and objects in b, stopping
// as soon as it passes limit. Brackets inside strings do not count; a
// string's bytes are skipped with bytes.IndexByte, which reads many at a
// time.
func nesting(b []byte, limit int) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end := stringClose(b, i+1)
			if end < 0 {
				return deepest
			}
			i = end
		case '{', '[':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > limit {
					return deepest
				}
			}
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// stringClose returns the index of the quote that closes the string
// whose contents start at b[from], or -1 when there is none.
func stringClose(b []byte, from int) int {
	for {
		j := bytes.IndexByte(b[from:], '"')
		if j < 0 {
			return -1
		}
		q := from + j
		// The quote is escaped when an odd number of backslashes precede it.
		k := q
		for k > from && b[k-1] == '\\' {
			k--
		}
		if (q-k)%2 == 0 {
			return q
		}
		from = q + 1
	}
}
