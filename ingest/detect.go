package ingest

import (
	"github.com/hookstream/hookstream/event"
	"github.com/twmb/franz-go/pkg/kgo"
)

// detect tells the format of rec, for a topic of format auto, from its
// headers and then its content:
//   - a ce_specversion header, or the content type
//     application/cloudevents+json: cloudevents;
//   - a JSON object with resourceLogs: otlp; with specversion, id, source
//     and type: cloudevents; with ecs.version (or ecs), or @timestamp and
//     log.level (or log): ecs; with rsyslog's syslogseverity,
//     syslogfacility, syslogtag or programname: syslog-json; any other:
//     json;
//   - any other value: otlp in protobuf, if it parses as a request
//     holding a log record (Read tries it once).
//
// Anything else is read as json, which says why it is not an event.
func detect(rec *kgo.Record) Format {
	if header(rec, ceHeaderPrefix+"specversion") != nil || contentType(rec) == ceStructuredType {
		return CloudEvents
	}
	if event.FirstByte(rec.Value) != '{' {
		if len(rec.Value) > 0 {
			return OTLPProto // if it parses as one; Read falls back to JSON
		}
		return JSON
	}
	if !event.Valid(rec.Value) {
		return JSON
	}
	keys := map[string]bool{}
	event.Members(rec.Value, func(key, _ []byte) {
		switch k := string(key); k {
		case "resourceLogs", "specversion", "id", "source", "type", "ecs.version", "ecs", "@timestamp",
			"log.level", "log", "syslogseverity", "syslogfacility", "syslogtag", "programname":
			keys[k] = true
		}
	})
	switch {
	case keys["resourceLogs"]:
		return OTLPJSON
	case keys["specversion"] && keys["id"] && keys["source"] && keys["type"]:
		return CloudEvents
	case keys["ecs.version"] || keys["ecs"] || (keys["@timestamp"] && (keys["log.level"] || keys["log"])):
		return ECS
	case keys["syslogseverity"] || keys["syslogfacility"] || keys["syslogtag"] || keys["programname"]:
		return SyslogJSON
	}
	return JSON
}
