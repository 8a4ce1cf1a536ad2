package ingest

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/internal/jsonw"
)

// known holds the well-known fields a format found in a record.
type known struct {
	typ, level, source, message string
	time                        time.Time
}

// written is what write adds to the fields it is given: their names,
// quotes, commas and braces, and a timestamp at its longest. Only
// escapes make an event longer.
const written = len(`{"type":"","level":"","source":"","message":"","timestamp":"","format":"",}`) + len(time.RFC3339Nano)

// write returns the event in hookstream's shape of a record of rec
// converted from format: k's fields, then detail, the format's own
// members (`"key":value,…` without braces). Paths configured for the
// format are looked up in detail first.
func (r *Reader) write(rec *kgo.Record, format string, k known, detail []byte) (*event.Event, error) {
	if d := r.override[format]; d != nil {
		k = r.overridden(d, k, detail)
	}
	if k.time.IsZero() {
		k.time = rec.Timestamp.UTC()
	}
	// As the JSON writer writes them.
	k.typ, k.source, k.message = validUTF8(k.typ), validUTF8(k.source), validUTF8(k.message)
	k.level = strings.ToLower(validUTF8(k.level))
	buf := make([]byte, 0, written+len(k.typ)+len(k.level)+len(k.source)+len(k.message)+len(format)+len(detail))
	buf = append(buf, `{"type":`...)
	buf = jsonw.AppendString(buf, k.typ)
	buf = append(buf, `,"level":`...)
	buf = jsonw.AppendString(buf, k.level)
	buf = append(buf, `,"source":`...)
	buf = jsonw.AppendString(buf, k.source)
	buf = append(buf, `,"message":`...)
	buf = jsonw.AppendString(buf, k.message)
	buf = append(buf, `,"timestamp":"`...)
	buf = k.time.AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","format":`...)
	buf = jsonw.AppendString(buf, format)
	if len(detail) > 0 {
		buf = append(buf, ',')
		buf = append(buf, detail...)
	}
	buf = append(buf, '}')
	if len(buf) > r.maxBytes {
		return nil, &event.PoisonError{Reason: event.ReasonTooLarge,
			Detail: fmt.Sprintf("the %s event is %d bytes once converted, limit is %d", format, len(buf), r.maxBytes)}
	}
	return event.Written(event.Event{Raw: buf, Type: k.typ, Level: k.level, Source: k.source,
		Message: k.message, Time: k.time, Format: format}), nil
}

// overridden is k with the fields d finds in detail in place of the
// format's own.
func (r *Reader) overridden(d *event.Decoder, k known, detail []byte) known {
	obj := make([]byte, 0, len(detail)+2)
	obj = append(append(append(obj, '{'), detail...), '}')
	ev, err := d.Decode(obj)
	if err != nil {
		return k // detail is written by the format: not reached
	}
	for _, f := range []struct {
		dst *string
		v   string
	}{{&k.typ, ev.Type}, {&k.level, ev.Level}, {&k.source, ev.Source}, {&k.message, ev.Message}} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if !ev.Time.IsZero() {
		k.time = ev.Time
	}
	return k
}

// validUTF8 is s with each byte that is not UTF-8 replaced by U+FFFD, as
// jsonw writes it.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// member appends `"key":` to dst, after a comma unless dst is empty.
func member(dst []byte, key string) []byte {
	if len(dst) > 0 {
		dst = append(dst, ',')
	}
	dst = jsonw.AppendString(dst, key)
	return append(dst, ':')
}

// stringMember appends `"key":"value"`, unless value is empty.
func stringMember[S ~string | ~[]byte](dst []byte, key string, value S) []byte {
	if len(value) == 0 {
		return dst
	}
	return jsonw.AppendString(member(dst, key), value)
}

// poison is the error of a record that does not parse as format. The
// detail is cut short of the excerpts of the value some parsers quote.
func poison(reason event.Reason, format, detail string, args ...any) *event.PoisonError {
	d := fmt.Sprintf(detail, args...)
	d, _, _ = strings.Cut(d, ", error found in #")
	if len(d) > maxDetail {
		d = d[:maxDetail] + "…"
	}
	return &event.PoisonError{Reason: reason, Detail: format + ": " + strings.ToValidUTF8(d, "\ufffd")}
}

// maxDetail bounds the detail of a poison error.
const maxDetail = 256
