package payload

// teams renders a message for a Microsoft Teams Workflows webhook
// ("Post to a channel when a webhook request is received"): one
// attachment holding an Adaptive Card 1.2 with the title, the message and
// a fact set of the event's level, source, type and time. The retired
// Office 365 connector MessageCard is not written.
type teams struct{ described }

func compileTeams(spec *Spec, c *compiler) renderer { return &teams{c.described(spec)} }

// teamsTextMax keeps a card well under Teams' 28 KB message limit.
const teamsTextMax = 8000

type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl"`
	Content     teamsCard `json:"content"`
}

type teamsCard struct {
	Schema  string           `json:"$schema"`
	Type    string           `json:"type"`
	Version string           `json:"version"`
	Body    []map[string]any `json:"body"`
}

type teamsFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

func (t *teams) render(req *Request, in *Input, _ *scratch) error {
	f, err := t.facts(in)
	if err != nil {
		return err
	}
	title := map[string]any{"type": "TextBlock", "text": cut(f.title, teamsTextMax), "weight": "Bolder", "size": "Medium", "wrap": true}
	switch severity(f.level) {
	case "critical", "error":
		title["color"] = "Attention"
	case "warning":
		title["color"] = "Warning"
	}
	text := f.message
	if text == "" {
		text = f.summary
	}
	var facts []teamsFact
	for _, kv := range [][2]string{{"Level", f.level}, {"Source", f.source}, {"Type", f.typ}, {"Time", f.time}} {
		if kv[1] != "" {
			facts = append(facts, teamsFact{Title: kv[0], Value: cut(kv[1], teamsTextMax)})
		}
	}
	body := []map[string]any{title, {"type": "TextBlock", "text": cut(text, teamsTextMax), "wrap": true}}
	if len(facts) > 0 {
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	}
	msg := teamsMessage{Type: "message", Attachments: []teamsAttachment{{
		ContentType: "application/vnd.microsoft.card.adaptive",
		Content: teamsCard{Schema: "http://adaptivecards.io/schemas/adaptive-card.json",
			Type: "AdaptiveCard", Version: "1.2", Body: body},
	}}}
	req.Header = standardHeader
	req.Body, err = appendJSON(req.Body, &msg)
	return err
}
