package payload

import "encoding/json"

// pagerDuty renders a PagerDuty Events API v2 event
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/):
// trigger, or resolve when resolve_when matches the event, under a dedup
// key that groups an incident's events.
type pagerDuty struct {
	described
	source, dedupKey text
	routingKey       string
	resolve          Matcher
}

// PagerDuty's limits.
const (
	pagerDutySummaryMax  = 1024
	pagerDutyDedupKeyMax = 255
	pagerDutySourceMax   = 255
)

func compilePagerDuty(spec *Spec, c *compiler) renderer {
	pd := &pagerDuty{described: c.described(spec), source: c.text("source", spec.Source),
		dedupKey: c.text("dedup_key", spec.DedupKey), routingKey: spec.RoutingKey}
	if spec.RoutingKey == "" {
		c.fail("routing_key", "is required: the integration key of a PagerDuty service")
	}
	if spec.ResolveWhen != nil {
		if c.opts.CompileCondition == nil {
			c.fail("resolve_when", "is not supported here")
		} else if m, err := c.opts.CompileCondition(*spec.ResolveWhen); err != nil {
			c.fail("resolve_when", "%v", err)
		} else {
			pd.resolve = m
			c.readsEvent = true
		}
	}
	return pd
}

type pagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Client      string            `json:"client,omitempty"`
	Payload     *pagerDutyPayload `json:"payload,omitempty"`
}

type pagerDutyPayload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source"`
	Severity      string          `json:"severity"`
	Timestamp     string          `json:"timestamp"`
	CustomDetails json.RawMessage `json:"custom_details"`
}

func (pd *pagerDuty) render(req *Request, in *Input, _ *scratch) error {
	key, err := pd.dedupKey.string(in, maxFact)
	if err != nil {
		return err
	}
	if key == "" {
		key = in.Event.Type + "/" + in.Event.Source
	}
	ev := pagerDutyEvent{RoutingKey: pd.routingKey, EventAction: "trigger", DedupKey: head(key, pagerDutyDedupKeyMax), Client: "hookstream"}
	if pd.resolve != nil && pd.resolve(in.Event) {
		ev.EventAction = "resolve"
	} else {
		f, err := pd.facts(in)
		if err != nil {
			return err
		}
		source, err := pd.source.string(in, maxFact)
		if err != nil {
			return err
		}
		if source == "" {
			source = f.source
		}
		if source == "" {
			source = "hookstream"
		}
		ev.Payload = &pagerDutyPayload{Summary: cut(f.summary, pagerDutySummaryMax), Source: cut(source, pagerDutySourceMax),
			Severity: severity(f.level), Timestamp: f.time, CustomDetails: in.Event.Raw}
	}
	req.Header = standardHeader
	req.Body, err = appendJSON(req.Body, &ev)
	return err
}
