// Package admin serves hookstream's admin HTTP API: subscriptions, test
// events, health, readiness and metrics. Every error is an RFC 9457
// problem details document.
package admin

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/dlq"
	"github.com/hookstream/hookstream/history"
	"github.com/hookstream/hookstream/subscription"
)

// Options configure the API.
type Options struct {
	Store *subscription.Store
	Cache *subscription.Cache
	// Producer publishes POST /v1/events bodies to EventsTopic.
	Producer    *kgo.Client
	EventsTopic string
	// Guard refuses subscription URLs that are literal blocked addresses.
	Guard *delivery.Guard
	// Defaults for fields a create request leaves out.
	DefaultTimeout     time.Duration
	DefaultMaxAttempts int
	MaxBodyBytes       int64
	Gatherer           prometheus.Gatherer
	Logger             zerolog.Logger
	// Ready, when set, is an extra readiness check (for example, the
	// consumers have joined their groups).
	Ready func(ctx context.Context) map[string]Check
	// Pprof serves net/http/pprof under /debug/pprof/.
	Pprof bool
	// Sender makes the attempts of POST …/test.
	Sender *delivery.Sender
	// RotationWindow is how long a rotated-out secret keeps signing.
	RotationWindow time.Duration
	// Tokens maps the hash of each accepted bearer token to its scope.
	// Empty: the API is open.
	Tokens map[TokenHash]string
	// History answers the attempts and totals of GET …/attempts and
	// GET /v1/stats; nil when history is off.
	History *history.Recorder
	// DLQ lists and replays the dead-letter topic.
	DLQ *dlq.Reader
	// Queues reports in-flight records, rung backlogs and the DLQ size.
	Queues func(ctx context.Context) (Queues, error)
	Now    func() time.Time
}

// Check is one line of a readiness report.
type Check struct {
	Status string    `json:"status"` // up or down
	Error  string    `json:"error,omitempty"`
	Since  time.Time `json:"since,omitzero"`
}

// API is the admin HTTP handler.
type API struct {
	opts     Options
	mux      *http.ServeMux
	validate *validator.Validate
	routes   []string // "METHOD /path" of every documented route
}

//go:embed openapi.json
var openapi []byte

// serveOpenAPI serves the OpenAPI 3.1 document of this API.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapi)
}

// New returns the API handler.
func New(opts Options) *API {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	a := &API{opts: opts, mux: http.NewServeMux(), validate: newValidator()}
	for _, r := range []struct {
		pattern string
		handler http.HandlerFunc
	}{
		{"POST /v1/subscriptions", a.createSubscription},
		{"GET /v1/subscriptions", a.listSubscriptions},
		{"GET /v1/subscriptions/{id}", a.getSubscription},
		{"PUT /v1/subscriptions/{id}", a.replaceSubscription},
		{"PATCH /v1/subscriptions/{id}", a.patchSubscription},
		{"DELETE /v1/subscriptions/{id}", a.deleteSubscription},
		{"POST /v1/subscriptions/{id}/rotate-secret", a.rotateSecret},
		{"POST /v1/subscriptions/{id}/test", a.testSubscription},
		{"GET /v1/subscriptions/{id}/attempts", a.attempts},
		{"GET /v1/stats", a.stats},
		{"GET /v1/dlq", a.listDLQ},
		{"POST /v1/dlq/replay", longRunning(a.replayDLQ)},
		{"POST /v1/events", a.publishEvent},
		{"GET /v1/openapi.json", serveOpenAPI},
		{"GET /healthz", a.healthz},
		{"GET /readyz", a.readyz},
	} {
		a.mux.HandleFunc(r.pattern, r.handler)
		a.routes = append(a.routes, r.pattern)
	}
	if opts.Pprof {
		a.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		a.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		a.mux.HandleFunc("GET /debug/pprof/profile", longRunning(pprof.Profile))
		a.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		a.mux.HandleFunc("GET /debug/pprof/trace", longRunning(pprof.Trace))
	}
	if opts.Gatherer != nil {
		a.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
		a.routes = append(a.routes, "GET /metrics")
	}
	return a
}

