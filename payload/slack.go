package payload

import "strings"

// slack renders a Slack incoming-webhook message
// (https://api.slack.com/messaging/webhooks): the summary as text, the
// notification's fallback, and blocks showing the title, the message and
// the event's level, source, type and time.
type slack struct{ described }

func compileSlack(spec *Spec, c *compiler) renderer { return &slack{c.described(spec)} }

// Slack's limits on the parts used.
const (
	slackTextMax    = 3000 // a section's text, and the fallback text kept short
	slackHeaderMax  = 150
	slackFieldMax   = 2000
	slackFieldCount = 10
)

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type   string       `json:"type"`
	Text   *slackText   `json:"text,omitempty"`
	Fields []*slackText `json:"fields,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func (s *slack) render(req *Request, in *Input, _ *scratch) error {
	f, err := s.facts(in)
	if err != nil {
		return err
	}
	msg := slackMessage{
		Text: cut(slackEscape(f.summary), slackTextMax),
		Blocks: []slackBlock{
			{Type: "header", Text: &slackText{Type: "plain_text", Text: cut(f.title, slackHeaderMax)}},
		},
	}
	if f.message != "" {
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "section",
			Text: &slackText{Type: "mrkdwn", Text: cut(slackEscape(f.message), slackTextMax)}})
	}
	var fields []*slackText
	for _, kv := range [][2]string{{"Level", f.level}, {"Source", f.source}, {"Type", f.typ}, {"Time", f.time}} {
		if kv[1] != "" && len(fields) < slackFieldCount {
			fields = append(fields, &slackText{Type: "mrkdwn", Text: cut("*"+kv[0]+"*\n"+slackEscape(kv[1]), slackFieldMax)})
		}
	}
	if len(fields) > 0 {
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Fields: fields})
	}
	req.Header = standardHeader
	req.Body, err = appendJSON(req.Body, &msg)
	return err
}

// slackEscaper escapes the three characters Slack's text formatting
// reserves, so that an event cannot ping a channel (<!channel>) or write
// links.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }
