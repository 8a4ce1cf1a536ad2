// Package ingest reads log events in the shapes log shippers write to
// Kafka — plain JSON, OpenTelemetry (OTLP), Elastic Common Schema,
// CloudEvents and rsyslog's JSON — into events with the same well-known
// fields, so that subscriptions match and render every format alike.
//
// A JSON event is taken as it came. An event of any other format is
// converted into hookstream's event shape: a JSON object whose first
// members are the well-known fields (type, level, source, message,
// timestamp) and "format", followed by what the format carries (an OTLP
// record's attributes, resource and scope; the ECS document; the
// CloudEvent's attributes and data; the syslog fields). Deliveries carry
// that object, so a retried delivery needs no conversion.
package ingest

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/event"
)

// Format names how the records of an input topic are written.
type Format string

// The formats an input topic may have.
const (
	JSON        Format = "json"        // a JSON object per record, taken as it is
	OTLP        Format = "otlp"        // an OTLP ExportLogsServiceRequest, protobuf or JSON, told apart per record
	OTLPProto   Format = "otlp_proto"  // OTLP in protobuf only
	OTLPJSON    Format = "otlp_json"   // OTLP in JSON only
	ECS         Format = "ecs"         // an Elastic Common Schema document
	CloudEvents Format = "cloudevents" // a CloudEvent in the Kafka binding, binary or structured mode
	SyslogJSON  Format = "syslog-json" // a syslog message as rsyslog's JSON templates write it
	Auto        Format = "auto"        // any of the above, told apart per record
)

// Formats lists the formats, as the documentation orders them.
var Formats = []Format{JSON, OTLP, OTLPProto, OTLPJSON, ECS, CloudEvents, SyslogJSON, Auto}

// The reasons a record that claims a format is refused.
const (
	ReasonInvalidOTLP        event.Reason = "invalid_otlp"
	ReasonInvalidECS         event.Reason = "invalid_ecs"
	ReasonInvalidCloudEvents event.Reason = "invalid_cloudevents"
	ReasonInvalidSyslog      event.Reason = "invalid_syslog"
)

// Options configure a Reader.
type Options struct {
	// Default is the format of the topics Topics does not name. Default
	// json.
	Default Format
	// Topics gives some topics a format of their own.
	Topics map[string]Format
	// JSON locates the well-known fields of a JSON event.
	JSON event.Locations
	// Overrides, per converted format (otlp, ecs, cloudevents,
	// syslog-json), are paths into the converted event tried before the
	// format's own rule for each well-known field.
	Overrides map[Format]event.Locations
	// MaxBytes bounds a record's value and a converted event; MaxDepth
	// their nesting.
	MaxBytes, MaxDepth int
}

// A Reader reads the events of input records. It is safe for concurrent
// use.
type Reader struct {
	def      Format
	topics   map[string]Format
	json     *event.Decoder
	written  *event.Decoder // the events a Reader converted
	override map[string]*event.Decoder
	maxBytes int
	maxDepth int
}

// NewReader compiles opts.
func NewReader(opts Options) (*Reader, error) {
	if opts.Default == "" {
		opts.Default = JSON
	}
	r := &Reader{def: opts.Default, topics: opts.Topics, maxBytes: opts.MaxBytes, maxDepth: opts.MaxDepth,
		override: map[string]*event.Decoder{}}
	var err error
	if r.json, err = event.NewDecoder(opts.JSON, opts.MaxBytes, opts.MaxDepth); err != nil {
		return nil, err
	}
	// A converted event nests what it carries one level down.
	r.written, err = event.NewDecoder(event.Locations{
		Type: []string{"type"}, Level: []string{"level"}, Source: []string{"source"},
		Timestamp: []string{"timestamp"}, Message: []string{"message"},
	}, opts.MaxBytes, opts.MaxDepth+1)
	if err != nil {
		return nil, err
	}
	for f, loc := range opts.Overrides {
		switch f {
		case OTLP, ECS, CloudEvents, SyslogJSON:
		default:
			return nil, fmt.Errorf("fields of format %q: only otlp, ecs, cloudevents and syslog-json take them", f)
		}
		d, err := event.NewDecoder(loc, opts.MaxBytes, opts.MaxDepth+1)
		if err != nil {
			return nil, fmt.Errorf("fields of format %s: %w", f, err)
		}
		r.override[string(f)] = d
	}
	return r, nil
}

// FormatOf returns the format of topic's records.
func (r *Reader) FormatOf(topic string) Format {
	if f, ok := r.topics[topic]; ok {
		return f
	}
	return r.def
}

// JSON returns the decoder of JSON events.
func (r *Reader) JSON() *event.Decoder { return r.json }

// Read returns the events of rec, read in its topic's format: one for
// most formats, one per log record for OTLP (none for a request without
// any). Any error is an *event.PoisonError naming what rec lacks.
func (r *Reader) Read(rec *kgo.Record) ([]*event.Event, error) {
	if len(rec.Value) > r.maxBytes {
		return nil, &event.PoisonError{Reason: event.ReasonTooLarge, Detail: fmt.Sprintf("value is %d bytes, limit is %d", len(rec.Value), r.maxBytes)}
	}
	f := r.FormatOf(rec.Topic)
	if f == Auto {
		if f = detect(rec); f == OTLPProto {
			// Parsed once: a value that is not an OTLP request holding a
			// log record is read as JSON, which says why it is poison.
			events, err := r.otlp(rec, OTLPProto)
			var p *event.PoisonError
			if len(events) > 0 || (err != nil && !(errors.As(err, &p) && p.Reason == ReasonInvalidOTLP)) {
				return events, err
			}
			f = JSON
		}
	}
	var ev *event.Event
	var err error
	switch f {
	case OTLP, OTLPProto, OTLPJSON:
		return r.otlp(rec, f)
	case ECS:
		ev, err = r.ecs(rec)
	case CloudEvents:
		ev, err = r.cloudEvent(rec)
	case SyslogJSON:
		ev, err = r.syslog(rec)
	default:
		ev, err = r.json.Decode(rec.Value)
	}
	if err != nil {
		return nil, err
	}
	return []*event.Event{ev}, nil
}

// Stored decodes raw, an event kept in a delivery job, which Read gave
// with format as its Event.Format.
func (r *Reader) Stored(format string, raw []byte) (*event.Event, error) {
	if format == "" {
		return r.json.Decode(raw)
	}
	ev, err := r.written.Decode(raw)
	if err != nil {
		return nil, err
	}
	ev.Format = format
	return ev, nil
}
