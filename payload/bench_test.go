package payload_test

import (
	"testing"

	"github.com/hookstream/hookstream/payload"
)

// BenchmarkRender renders a 300-byte event in every format, as each
// attempt does, reusing the body buffer as the processor may.
func BenchmarkRender(b *testing.B) {
	raw := []byte(`{"id":42,"type":"order.failed","level":"error","source":"svc-7","timestamp":"2026-12-01T09:30:00Z","message":"order 42 failed",` +
		`"metadata":{"amount":129,"bucket":7,"currency":"EUR","customer":"cus_00000042"},"tags":["bench","eu"]}`)
	specs := []struct {
		name string
		spec payload.Spec
	}{
		{"standard", payload.Spec{}},
		{"raw", payload.Spec{Format: payload.Raw}},
		{"cloudevents", payload.Spec{Format: payload.CloudEvents}},
		{"cloudevents-binary", payload.Spec{Format: payload.CloudEventsBinary}},
		{"slack", payload.Spec{Format: payload.Slack, Summary: "{{ .type }} on {{ .source }}: {{ .message }}"}},
		{"teams", payload.Spec{Format: payload.Teams}},
		{"discord", payload.Spec{Format: payload.Discord}},
		{"pagerduty", payload.Spec{Format: payload.PagerDuty, RoutingKey: "R0UT1NGK3Y"}},
		{"github-dispatch", payload.Spec{Format: payload.GitHubDispatch}},
		{"template", payload.Spec{Format: payload.Template,
			Body: `{"alert":"{{ .message }}","order":{{ .id }},"amount":{{ .metadata.amount }},"customer":"{{ .metadata.customer }}","tags":{{ json .tags }}}`}},
	}
	for _, s := range specs {
		b.Run(s.name, func(b *testing.B) {
			c, err := payload.Compile(s.spec, payload.Options{})
			if err != nil {
				b.Fatal(err)
			}
			in := testInput(b, raw)
			if c.NeedsFields() {
				in.Event.Fields() // decoded once per event, before its deliveries
			}
			var buf []byte
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				req, err := c.Render(in, buf)
				if err != nil {
					b.Fatal(err)
				}
				buf = req.Body
			}
		})
	}
}
