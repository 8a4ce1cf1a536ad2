package payload_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hookstream/hookstream/internal/fields"
	"github.com/hookstream/hookstream/payload"
)

// renderBody renders a template body over raw.
func renderBody(t *testing.T, spec payload.Spec, raw string) (string, error) {
	t.Helper()
	spec.Format = payload.Template
	c, err := payload.Compile(spec, payload.Options{MaxBodyBytes: 1024})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	req, err := c.Render(testInput(t, []byte(raw)), nil)
	return string(req.Body), err
}

func TestTemplateHelpers(t *testing.T) {
	const ev = `{"type":"a.b","n":1234567,"f":0.5,"big":1e21,"s":"Hello Wörld","t":"2026-12-01T09:30:00Z","ms":1764581400000,` +
		`"secs":1764581400,"obj":{"k":[1,"x"]},"empty":"","nil":null,"yes":true,"tags":["a","b"]}`
	tests := []struct {
		name, body, want string
	}{
		{"number", `{{ .n }}`, `1234567`},
		{"fraction", `{{ .f }}`, `0.5`},
		{"huge number", `{{ .big }}`, `1e+21`},
		{"null", `[{{ .nil }}]`, `[]`},
		{"object as text", `{{ .obj }}`, `{"k":[1,"x"]}`},
		{"upper", `{{ upper .s }}`, `HELLO WÖRLD`},
		{"lower", `{{ lower .s }}`, `hello wörld`},
		{"trunc", `{{ trunc 7 .s }}`, `Hello W`},
		{"trunc longer", `{{ trunc 70 .s }}`, `Hello Wörld`},
		{"default empty", `{{ default "none" .empty }}`, `none`},
		{"default set", `{{ default "none" .s }}`, `Hello Wörld`},
		{"default missing via get", `{{ default "none" (get . "user.id") }}`, `none`},
		{"get nested", `{{ get . "obj.k[1]" }}`, `x`},
		{"date text", `{{ date "02 Jan 15:04" .t }}`, `01 Dec 09:30`},
		{"date millis", `{{ date "2006-01-02T15:04Z07:00" .ms }}`, `2025-12-01T09:30Z`},
		{"date seconds", `{{ date "2006-01-02" .secs }}`, `2025-12-01`},
		{"json", `{{ json .tags }}`, `["a","b"]`},
		{"quote", `{{ quote .s }}`, `"Hello Wörld"`},
		{"printf", `{{ printf "%05d|%s" 42 .type }}`, `00042|a.b`},
		{"range", `{{ range .tags }}<{{ . }}>{{ end }}`, `<a><b>`},
		{"if", `{{ if .yes }}on{{ else }}off{{ end }}`, `on`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderBody(t, payload.Spec{ContentType: "text/plain", Body: tt.body}, ev)
			if err != nil || got != tt.want {
				t.Errorf("%s = %q, %v; want %q", tt.body, got, err, tt.want)
			}
		})
	}
}

