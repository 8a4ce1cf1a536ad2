package ingest

import (
	"cmp"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/event"
)

// ecs reads an Elastic Common Schema document, as Elastic's ECS logging
// libraries, Beats and Logstash write it. Dotted keys ("log.level") are
// expanded into objects, as Elasticsearch reads them, so that a path
// finds a field however the shipper wrote it:
//
//	{"type": event.action or event.dataset or log.logger, "level": log.level,
//	 "source": service.name, "message": message, "timestamp": @timestamp,
//	 "format": "ecs", "ecs": the document}
func (r *Reader) ecs(rec *kgo.Record) (*event.Event, error) {
	if err := r.check(rec.Value, ReasonInvalidECS, "ecs"); err != nil {
		return nil, err
	}
	doc, err := decodeObject(rec.Value)
	if err != nil {
		return nil, poison(ReasonInvalidECS, "ecs", "%v", err)
	}
	doc = expand(doc)
	at, ok := doc["@timestamp"]
	if !ok {
		return nil, poison(ReasonInvalidECS, "ecs", "the document has no @timestamp, the one field ECS requires")
	}
	k := known{
		typ:     cmp.Or(str(doc, "event", "action"), str(doc, "event", "dataset"), str(doc, "log", "logger")),
		level:   str(doc, "log", "level"),
		source:  str(doc, "service", "name"),
		message: str(doc, "message"),
	}
	if k.time, ok = timeOf(at); !ok {
		return nil, poison(ReasonInvalidECS, "ecs", "@timestamp is not an RFC 3339 time")
	}
	body, err := marshal(doc)
	if err != nil {
		return nil, poison(ReasonInvalidECS, "ecs", "%v", err)
	}
	if err := r.json.Check(body); err != nil {
		// Expanded dotted keys nest deeper than the limit.
		err.Detail = "ecs: once dotted keys are expanded, " + err.Detail
		return nil, err
	}
	return r.write(rec, "ecs", k, append(member(make([]byte, 0, len(body)+8), "ecs"), body...))
}

// expand turns m's dotted keys into nested objects, merging them with
// objects written nested: {"log.level": "info", "log": {"logger": "x"}}
// becomes {"log": {"level": "info", "logger": "x"}}. A dotted key whose
// path runs into a value that is not an object is kept as it is.
func expand(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	// Nested objects first, so that dotted keys merge into them.
	for k, v := range m {
		if !strings.Contains(k, ".") {
			if o, ok := v.(map[string]any); ok {
				v = expand(o)
			}
			merge(out, k, v)
		}
	}
	for k, v := range m {
		if !strings.Contains(k, ".") {
			continue
		}
		if o, ok := v.(map[string]any); ok {
			v = expand(o)
		}
		parts := strings.Split(k, ".")
		if slices.Contains(parts, "") {
			out[k] = v
			continue
		}
		at := out
		ok := true
		for _, p := range parts[:len(parts)-1] {
			next, exists := at[p]
			if !exists {
				o := map[string]any{}
				at[p] = o
				at = o
				continue
			}
			o, isObj := next.(map[string]any)
			if !isObj {
				ok = false
				break
			}
			at = o
		}
		if !ok {
			out[k] = v
			continue
		}
		merge(at, parts[len(parts)-1], v)
	}
	return out
}

// merge sets m[k] to v, merging the members of two objects.
func merge(m map[string]any, k string, v any) {
	old, exists := m[k]
	if !exists {
		m[k] = v
		return
	}
	oo, ok1 := old.(map[string]any)
	vo, ok2 := v.(map[string]any)
	if !ok1 || !ok2 {
		m[k] = v
		return
	}
	for kk, vv := range vo {
		merge(oo, kk, vv)
	}
}