// longRunningWrite is how long a response that takes its time (a
// profile, a DLQ replay) may take to be written, beyond the listener's
// write timeout.
const longRunningWrite = 10 * time.Minute

// longRunning lets h take up to longRunningWrite to answer.
func longRunning(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(longRunningWrite))
		h(w, r)
	}
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if protected(r.URL.Path) && !a.authorize(w, r) {
		return
	}
	a.mux.ServeHTTP(&problemWriter{ResponseWriter: w}, r)
}

// createRequest is the body of POST /v1/subscriptions.
type createRequest struct {
	ID          string                  `json:"id" validate:"omitempty,max=64,subid"`
	Name        string                  `json:"name" validate:"required,max=200"`
	URL         string                  `json:"url" validate:"required,max=2048,url"`
	Enabled     *bool                   `json:"enabled"`
	Filter      subscription.Filter     `json:"filter"`
	Secret      string                  `json:"secret" validate:"omitempty,startswith=whsec_"`
	Headers     map[string]string       `json:"headers" validate:"omitempty,max=32"`
	MaxAttempts *int                    `json:"max_attempts" validate:"omitempty,min=1,max=100"`
	Timeout     *subscription.Duration  `json:"timeout"`
	RateLimit   *subscription.RateLimit `json:"rate_limit"`
}