// TestTemplateJSONEscapes: in a JSON body every value is escaped for
// where it is written, so no event can change the document's shape.
func TestTemplateJSONEscapes(t *testing.T) {
	const ev = `{"q":"a\"b","nl":"x\ny","html":"<b>&","n":3,"list":[1,{"a":"\""}],"nil":null}`
	tests := []struct {
		name, body, want string
	}{
		{"in a string", `{"v":"{{ .q }}"}`, `{"v":"a\"b"}`},
		{"newline in a string", `{"v":"{{ .nl }}"}`, `{"v":"x\ny"}`},
		{"html kept", `{"v":"{{ .html }}"}`, `{"v":"<b>&"}`},
		{"string as a value", `{"v":{{ .q }}}`, `{"v":"a\"b"}`},
		{"number as a value", `{"v":{{ .n }}}`, `{"v":3}`},
		{"list as a value", `{"v":{{ .list }}}`, `{"v":[1,{"a":"\""}]}`},
		{"null as a value", `{"v":{{ .nil }}}`, `{"v":null}`},
		{"number in a string", `{"v":"#{{ .n }}"}`, `{"v":"#3"}`},
		{"json helper kept", `{"v":{{ json .q }}}`, `{"v":"a\"b"}`},
		{"escaped quote in text", `{"v":"\"{{ .q }}\""}`, `{"v":"\"a\"b\""}`},
		{"range of values", `[{{ range $i, $x := .list }}{{ if $i }},{{ end }}{{ $x }}{{ end }}]`, `[1,{"a":"\""}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderBody(t, payload.Spec{Body: tt.body}, ev)
			if err != nil || got != tt.want {
				t.Errorf("%s = %s, %v; want %s", tt.body, got, err, tt.want)
			}
		})
	}
}

// TestTemplateBounds: a template cannot run without bound or write past
// its cap; what fails on one event is a RenderError, not a crash.
func TestTemplateBounds(t *testing.T) {
	ev := `{"s":"` + strings.Repeat("x", 600) + `","list":[1,2,3]}`
	tests := []struct {
		name, body, err string
	}{
		{"output cap", `{{ .s }}{{ .s }}`, "more than 1024 bytes"},
		{"printf width", `{{ printf "%999999999d" 1 }}`, "width or precision above 1000"},
		{"printf star", `{{ printf "%*d" 5 1 }}`, "* widths are not supported"},
		{"missing key", `{{ .user.name }}`, `map has no entry for key "user"`},
		{"bad date", `{{ date "2006" .s }}`, "is not an RFC 3339 time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderBody(t, payload.Spec{ContentType: "text/plain", Body: tt.body}, ev)
			var re *payload.RenderError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %v, want a RenderError with %q", err, tt.err)
			}
		})
	}
}

// TestCompileRefuses: every bad payload is refused when the subscription
// is written, naming the option.
func TestCompileRefuses(t *testing.T) {
	no := false
	tests := []struct {
		name  string
		spec  payload.Spec
		field string
		msg   string
	}{
		{"unknown format", payload.Spec{Format: "fax"}, "payload.format", `unknown format "fax"`},
		{"option of another format", payload.Spec{Format: payload.Slack, RoutingKey: "k"}, "payload.routing_key", "is not an option of format slack"},
		{"option of standard", payload.Spec{Title: "x"}, "payload.title", "is not an option of format standard"},
		{"template does not parse", payload.Spec{Format: payload.Slack, Summary: "{{ .a "}, "payload.summary", "does not parse"},
		{"unknown function", payload.Spec{Format: payload.Slack, Summary: "{{ env \"HOME\" }}"}, "payload.summary", `function "env" not defined`},
		{"no body", payload.Spec{Format: payload.Template}, "payload.body", "is required"},
		{"literal body not JSON", payload.Spec{Format: payload.Template, Body: "{oops"}, "payload.body", "is not valid JSON"},
		{"body never JSON", payload.Spec{Format: payload.Template, Body: `{"a": {{ .x }} {{ .y }}}`}, "payload.body", `does not write valid JSON: {"a": 0 0}`},
		{"define", payload.Spec{Format: payload.Template, Body: `{{ define "x" }}1{{ end }}{{ template "x" }}`}, "payload.body", "not supported"},
		{"nested range", payload.Spec{Format: payload.Template, Body: `[{{ range .a }}{{ range .b }}1{{ end }}{{ end }}]`}, "payload.body", "a range inside a range"},
		{"range over a number", payload.Spec{Format: payload.Template, ContentType: "text/plain", Body: `{{ range 100000000000 }}x{{ end }}`}, "payload.body", "range over a number"},
		{"arms differ", payload.Spec{Format: payload.Template, Body: `{"a":{{ if .x }}"{{ else }}1{{ end }}}`}, "payload.body", "same state"},
		{"method", payload.Spec{Format: payload.Template, Body: "{}", Method: "DELETE"}, "payload.method", "must be POST, PUT or PATCH"},
		{"content type", payload.Spec{Format: payload.Template, Body: "{}", ContentType: "not a type;;"}, "payload.content_type", "is not a media type"},
		{"path", payload.Spec{Format: payload.Template, Body: "{}", Path: "relative"}, "payload.path", "must start with /"},
		{"reserved header", payload.Spec{Format: payload.Template, Body: "{}", Headers: map[string]string{"webhook-signature": "x"}}, "payload.headers.webhook-signature", "is set by hookstream"},
		{"content-length header", payload.Spec{Format: payload.Template, Body: "{}", Headers: map[string]string{"Content-Length": "1"}}, "payload.headers.Content-Length", "is set by hookstream"},
		{"bad header name", payload.Spec{Format: payload.Template, Body: "{}", Headers: map[string]string{"a b": "1"}}, "payload.headers.a b", "not a valid HTTP header name"},
		{"no routing key", payload.Spec{Format: payload.PagerDuty}, "payload.routing_key", "is required"},
		{"sign is not an option error", payload.Spec{Format: payload.Slack, Sign: &no, Body: "x"}, "payload.body", "is not an option of format slack"},
		{"too long", payload.Spec{Format: payload.Template, Body: strings.Repeat("{{ .a }}", 3000)}, "payload.body", "at most 16384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := payload.Compile(tt.spec, payload.Options{})
			var errs *fields.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Compile() = %v, want Errors", err)
			}
			for _, fe := range errs.List {
				if fe.Field == tt.field && strings.Contains(fe.Message, tt.msg) {
					return
				}
			}
			t.Errorf("errors %v lack %s: %s", errs, tt.field, tt.msg)
		})
	}
}
