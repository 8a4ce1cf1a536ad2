// POST /v1/subscriptions/{id}/test: a sample event sent now, through the
// real render, sign and send path.

package admin

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/subscription"
)

// testRequest is the optional body of POST …/test.
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

// testSubscription sends a sample or supplied event to a subscription
// through the same render, sign and send path as deliveries, now, and
// answers with the attempt. Nothing is retried or dead-lettered.
func (a *API) testSubscription(w http.ResponseWriter, r *http.Request) {
	var req testRequest
	if r.ContentLength != 0 && !a.decode(w, r, &req) {
		return
	}
	now := a.opts.Now().UTC()
	ev := req.Event
	if len(ev) == 0 {
		ev = fmt.Appendf(nil, `{"type":"hookstream.test","level":"info","source":"hookstream","message":"test delivery","timestamp":%q}`,
			now.Format(time.RFC3339Nano))
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(ev, &obj) != nil || obj == nil {
		writeProblem(w, http.StatusUnprocessableEntity, "the event must be a JSON object",
			FieldError{Field: "event", Message: "must be a JSON object"})
		return
	}
	id := r.PathValue("id")
	stored, ok := a.load(w, r, id)
	if !ok {
		return
	}
	sub, err := subscription.Compile(stored)
	if err != nil {
		a.invalid(w, err)
		return
	}
	var typ struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(ev, &typ)
	env := delivery.Envelope{ID: "msg_test_" + subscription.NewID()[4:], Type: typ.Type, Timestamp: now, SubscriptionID: id, Data: ev}
	out := a.opts.Sender.Send(r.Context(), sub, env.ID, env.AppendJSON(nil))
	res := TestResult{WebhookID: env.ID, Outcome: out.Class.String(), Reason: string(out.Reason), Status: out.Status,
		LatencyMS: float64(out.Latency.Microseconds()) / 1000, ResponseBody: string(out.Body)}
	if out.Err != nil {
		res.Error = out.Err.Error()
	}
	if len(out.Header) > 0 {
		res.ResponseHeaders = make(map[string]string, len(out.Header))
		for k := range out.Header {
			res.ResponseHeaders[k] = out.Header.Get(k)
		}
	}
	writeJSON(w, http.StatusOK, res)
}