func (a *API) createSubscription(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !a.decode(w, r, &req) {
		return
	}
	now := a.opts.Now().UTC()
	sub := subscription.Subscription{
		ID:          req.ID,
		Name:        req.Name,
		URL:         req.URL,
		Enabled:     req.Enabled == nil || *req.Enabled,
		Filter:      req.Filter,
		Secret:      req.Secret,
		Headers:     req.Headers,
		MaxAttempts: a.opts.DefaultMaxAttempts,
		Timeout:     subscription.Duration(a.opts.DefaultTimeout),
		RateLimit:   req.RateLimit,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if sub.ID == "" {
		sub.ID = subscription.NewID()
	}
	if sub.Secret == "" {
		sub.Secret = subscription.NewSecret()
	}
	if req.MaxAttempts != nil {
		sub.MaxAttempts = *req.MaxAttempts
	}
	if req.Timeout != nil {
		sub.Timeout = *req.Timeout
	}
	if _, err := subscription.Compile(sub); err != nil {
		a.invalid(w, err)
		return
	}
	if fe, ok := a.checkDestination(sub.URL); !ok {
		writeProblem(w, http.StatusUnprocessableEntity, "the subscription's destination is not allowed", fe)
		return
	}
	err := a.opts.Store.Create(r.Context(), sub)
	switch {
	case errors.Is(err, subscription.ErrExists):
		writeProblem(w, http.StatusConflict, fmt.Sprintf("subscription %q already exists", sub.ID))
		return
	case err != nil:
		a.unavailable(w, err)
		return
	}
	a.opts.Logger.Info().Str("subscription", sub.ID).Str("url", delivery.RedactURL(sub.URL)).Msg("subscription created")
	a.applyLocally(r.Context(), sub.ID)
	w.Header().Set("Location", "/v1/subscriptions/"+url.PathEscape(sub.ID))
	// The secret is shown this once; what the caller sent stays masked.
	shown := sub.Masked()
	shown.Secret = sub.Secret
	writeJSON(w, http.StatusCreated, shown)
}

// listScan is the fewest subscriptions a filtered page reads before it
// answers.
const listScan = 2000

// listSubscriptions pages through subscriptions in ID order:
// ?limit (1–1000, default 100), ?cursor (the next_cursor of the previous
// page), ?name (substring, case-insensitive), ?enabled (true or false).
func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	var fields []FieldError
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > 1000 {
			fields = append(fields, FieldError{Field: "limit", Message: "must be a whole number from 1 to 1000"})
		}
		limit = n
	}
	var enabled *bool
	if q.Has("enabled") {
		b, err := strconv.ParseBool(q.Get("enabled"))
		if err != nil {
			fields = append(fields, FieldError{Field: "enabled", Message: "must be true or false"})
		}
		enabled = &b
	}
	if len(fields) > 0 {
		writeProblem(w, http.StatusBadRequest, "invalid query parameters", fields...)
		return
	}
	cursor, name := q.Get("cursor"), strings.ToLower(q.Get("name"))
	var keep func(subscription.Subscription) bool
	if name != "" || enabled != nil {
		keep = func(s subscription.Subscription) bool {
			return (name == "" || strings.Contains(strings.ToLower(s.Name), name)) && (enabled == nil || s.Enabled == *enabled)
		}
	}
	// A filtered page reads a bounded number of subscriptions, and may
	// come back short with a cursor to go on from.
	subs, next, err := a.opts.Store.Page(r.Context(), cursor, limit, max(listScan, 10*limit), keep)
	if err != nil {
		a.unavailable(w, err)
		return
	}
	page := make([]subscription.Subscription, len(subs))
	for i, s := range subs {
		page[i] = s.Masked()
	}
	resp := map[string]any{"data": page}
	if next != "" {
		resp["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, resp)
}

// replaceSubscription is PUT: the body replaces the subscription as a
// create request would make it, keeping its ID, creation time and, unless
// the body gives one, its secret.
func (a *API) replaceSubscription(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !a.decode(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if req.ID != "" && req.ID != id {
		writeProblem(w, http.StatusUnprocessableEntity, "the body's id differs from the path's",
			FieldError{Field: "id", Message: fmt.Sprintf("must be %q or left out", id)})
		return
	}
	a.update(w, r, id, func(cur subscription.Subscription) subscription.Subscription {
		next := subscription.Subscription{
			ID: id, Name: req.Name, URL: req.URL, Enabled: req.Enabled == nil || *req.Enabled, Filter: req.Filter,
			Secret: cur.Secret, PreviousSecrets: cur.PreviousSecrets, Headers: req.Headers,
			MaxAttempts: a.opts.DefaultMaxAttempts, Timeout: subscription.Duration(a.opts.DefaultTimeout),
			RateLimit: req.RateLimit, CreatedAt: cur.CreatedAt,
		}
		if req.Secret != "" {
			next.Secret = req.Secret
		}
		if req.MaxAttempts != nil {
			next.MaxAttempts = *req.MaxAttempts
		}
		if req.Timeout != nil {
			next.Timeout = *req.Timeout
		}
		return next
	})
}

// patchRequest is a JSON merge patch (RFC 7396) of a subscription: the
// fields present replace the stored ones, whole. The secret changes only
// through rotate-secret.
type patchRequest struct {
	Name        *string                 `json:"name" validate:"omitempty,min=1,max=200"`
	URL         *string                 `json:"url" validate:"omitempty,max=2048,url"`
	Enabled     *bool                   `json:"enabled"`
	Filter      *subscription.Filter    `json:"filter"`
	Headers     map[string]string       `json:"headers" validate:"omitempty,max=32"`
	MaxAttempts *int                    `json:"max_attempts" validate:"omitempty,min=1,max=100"`
	Timeout     *subscription.Duration  `json:"timeout"`
	RateLimit   *subscription.RateLimit `json:"rate_limit"`
}

func (a *API) patchSubscription(w http.ResponseWriter, r *http.Request) {
	var req patchRequest
	if !a.decode(w, r, &req) {
		return
	}
	a.update(w, r, r.PathValue("id"), func(s subscription.Subscription) subscription.Subscription {
		if req.Name != nil {
			s.Name = *req.Name
		}
		if req.URL != nil {
			s.URL = *req.URL
		}
		if req.Enabled != nil {
			s.Enabled = *req.Enabled
		}
		if req.Filter != nil {
			s.Filter = *req.Filter
		}
		if req.Headers != nil {
			s.Headers = req.Headers
		}
		if req.MaxAttempts != nil {
			s.MaxAttempts = *req.MaxAttempts
		}
		if req.Timeout != nil {
			s.Timeout = *req.Timeout
		}
		if req.RateLimit != nil {
			s.RateLimit = req.RateLimit
		}
		return s
	})
}

// load reads a subscription, answering 404 or 503 and returning false
// when it cannot.
func (a *API) load(w http.ResponseWriter, r *http.Request, id string) (subscription.Subscription, bool) {
	sub, err := a.opts.Store.Get(r.Context(), id)
	switch {
	case errors.Is(err, subscription.ErrNotFound):
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("subscription %q not found", id))
		return sub, false
	case err != nil:
		a.unavailable(w, err)
		return sub, false
	}
	return sub, true
}

// update applies change to a subscription, validates the result and
// stores it with a compare-and-set (a concurrent update makes change run
// again on the newer value), and answers with it masked.
func (a *API) update(w http.ResponseWriter, r *http.Request, id string, change func(subscription.Subscription) subscription.Subscription) {
	next, ok := a.store(w, r, id, func(cur subscription.Subscription) subscription.Subscription {
		// A value written back as it was shown, masked, keeps what it hides.
		next := change(cur).Unmasked(cur)
		next.ID, next.CreatedAt, next.UpdatedAt = cur.ID, cur.CreatedAt, a.opts.Now().UTC()
		// Why hookstream disabled it stays until it is enabled again.
		if next.Enabled {
			next.DisabledReason, next.DisabledAt = "", nil
		} else if !cur.Enabled {
			next.DisabledReason, next.DisabledAt = cur.DisabledReason, cur.DisabledAt
		}
		return next
	})
	if ok {
		a.opts.Logger.Info().Str("subscription", id).Str("url", delivery.RedactURL(next.URL)).Msg("subscription updated")
		writeJSON(w, http.StatusOK, next.Masked())
	}
}

// requestError is a change a request asked for that is not allowed.
type requestError struct {
	status int
	detail string
	fields []FieldError
	err    error // a validation error for a.invalid
}

func (e *requestError) Error() string { return e.detail }

// store runs change under Store.Update with validation, writing the
// problem and returning false when it fails.
func (a *API) store(w http.ResponseWriter, r *http.Request, id string, change func(subscription.Subscription) subscription.Subscription) (subscription.Subscription, bool) {
	next, err := a.opts.Store.Update(r.Context(), id, func(cur subscription.Subscription) (subscription.Subscription, error) {
		next := change(cur)
		if _, err := subscription.Compile(next); err != nil {
			return next, &requestError{err: err}
		}
		if fe, ok := a.checkDestination(next.URL); !ok {
			return next, &requestError{status: http.StatusUnprocessableEntity, detail: "the subscription's destination is not allowed", fields: []FieldError{fe}}
		}
		return next, nil
	})
	var re *requestError
	switch {
	case err == nil:
		a.applyLocally(r.Context(), id)
		return next, true
	case errors.As(err, &re) && re.err != nil:
		a.invalid(w, re.err)
	case errors.As(err, &re):
		writeProblem(w, re.status, re.detail, re.fields...)
	case errors.Is(err, subscription.ErrNotFound):
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("subscription %q not found", id))
	case errors.Is(err, subscription.ErrConflict):
		writeProblem(w, http.StatusConflict, err.Error())
	default:
		a.unavailable(w, err)
	}
	return next, false
}

