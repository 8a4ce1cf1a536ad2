package payload

import (
	"strings"

	"github.com/hookstream/hookstream/internal/jsonw"
)

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

func (s *slack) render(req *Request, in *Input, _ *scratch) error {
	f, err := s.facts(in)
	if err != nil {
		return err
	}
	b := append(req.Body, `{"text":`...)
	b = jsonw.AppendString(b, cut(slackEscape(f.summary), slackTextMax))
	b = append(b, `,"blocks":[{"type":"header","text":{"type":"plain_text","text":`...)
	b = jsonw.AppendString(b, cut(f.title, slackHeaderMax))
	b = append(b, `}}`...)
	if f.message != "" {
		b = append(b, `,{"type":"section","text":{"type":"mrkdwn","text":`...)
		b = jsonw.AppendString(b, cut(slackEscape(f.message), slackTextMax))
		b = append(b, `}}`...)
	}
	fields := 0
	for _, kv := range [...][2]string{{"Level", f.level}, {"Source", f.source}, {"Type", f.typ}, {"Time", f.time}} {
		if kv[1] == "" || fields == slackFieldCount {
			continue
		}
		if fields == 0 {
			b = append(b, `,{"type":"section","fields":[`...)
		} else {
			b = append(b, ',')
		}
		fields++
		b = append(b, `{"type":"mrkdwn","text":`...)
		b = jsonw.AppendString(b, cut("*"+kv[0]+"*\n"+slackEscape(kv[1]), slackFieldMax))
		b = append(b, '}')
	}
	if fields > 0 {
		b = append(b, "]}"...)
	}
	req.Body = append(b, "]}"...)
	req.Header = standardHeader
	return nil
}

// slackEscaper escapes the three characters Slack's text formatting
// reserves, so that an event cannot ping a channel (<!channel>) or write
// links.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }
