// Package payload renders what a subscription's endpoint receives: the
// method, URL, headers and body of each delivery, in the format the
// endpoint expects (hookstream's envelope, the raw event, CloudEvents,
// Slack, Teams, Discord, PagerDuty, a GitHub dispatch, or a template).
// A subscription's payload is compiled once, when it is loaded; rendering
// an event compiles nothing.
package payload

import (
	"cmp"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/internal/fields"
)

// Format names how a delivery looks.
type Format string

// The formats.
const (
	// Standard is hookstream's envelope, {"id","type","timestamp",
	// "subscription_id","data"}, signed per Standard Webhooks. The default.
	Standard Format = "standard"
	// Raw is the event's bytes as they came, signed.
	Raw Format = "raw"
	// CloudEvents is a CloudEvents 1.0 event in structured mode
	// (application/cloudevents+json), signed.
	CloudEvents Format = "cloudevents"
	// CloudEventsBinary is a CloudEvents 1.0 event in binary mode: ce-*
	// headers and the event as the body, signed.
	CloudEventsBinary Format = "cloudevents-binary"
	// Slack is a Slack incoming-webhook message.
	Slack Format = "slack"
	// Teams is a Microsoft Teams Workflows message with an Adaptive Card.
	Teams Format = "teams"
	// Discord is a Discord webhook message with one embed.
	Discord Format = "discord"
	// PagerDuty is a PagerDuty Events API v2 event.
	PagerDuty Format = "pagerduty"
	// GitHubDispatch is a GitHub repository_dispatch request.
	GitHubDispatch Format = "github-dispatch"
	// Template is a body written as a Go text/template over the event.
	Template Format = "template"
)

// Spec is a subscription's payload as stored and written through the
// admin API. Every option but Format applies to some formats only; an
// option set for a format that does not use it is refused.
type Spec struct {
	// Format defaults to standard.
	Format Format `json:"format,omitempty"`
	// Summary is a one-line account of the event (a template): the text of
	// a Slack message, a Discord message's content, a PagerDuty summary.
	// Default: "[LEVEL] type on source: message".
	Summary string `json:"summary,omitempty"`
	// Title heads a Slack message, a Teams card or a Discord embed (a
	// template). Default: "[LEVEL] type".
	Title string `json:"title,omitempty"`
	// Source is the CloudEvents source or the PagerDuty source (a
	// template). Default: the event's source, else "hookstream".
	Source string `json:"source,omitempty"`
	// Type is the CloudEvents type (a template). Default: the event's
	// type, else "hookstream.event".
	Type string `json:"type,omitempty"`
	// RoutingKey is the PagerDuty integration key, a secret.
	RoutingKey string `json:"routing_key,omitempty"`
	// DedupKey groups PagerDuty events into one incident (a template).
	// Default: the event's type and source.
	DedupKey string `json:"dedup_key,omitempty"`
	// ResolveWhen is a filter, written like a subscription's, that makes
	// a PagerDuty event resolve its incident instead of triggering it.
	ResolveWhen *Condition `json:"resolve_when,omitempty"`
	// EventType is a GitHub dispatch's event_type (a template, at most
	// 100 characters). Default: the event's type.
	EventType string `json:"event_type,omitempty"`
	// Body is a template's body.
	Body string `json:"body,omitempty"`
	// ContentType is a template body's type. Default application/json: the
	// body must then render to valid JSON, and every value written into
	// it is escaped.
	ContentType string `json:"content_type,omitempty"`
	// Method is a template's HTTP method: POST (the default), PUT or PATCH.
	Method string `json:"method,omitempty"`
	// Path replaces the path of the subscription's URL (a template; each
	// value it writes is path-escaped). Its scheme and host never change.
	Path string `json:"path,omitempty"`
	// Query adds parameters to the URL's query (templates).
	Query map[string]string `json:"query,omitempty"`
	// Headers adds templated headers to a template's request.
	Headers map[string]string `json:"headers,omitempty"`
	// Sign says whether deliveries carry Standard Webhooks signatures.
	// Default: true for the formats a receiver verifies (standard, raw,
	// cloudevents, cloudevents-binary, template), false for those whose
	// service ignores them.
	Sign *bool `json:"sign,omitempty"`
}