// applyLocally applies a write of subscription id to this instance's
// cache, so that once the API has answered, this instance matches with
// the change; other instances learn of it from Redis within moments. A
// failure only delays that: the write itself is stored.
func (a *API) applyLocally(ctx context.Context, id string) {
	if a.opts.Cache == nil {
		return
	}
	if err := a.opts.Cache.Apply(ctx, id); err != nil {
		a.opts.Logger.Warn().Err(err).Msg("subscription stored; this instance applies it at its next refresh")
	}
}

func (a *API) getSubscription(w http.ResponseWriter, r *http.Request) {
	if sub, ok := a.load(w, r, r.PathValue("id")); ok {
		writeJSON(w, http.StatusOK, sub.Masked())
	}
}

func (a *API) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	err := a.opts.Store.Delete(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, subscription.ErrNotFound):
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("subscription %q not found", r.PathValue("id")))
	case err != nil:
		a.unavailable(w, err)
	default:
		a.opts.Logger.Info().Str("subscription", r.PathValue("id")).Msg("subscription deleted")
		a.applyLocally(r.Context(), r.PathValue("id"))
		if a.opts.History != nil {
			if err := a.opts.History.Forget(r.Context(), r.PathValue("id")); err != nil {
				a.opts.Logger.Warn().Err(err).Msg("history of a deleted subscription kept")
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

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

// rotateRequest is the optional body of POST …/rotate-secret.
type rotateRequest struct {
	Secret string `json:"secret" validate:"omitempty,startswith=whsec_"`
}

// rotateSecret gives a subscription a new secret; the old one keeps
// signing beside it for the rotation window. The response shows the new
// secret, once.
func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request) {
	var req rotateRequest
	if r.ContentLength != 0 && !a.decode(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	next := req.Secret
	if next == "" {
		next = subscription.NewSecret()
	}
	sub, ok := a.store(w, r, id, func(cur subscription.Subscription) subscription.Subscription {
		cur.Rotate(next, a.opts.Now().UTC(), a.opts.RotationWindow)
		return cur
	})
	if !ok {
		return
	}
	a.opts.Logger.Info().Str("subscription", id).Dur("window", a.opts.RotationWindow).Msg("subscription secret rotated")
	out := sub.Masked()
	out.Secret = sub.Secret
	writeJSON(w, http.StatusOK, out)
}

func (a *API) publishEvent(w http.ResponseWriter, r *http.Request) {
	if a.opts.Producer == nil || a.opts.EventsTopic == "" {
		writeProblem(w, http.StatusConflict, "no input topic to publish to: the input is configured by regex")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	if err != nil {
		writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", a.opts.MaxBodyBytes))
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		writeProblem(w, http.StatusBadRequest, "the body must be a JSON object")
		return
	}
	rec := &kgo.Record{Topic: a.opts.EventsTopic, Value: body}
	res, err := a.opts.Producer.ProduceSync(r.Context(), rec).First()
	if err != nil {
		a.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"topic": res.Topic, "partition": res.Partition, "offset": res.Offset})
}

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]Check{}
	if a.opts.Cache != nil {
		if since, err := a.opts.Cache.Health(); err != nil {
			checks["redis"] = Check{Status: "down", Error: "matching with cached subscriptions: " + err.Error(), Since: since}
		} else {
			checks["redis"] = Check{Status: "up"}
		}
	}
	if a.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		for k, v := range a.opts.Ready(ctx) {
			checks[k] = v
		}
		cancel()
	}
	status, code := "ready", http.StatusOK
	for _, c := range checks {
		if c.Status != "up" {
			status, code = "degraded", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}

// decode reads a JSON body into v, refusing unknown fields and oversized
// bodies, and validates it. It writes the problem and returns false when
// the request is bad.
func (a *API) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") &&
		!strings.HasPrefix(ct, "application/merge-patch+json") {
		writeProblem(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", a.opts.MaxBodyBytes))
		return false
	case err != nil:
		writeProblem(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return false
	}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] != '{' {
		writeProblem(w, http.StatusBadRequest, "the body must be a JSON object")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			writeProblem(w, http.StatusBadRequest, "the body does not match the schema",
				FieldError{Field: typeErr.Field, Message: fmt.Sprintf("must be %s, not %s", typeErr.Type, typeErr.Value)})
		case errors.Is(err, io.EOF):
			writeProblem(w, http.StatusBadRequest, "the body is empty; a JSON object is required")
		default:
			writeProblem(w, http.StatusBadRequest, "the body is not valid JSON: "+err.Error())
		}
		return false
	}
	if dec.More() {
		writeProblem(w, http.StatusBadRequest, "the body holds more than one JSON value")
		return false
	}
	if err := a.validate.Struct(v); err != nil {
		a.invalid(w, err)
		return false
	}
	return true
}

