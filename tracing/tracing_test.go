package tracing

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestFromRecord(t *testing.T) {
	tests := []struct {
		name    string
		headers []kgo.RecordHeader
		want    Context
	}{
		{"none", nil, Context{}},
		{"valid", []kgo.RecordHeader{{Key: "traceparent", Value: []byte(parent)}, {Key: "tracestate", Value: []byte("congo=t61rcWkgMzE")}},
			Context{parent, "congo=t61rcWkgMzE"}},
		{"any case", []kgo.RecordHeader{{Key: "Traceparent", Value: []byte(parent)}}, Context{Traceparent: parent}},
		{"first of two", []kgo.RecordHeader{{Key: "traceparent", Value: []byte(parent)},
			{Key: "traceparent", Value: []byte("00-11111111111111111111111111111111-2222222222222222-01")}}, Context{Traceparent: parent}},
		{"zero trace id", []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-00000000000000000000000000000000-00f067aa0ba902b7-01")}}, Context{}},
		{"short", []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-4bf92f35-00f067aa0ba902b7-01")}}, Context{}},
		{"not hex", []kgo.RecordHeader{{Key: "traceparent", Value: []byte(strings.Replace(parent, "4b", "zz", 1))}}, Context{}},
		{"tracestate alone", []kgo.RecordHeader{{Key: "tracestate", Value: []byte("a=b")}}, Context{}},
		{"upper case", []kgo.RecordHeader{{Key: "traceparent", Value: []byte(strings.ToUpper(parent))}}, Context{}},
		{"zero span id", []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01")}}, Context{}},
		{"not sampled", []kgo.RecordHeader{{Key: "traceparent", Value: []byte(parent[:53] + "00")}}, Context{Traceparent: parent[:53] + "00"}},
		{"version ff", []kgo.RecordHeader{{Key: "traceparent", Value: []byte("ff" + parent[2:])}}, Context{}},
		{"other header", []kgo.RecordHeader{{Key: "x", Value: []byte(parent)}}, Context{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FromRecord(tt.headers); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStart(t *testing.T) {
	t.Run("off passes the context on", func(t *testing.T) {
		var tr *Tracer
		_, a, tc := tr.Start(context.Background(), Context{Traceparent: parent})
		a.End(200, "delivered", "ok")
		if tc.Traceparent != parent {
			t.Errorf("traceparent %q", tc.Traceparent)
		}
	})
	rec := tracetest.NewSpanRecorder()
	tr := NewWith(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	t.Run("a child of the event's span", func(t *testing.T) {
		_, a, tc := tr.Start(context.Background(), Context{Traceparent: parent, Tracestate: "congo=t61rcWkgMzE"},
			attribute.String("hookstream.subscription", "sub_1"))
		a.End(503, "retryable", "http_5xx")
		spans := rec.Ended()
		s := spans[len(spans)-1]
		if s.Parent().SpanID().String() != "00f067aa0ba902b7" || s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("span %s parent %s", s.SpanContext().TraceID(), s.Parent().SpanID())
		}
		want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + s.SpanContext().SpanID().String() + "-01"
		if tc.Traceparent != want || tc.Tracestate != "congo=t61rcWkgMzE" {
			t.Errorf("request carries %+v, want %s", tc, want)
		}
		if s.Status().Description != "http_5xx" {
			t.Errorf("status %+v", s.Status())
		}
	})
	t.Run("a new trace", func(t *testing.T) {
		_, a, tc := tr.Start(context.Background(), Context{})
		a.End(204, "delivered", "ok")
		spans := rec.Ended()
		s := spans[len(spans)-1]
		if s.Parent().IsValid() || !strings.Contains(tc.Traceparent, s.SpanContext().TraceID().String()) {
			t.Errorf("span parent %v, request %q", s.Parent(), tc.Traceparent)
		}
	})
}

// BenchmarkFromRecord: what reading a record's trace context costs.
func BenchmarkFromRecord(b *testing.B) {
	hs := []kgo.RecordHeader{{Key: "traceparent", Value: []byte(parent)}}
	b.ReportAllocs()
	for b.Loop() {
		if FromRecord(hs).Traceparent == "" {
			b.Fatal("no context")
		}
	}
}

// FuzzFromRecord: the fast path takes exactly what the W3C propagator
// takes, unchanged.
func FuzzFromRecord(f *testing.F) {
	for _, s := range []string{parent, strings.ToUpper(parent), parent[:53] + "00", "ff" + parent[2:], parent + "-x",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast := plainV00([]byte(s))
		slow := canonical(w3c.Extract(context.Background(), propagation.MapCarrier{HeaderTraceparent: s}))
		if fast && slow.Traceparent != s {
			t.Fatalf("fast path takes %q; the propagator gives %q", s, slow.Traceparent)
		}
	})
}
