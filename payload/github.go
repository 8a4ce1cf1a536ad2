package payload

import (
	"encoding/json"
	"net/http"
)

// gitHubDispatch renders a repository_dispatch request
// (https://docs.github.com/en/rest/repos/repos#create-a-repository-dispatch-event),
// for a subscription whose URL is
// https://api.github.com/repos/{owner}/{repo}/dispatches and whose
// headers carry a token: event_type names the event, and client_payload
// holds the event's well-known fields and the event itself, seven keys of
// the ten GitHub allows.
type gitHubDispatch struct {
	eventType text
}

// gitHubEventTypeMax is GitHub's limit on event_type.
const gitHubEventTypeMax = 100

func compileGitHubDispatch(spec *Spec, c *compiler) renderer {
	return &gitHubDispatch{eventType: c.text("event_type", spec.EventType)}
}

type gitHubClientPayload struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Level   string          `json:"level"`
	Source  string          `json:"source"`
	Message string          `json:"message"`
	Time    string          `json:"time"`
	Event   json.RawMessage `json:"event"`
}

func (g *gitHubDispatch) render(req *Request, in *Input, _ *scratch) error {
	typ, err := g.eventType.string(in, maxFact)
	if err != nil {
		return err
	}
	if typ == "" {
		typ = in.Event.Type
	}
	if typ == "" {
		typ = "hookstream.event"
	}
	body := struct {
		EventType     string              `json:"event_type"`
		ClientPayload gitHubClientPayload `json:"client_payload"`
	}{head(typ, gitHubEventTypeMax), gitHubClientPayload{ID: in.WebhookID, Type: in.Event.Type, Level: in.Event.Level,
		Source: in.Event.Source, Message: in.Event.Message, Time: formatTime(in), Event: in.Event.Raw}}
	req.Header = gitHubHeader
	req.Body, err = appendJSON(req.Body, &body)
	return err
}

var gitHubHeader = http.Header{
	"Content-Type":         {jsonType},
	"Accept":               {"application/vnd.github+json"},
	"X-Github-Api-Version": {"2022-11-28"},
}