// Condition is a filter over the event, as a subscription's filter is
// written; package subscription compiles it.
type Condition struct {
	Types   []string    `json:"types,omitempty"`
	Levels  []string    `json:"levels,omitempty"`
	Sources []string    `json:"sources,omitempty"`
	Where   []Predicate `json:"where,omitempty"`
}

// Predicate tests the value at Path with Op against Value.
type Predicate struct {
	Path  string `json:"path"`
	Op    string `json:"op"`
	Value any    `json:"value,omitempty"`
}

// Request is a rendered delivery.
type Request struct {
	// Method is POST unless a template says otherwise.
	Method string
	// URL is the subscription's URL, with a template's path and query.
	URL string
	// Header holds Content-Type and the format's own headers.
	Header http.Header
	// Body is the payload.
	Body []byte
}

// Input is what a delivery is rendered from.
type Input struct {
	// WebhookID is the delivery's id, the same on every attempt.
	WebhookID string
	// SubscriptionID is the subscription's id.
	SubscriptionID string
	// URL is the subscription's URL.
	URL string
	// Event is the decoded event; Event.Raw is its bytes as received.
	Event *event.Event
	// Time is the event's time, or its record's when it has none.
	Time time.Time
}

// Matcher tells whether an event passes a compiled Condition.
type Matcher func(*event.Event) bool

// Options configure Compile.
type Options struct {
	// CompileCondition compiles a Condition; resolve_when is refused
	// without it.
	CompileCondition func(Condition) (Matcher, error)
	// MaxBodyBytes caps a rendered body. Default 256 KiB.
	MaxBodyBytes int
}

// DefaultMaxBodyBytes caps a rendered body unless Options says otherwise.
const DefaultMaxBodyBytes = 256 << 10

// Compiled is a payload ready to render. It is safe for concurrent use.
type Compiled struct {
	format      Format
	r           renderer
	sign        bool
	needsFields bool
	needsEvent  bool
	maxBody     int
}

// defaultCompiled is the standard payload without options.
var defaultCompiled = &Compiled{format: Standard, r: standard{}, sign: true, maxBody: DefaultMaxBodyBytes}

// renderer renders one format.
type renderer interface {
	render(req *Request, in *Input, s *scratch) error
}

// format is one entry of the format table: the options it takes and how
// it compiles.
type format struct {
	options []string
	signed  bool
	compile func(spec *Spec, c *compiler) renderer
}

// formats lists every format by name.
var formats = map[Format]format{
	Standard:          {signed: true, compile: compileStandard},
	Raw:               {signed: true, compile: compileRaw},
	CloudEvents:       {options: []string{"source", "type"}, signed: true, compile: compileCloudEvents},
	CloudEventsBinary: {options: []string{"source", "type"}, signed: true, compile: compileCloudEventsBinary},
	Slack:             {options: []string{"summary", "title"}, compile: compileSlack},
	Teams:             {options: []string{"summary", "title"}, compile: compileTeams},
	Discord:           {options: []string{"summary", "title"}, compile: compileDiscord},
	PagerDuty:         {options: []string{"summary", "source", "routing_key", "dedup_key", "resolve_when"}, compile: compilePagerDuty},
	GitHubDispatch:    {options: []string{"event_type"}, compile: compileGitHubDispatch},
	Template:          {options: []string{"body", "content_type", "method", "path", "query", "headers"}, signed: true, compile: compileTemplate},
}

