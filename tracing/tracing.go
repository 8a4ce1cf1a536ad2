// Package tracing carries W3C trace context from a log event to its
// webhooks, and, when an OTLP endpoint is configured, records a span for
// each delivery attempt. Off, it costs a header copy for records that
// carry a traceparent and nothing for the others.
package tracing

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// The W3C Trace Context headers, on records and requests alike.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

var w3c propagation.TraceContext

// Context is a W3C trace context in its header form; empty when there is
// none.
type Context struct {
	Traceparent, Tracestate string
}

// FromRecord reads the trace context of a record's headers. A traceparent
// that is not valid W3C Trace Context is ignored, as the specification
// asks: it is data hookstream did not write.
func FromRecord(hs []kgo.RecordHeader) Context {
	if len(hs) == 0 {
		return Context{}
	}
	if len(hs) == 1 && hs[0].Key == HeaderTraceparent && plainV00(hs[0].Value) {
		// The common case, read without the propagator's allocations.
		return Context{Traceparent: string(hs[0].Value)}
	}
	var c propagation.MapCarrier
	for _, h := range hs {
		switch strings.ToLower(h.Key) {
		case HeaderTraceparent, HeaderTracestate:
			if c == nil {
				c = propagation.MapCarrier{}
			}
			if _, seen := c[strings.ToLower(h.Key)]; !seen { // the first of a repeated header
				c[strings.ToLower(h.Key)] = string(h.Value)
			}
		}
	}
	if c == nil {
		return Context{}
	}
	return canonical(w3c.Extract(context.Background(), c))
}

// plainV00 reports whether b is a version-00 traceparent as the
// propagator writes it: lower-case hex, trace and span IDs not zero,
// sampled or not.
func plainV00(b []byte) bool {
	if len(b) != 55 || string(b[:3]) != "00-" || b[35] != '-' || b[52] != '-' {
		return false
	}
	nonZero := func(h []byte) bool {
		any := false
		for _, c := range h {
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
			any = any || c != '0'
		}
		return any
	}
	flags := string(b[53:55])
	return nonZero(b[3:35]) && nonZero(b[36:52]) && (flags == "00" || flags == "01")
}

// canonical is the trace context of ctx as headers, empty when it holds
// no valid span context.
func canonical(ctx context.Context) Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return Context{}
	}
	out := propagation.MapCarrier{}
	w3c.Inject(ctx, out)
	return Context{Traceparent: out[HeaderTraceparent], Tracestate: out[HeaderTracestate]}
}

// Config configures span export.
type Config struct {
	// Endpoint is the OTLP/HTTP traces URL (http://collector:4318/v1/traces);
	// empty turns spans off.
	Endpoint string
	// Headers are sent with each export (an API key, say).
	Headers map[string]string
	// SampleRatio is the share of new traces sampled; a trace that came
	// with the event keeps its sampling decision.
	SampleRatio float64
}

// Tracer records the spans of delivery attempts. The zero Tracer (and a
// nil one) records nothing and passes trace context through.
type Tracer struct {
	t trace.Tracer
}

// New returns a Tracer exporting to cfg.Endpoint, and the function that
// flushes and stops it; with no endpoint, a Tracer that records nothing.
func New(cfg Config, version string) (*Tracer, func(context.Context) error, error) {
	if cfg.Endpoint == "" {
		return &Tracer{}, func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(cfg.Endpoint),
		otlptracehttp.WithHeaders(cfg.Headers))
	if err != nil {
		return nil, nil, fmt.Errorf("tracing.endpoint: %w", err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("hookstream"), semconv.ServiceVersion(version))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))))
	return NewWith(tp), tp.Shutdown, nil
}

// NewWith returns a Tracer recording with tp.
func NewWith(tp trace.TracerProvider) *Tracer {
	return &Tracer{t: tp.Tracer("github.com/hookstream/hookstream")}
}

// On reports whether t records spans.
func (t *Tracer) On() bool { return t != nil && t.t != nil }

// Attempt is one delivery attempt's span.
type Attempt struct {
	span trace.Span
}

// Start begins the span of an attempt that continues parent (a new trace
// when parent is empty), and returns the trace context the request
// carries: the attempt's span when t records, else parent unchanged.
func (t *Tracer) Start(ctx context.Context, parent Context, attrs ...attribute.KeyValue) (context.Context, Attempt, Context) {
	if !t.On() {
		return ctx, Attempt{}, parent
	}
	if parent.Traceparent != "" {
		ctx = w3c.Extract(ctx, propagation.MapCarrier{HeaderTraceparent: parent.Traceparent, HeaderTracestate: parent.Tracestate})
	}
	ctx, span := t.t.Start(ctx, "webhook attempt", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, Attempt{span: span}, canonical(ctx)
}

// End ends the span with the attempt's outcome (delivered, retryable
// or permanent), its reason and the HTTP status when there was one; an
// attempt that did not deliver is an error.
func (a Attempt) End(status int, outcome, reason string) {
	if a.span == nil {
		return
	}
	a.span.SetAttributes(attribute.String("hookstream.outcome", outcome), attribute.String("hookstream.reason", reason))
	if status != 0 {
		a.span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	}
	if outcome != "delivered" {
		a.span.SetStatus(codes.Error, reason)
	}
	a.span.End()
}