// invalid writes a 422 naming each bad field of a validator or
// subscription validation error.
func (a *API) invalid(w http.ResponseWriter, err error) {
	var verrs validator.ValidationErrors
	var serr *subscription.ValidationError
	var fields []FieldError
	switch {
	case errors.As(err, &verrs):
		for _, fe := range verrs {
			fields = append(fields, FieldError{Field: trimNamespace(fe.Namespace()), Message: describe(fe)})
		}
	case errors.As(err, &serr):
		for _, fe := range serr.Errors {
			fields = append(fields, FieldError{Field: fe.Field, Message: fe.Message})
		}
	default:
		fields = []FieldError{{Field: "", Message: err.Error()}}
	}
	writeProblem(w, http.StatusUnprocessableEntity, "the request has invalid fields", fields...)
}

func (a *API) unavailable(w http.ResponseWriter, err error) {
	a.opts.Logger.Error().Err(err).Msg("admin request failed on a backend")
	writeProblem(w, http.StatusServiceUnavailable, "a backend is unavailable: "+err.Error())
}

// checkDestination refuses URLs whose host is a literal address the
// delivery guard would refuse. Names are checked at connect time.
func (a *API) checkDestination(raw string) (FieldError, bool) {
	if a.opts.Guard == nil {
		return FieldError{}, true
	}
	u, err := url.Parse(raw)
	if err != nil {
		return FieldError{Field: "url", Message: err.Error()}, false
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		if numericHost(host) {
			return FieldError{Field: "url", Message: fmt.Sprintf("host %q is an address in a numeric form other than dotted IPv4; write it as a.b.c.d", u.Hostname())}, false
		}
		return FieldError{}, true
	}
	if err := a.opts.Guard.Check(addr); err != nil {
		return FieldError{Field: "url", Message: err.Error()}, false
	}
	return FieldError{}, true
}

// numericHost reports whether host is not a name but an IPv4 address in
// one of the forms resolvers still read (2130706433, 0x7f.1, 127.1,
// 0177.0.0.1): its last label is a number, which no top-level domain is.
func numericHost(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	digits := strings.TrimPrefix(strings.ToLower(last), "0x")
	if digits == "" {
		return true // "0x"
	}
	hex := len(digits) < len(last)
	for _, c := range digits {
		if !(c >= '0' && c <= '9' || hex && c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func newValidator() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	_ = v.RegisterValidation("subid", func(fl validator.FieldLevel) bool {
		for _, c := range fl.Field().String() {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	})
	return v
}

func trimNamespace(ns string) string {
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return ns
}

func describe(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "max":
		return "must be at most " + fe.Param() + " long"
	case "min":
		return "must be at least " + fe.Param()
	case "url":
		return "must be an absolute URL"
	case "startswith":
		return "must start with " + fe.Param()
	case "subid":
		return "may hold only letters, digits, '_' and '-'"
	default:
		return "failed " + fe.Tag()
	}
}

func sortByID(subs []subscription.Subscription) {
	slices.SortFunc(subs, func(a, b subscription.Subscription) int { return strings.Compare(a.ID, b.ID) })
}