// Formats lists every format's name, sorted.
func Formats() []Format {
	out := make([]Format, 0, len(formats))
	for f := range formats {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// Signed reports whether a format is signed by default.
func Signed(f Format) bool { return formats[cmp.Or(f, Standard)].signed }

// compiler collects a compile's errors, and whether what it compiled
// reads the event's fields.
type compiler struct {
	opts       Options
	errs       fields.Errors
	readsEvent bool
}

func (c *compiler) fail(field, format string, args ...any) { c.errs.Add(field, format, args...) }

// text compiles an option written as a template; the empty string
// compiles to a text that renders nothing.
func (c *compiler) text(field, src string) text {
	return c.textFor(field, src, textPlain)
}

// textFor compiles an option written as a template for mode.
func (c *compiler) textFor(field, src string, mode textMode) text {
	t, err := compileText(field, src, mode)
	if err != nil {
		c.fail(field, "%v", err)
	}
	if t.t != nil && t.fast == nil {
		c.readsEvent = true
	}
	return t
}

// Compile checks spec and prepares it. The error, a *fields.Errors, names
// every bad option.
func Compile(spec Spec, opts Options) (*Compiled, error) {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	c := &compiler{opts: opts, errs: fields.Errors{What: "payload", Prefix: "payload."}}
	name := cmp.Or(spec.Format, Standard)
	f, ok := formats[name]
	if !ok {
		c.fail("format", "unknown format %q; one of %v", spec.Format, Formats())
		return nil, c.errs.Err()
	}
	for _, opt := range spec.set() {
		if !slices.Contains(f.options, opt) {
			c.fail(opt, "is not an option of format %s", name)
		}
	}
	if reflect.ValueOf(spec).IsZero() && opts.MaxBodyBytes == DefaultMaxBodyBytes {
		// The default, which most subscriptions have: one for all.
		return defaultCompiled, nil
	}
	out := &Compiled{format: name, sign: f.signed, maxBody: opts.MaxBodyBytes}
	if spec.Sign != nil {
		out.sign = *spec.Sign
	}
	if len(c.errs.List) == 0 {
		out.r = f.compile(&spec, c)
	}
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	out.needsFields = c.readsEvent
	out.needsEvent = name != Standard && name != Raw
	return out, nil
}

// set lists the options spec sets, by their JSON names.
func (s *Spec) set() []string {
	var out []string
	for _, o := range []struct {
		name string
		set  bool
	}{
		{"summary", s.Summary != ""}, {"title", s.Title != ""}, {"source", s.Source != ""},
		{"type", s.Type != ""}, {"routing_key", s.RoutingKey != ""}, {"dedup_key", s.DedupKey != ""},
		{"resolve_when", s.ResolveWhen != nil}, {"event_type", s.EventType != ""},
		{"body", s.Body != ""}, {"content_type", s.ContentType != ""}, {"method", s.Method != ""},
		{"path", s.Path != ""}, {"query", len(s.Query) > 0}, {"headers", len(s.Headers) > 0},
	} {
		if o.set {
			out = append(out, o.name)
		}
	}
	return out
}

// Signed reports whether deliveries carry Standard Webhooks signatures.
func (c *Compiled) Signed() bool { return c.sign }

// NeedsFields reports whether rendering reads the event's decoded
// object, which must then be decoded before the event is rendered from
// several goroutines at once. Templates of plain field reads look their
// values up without it.
func (c *Compiled) NeedsFields() bool { return c.needsFields }

// NeedsEvent reports whether rendering reads more of the event than its
// bytes and type: its level, source, message or fields, which a retry
// must decode again.
func (c *Compiled) NeedsEvent() bool { return c.needsEvent }

// Render renders in. buf, when not nil, is reused for the body. The
// error, a *RenderError, means this event cannot be rendered: retrying
// cannot help.
func (c *Compiled) Render(in *Input, buf []byte) (Request, error) {
	req := Request{Method: http.MethodPost, URL: in.URL, Body: buf[:0]}
	s := scratch{max: c.maxBody}
	if err := c.r.render(&req, in, &s); err != nil {
		return Request{}, &RenderError{Format: c.format, Err: err}
	}
	if len(req.Body) > c.maxBody {
		return Request{}, &RenderError{Format: c.format,
			Err: fmt.Errorf("body is %d bytes; at most %d", len(req.Body), c.maxBody)}
	}
	return req, nil
}

// RenderError says why an event could not be rendered.
type RenderError struct {
	Format Format
	Err    error
}

func (e *RenderError) Error() string { return "render " + string(e.Format) + ": " + e.Err.Error() }

func (e *RenderError) Unwrap() error { return e.Err }

// contentType builds the Header of a request with one Content-Type.
func contentType(v string) http.Header { return http.Header{"Content-Type": {v}} }

const jsonType = "application/json"
