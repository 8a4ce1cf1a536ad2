// Package admin serves hookstream's admin HTTP API: subscriptions, test
// events, health, readiness and metrics. Every error is an RFC 9457
// problem details document.
package admin

import (
	"context"
	_ "embed"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/console"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/dlq"
	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/history"
	"github.com/hookstream/hookstream/processor"
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
	// Prepare renders and signs a delivery of an event as the pipeline
	// does, for POST …/test and …/preview; a *processor.Processor's
	// Prepare is one.
	Prepare func(sub *subscription.Compiled, webhookID string, event []byte, now time.Time) (delivery.Request, error)
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
	// Sources stores the inbound sources; nil leaves /v1/sources out.
	Sources *gateway.Store
	// SourceCache, when set, is reloaded after each change of a source.
	SourceCache *gateway.Sources
	// GatewayURL is where the inbound gateway listens, as the console
	// shows it; empty when it is off.
	GatewayURL string
	// Receipts answers GET /v1/sources/{id}/receipts.
	Receipts *gateway.Receipts
	// Routes names the deliveries a record of POST /v1/events starts; a
	// *processor.Processor's Routes is one.
	Routes func(rec *kgo.Record) []processor.Route
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
	live     *liveHub
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
	a.live = &liveHub{api: a}
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
		{"POST /v1/subscriptions/{id}/preview", a.previewSubscription},
		{"POST /v1/subscriptions/preview", a.previewDraft},
		{"GET /v1/subscriptions/{id}/attempts", a.attempts},
		{"GET /v1/stats", a.stats},
		{"GET /v1/stats/stream", a.statsStream},
		{"GET /v1/session", a.session},
		{"POST /v1/sources", a.withSources(a.createSource)},
		{"GET /v1/sources", a.withSources(a.listSources)},
		{"GET /v1/sources/{id}", a.withSources(a.getSource)},
		{"PUT /v1/sources/{id}", a.withSources(a.replaceSource)},
		{"DELETE /v1/sources/{id}", a.withSources(a.deleteSource)},
		{"POST /v1/sources/{id}/rotate-secret", a.withSources(a.rotateSourceSecret)},
		{"GET /v1/sources/{id}/receipts", a.withSources(a.sourceReceipts)},
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
	// The console: static files, open like /healthz; what it shows comes
	// from the API with the token the operator pastes.
	a.mux.Handle("GET /ui/", console.Handler("/ui/"))
	a.mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
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
