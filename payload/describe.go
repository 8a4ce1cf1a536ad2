package payload

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// described is the part of a chat or incident format that says what
// happened: a summary line and a title, each a template or a default.
type described struct {
	summary, title text
}

func (c *compiler) described(spec *Spec) described {
	return described{summary: c.text("summary", spec.Summary), title: c.text("title", spec.Title)}
}

// facts are what the chat and incident formats show of an event.
type facts struct {
	summary, title string
	message        string
	level          string // as the event has it
	source, typ    string
	time           string // RFC 3339
}

// maxFact bounds a rendered summary or title before a format cuts it to
// its own limit.
const maxFact = 8 << 10

// facts renders the summary and title of in and reads its well-known
// fields. The default summary is "[LEVEL] type on source: message" and
// the default title "[LEVEL] type", leaving out what the event lacks.
func (d *described) facts(in *Input) (facts, error) {
	ev := in.Event
	f := facts{message: ev.Message, level: ev.Level, source: ev.Source, typ: ev.Type,
		time: formatTime(in)}
	var err error
	if f.summary, err = d.summary.string(in, maxFact); err != nil {
		return f, err
	}
	if f.title, err = d.title.string(in, maxFact); err != nil {
		return f, err
	}
	if f.title == "" {
		f.title = defaultTitle(ev.Level, ev.Type)
	}
	if f.summary == "" {
		f.summary = defaultTitle(ev.Level, ev.Type)
		if ev.Source != "" {
			f.summary += " on " + ev.Source
		}
		if ev.Message != "" {
			f.summary += ": " + ev.Message
		}
	}
	return f, nil
}

func defaultTitle(level, typ string) string {
	var b strings.Builder
	if level != "" {
		b.WriteString("[" + strings.ToUpper(level) + "] ")
	}
	if typ == "" {
		typ = "event"
	}
	b.WriteString(typ)
	return b.String()
}

// severity sorts a level into one of four: critical, error, warning or
// info (syslog's and the common loggers' names alike).
func severity(level string) string {
	switch strings.ToLower(level) {
	case "fatal", "critical", "crit", "panic", "emerg", "emergency", "alert":
		return "critical"
	case "error", "err":
		return "error"
	case "warn", "warning":
		return "warning"
	}
	return "info"
}

// appendJSON appends v encoded as JSON without HTML escaping, for the
// formats built from structs.
func appendJSON(dst []byte, v any) ([]byte, error) {
	b := bytes.NewBuffer(dst)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	out := b.Bytes()
	return out[:len(out)-1], nil // Encode ends with a newline
}

// formatTime writes in's time as RFC 3339 in UTC.
func formatTime(in *Input) string { return in.Time.UTC().Format(time.RFC3339Nano) }
