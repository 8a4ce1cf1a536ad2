// POST /v1/subscriptions/{id}/test and …/preview: a sample or given event
// rendered and signed through the pipeline's own stages, then sent now
// (test) or shown (preview).

package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/payload"
	"github.com/hookstream/hookstream/subscription"
)

// testRequest is the optional body of POST …/test and …/preview.
type testRequest struct {
	// Event is the log event to send; default a sample.
	Event json.RawMessage `json:"event"`
}

// TestResult is one attempt made by POST …/test.
type TestResult struct {
	WebhookID       string            `json:"webhook_id"`
	Outcome         string            `json:"outcome"`
	Reason          string            `json:"reason"`
	Status          int               `json:"status,omitempty"`
	LatencyMS       float64           `json:"latency_ms"`
	ResponseHeaders map[string]string `json:"response_headers,omitempty"`
	ResponseBody    string            `json:"response_body,omitempty"`
	Error           string            `json:"error,omitempty"`
}

// Preview is the request POST …/preview rendered, as it would be sent,
// with the subscription's secrets masked wherever they appear.
type Preview struct {
	WebhookID string            `json:"webhook_id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      string            `json:"body"`
}

// prepared is a request made ready from a test or preview body.
type prepared struct {
	sub *subscription.Compiled
	req delivery.Request
}

// prepare reads a test or preview request and renders and signs its
// event for the subscription; it answers the problem itself when it
// cannot.
func (a *API) prepare(w http.ResponseWriter, r *http.Request) (prepared, bool) {
	var req testRequest
	if r.ContentLength != 0 && !a.decode(w, r, &req) {
		return prepared{}, false
	}
	if !validEvent(w, req.Event) {
		return prepared{}, false
	}
	stored, ok := a.load(w, r, r.PathValue("id"))
	if !ok {
		return prepared{}, false
	}
	return a.render(w, stored, req.Event)
}

// validEvent answers the problem and returns false when ev, a test or
// preview body's event, is given and is not a JSON object.
func validEvent(w http.ResponseWriter, ev json.RawMessage) bool {
	if len(ev) == 0 {
		return true
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(ev, &obj) != nil || obj == nil {
		writeProblem(w, http.StatusUnprocessableEntity, "the event must be a JSON object",
			FieldError{Field: "event", Message: "must be a JSON object"})
		return false
	}
	return true
}

// render renders and signs ev (a sample when empty) for stored as an
// attempt would; it answers the problem itself when it cannot.
func (a *API) render(w http.ResponseWriter, stored subscription.Subscription, ev json.RawMessage) (prepared, bool) {
	now := a.opts.Now().UTC()
	if len(ev) == 0 {
		ev = fmt.Appendf(nil, `{"type":"hookstream.test","level":"info","source":"hookstream","message":"test delivery","timestamp":%q}`,
			now.Format(time.RFC3339Nano))
	}
	sub, err := subscription.Compile(stored)
	if err != nil {
		a.invalid(w, err)
		return prepared{}, false
	}
	out, err := a.opts.Prepare(sub, "msg_test_"+subscription.NewID()[4:], ev, now)
	var poison *event.PoisonError
	var render *payload.RenderError
	switch {
	case errors.As(err, &poison):
		writeProblem(w, http.StatusUnprocessableEntity, "the event is not a usable log event",
			FieldError{Field: "event", Message: poison.Error()})
		return prepared{}, false
	case errors.As(err, &render):
		writeProblem(w, http.StatusUnprocessableEntity, "the subscription's payload cannot be rendered from this event",
			FieldError{Field: "payload", Message: subscription.MaskIn(render.Error(), stored.Secrets())})
		return prepared{}, false
	case err != nil:
		writeProblem(w, http.StatusInternalServerError, err.Error())
		return prepared{}, false
	}
	return prepared{sub: sub, req: out}, true
}

// testSubscription sends a sample or supplied event to a subscription
// through the same render, sign and send path as deliveries, now, and
// answers with the attempt. Nothing is retried or dead-lettered.
func (a *API) testSubscription(w http.ResponseWriter, r *http.Request) {
	p, ok := a.prepare(w, r)
	if !ok {
		return
	}
	out := a.opts.Sender.Send(r.Context(), p.sub, &p.req)
	// The response may echo what was sent.
	secrets := delivery.SentSecrets(p.sub, out.Sent)
	res := TestResult{WebhookID: p.req.WebhookID, Outcome: out.Class.String(), Reason: string(out.Reason), Status: out.Status,
		LatencyMS: float64(out.Latency.Microseconds()) / 1000, ResponseBody: subscription.MaskIn(string(out.Body), secrets)}
	if out.Err != nil {
		res.Error = subscription.MaskIn(out.Err.Error(), secrets)
	}
	if len(out.Header) > 0 {
		res.ResponseHeaders = make(map[string]string, len(out.Header))
		for k := range out.Header {
			res.ResponseHeaders[k] = out.Header.Get(k)
		}
	}
	writeJSON(w, http.StatusOK, res)
}

// previewSubscription renders a sample or supplied event as the
// subscription's endpoint would receive it, without sending it.
func (a *API) previewSubscription(w http.ResponseWriter, r *http.Request) {
	if p, ok := a.prepare(w, r); ok {
		a.writePreview(w, p)
	}
}

// draftPreview is the body of POST /v1/subscriptions/preview.
type draftPreview struct {
	// Subscription is written as a create body; nothing is stored.
	Subscription createRequest `json:"subscription"`
	// Event is the log event to render; default a sample.
	Event json.RawMessage `json:"event"`
}

// previewDraft renders a sample or supplied event for a subscription
// that is not stored yet (a create form's live preview), as its endpoint
// would receive it once created.
func (a *API) previewDraft(w http.ResponseWriter, r *http.Request) {
	var req draftPreview
	if !a.decode(w, r, &req) || !validEvent(w, req.Event) {
		return
	}
	if p, ok := a.render(w, a.fromCreate(req.Subscription), req.Event); ok {
		a.writePreview(w, p)
	}
}

// writePreview answers p's request as a Preview, secrets masked.
func (a *API) writePreview(w http.ResponseWriter, p prepared) {
	shown := a.opts.Sender.Prepared(p.sub, &p.req).Show(p.sub, p.sub.Subscription.Secrets(), 0)
	writeJSON(w, http.StatusOK, Preview{WebhookID: p.req.WebhookID, Method: shown.Method, URL: shown.URL,
		Headers: shown.Headers, Body: shown.Body})
}
