package payload

import (
	"testing"

	"github.com/hookstream/hookstream/event"
)

// TestFastTemplatesRenderAsTextTemplate: a template with a fast form
// renders every event exactly as text/template does, or hands the event
// to text/template.
func TestFastTemplatesRenderAsTextTemplate(t *testing.T) {
	templates := []struct {
		src  string
		mode textMode
		fast bool
	}{
		{`{"alert":"{{ .message }}","order":{{ .id }},"amount":{{ .m.amount }},"tags":{{ json .tags }},"q":{{ quote .n }}}`, textJSON, true},
		{`{"v":{{ .m }},"s":"{{ upper .message }} {{ .m }}"}`, textJSON, true},
		{`{{ .message }} / {{ .id }} / {{ .m.amount }} / {{ .nil }} / {{ lower .message }} / {{ .tags }}`, textPlain, true},
		{`/orders/{{ .id }}/{{ .message }}`, textPath, true},
		{`{{/* a comment */}}{{ .message }}`, textPlain, true},
		{`{{ default "x" .message }}`, textPlain, false},
		{`{{ if .id }}{{ .id }}{{ end }}`, textPlain, false},
	}
	events := []string{
		`{"message":"disk \"full\" <now> & ü","id":42,"m":{"amount":12.5,"big":1e21},"tags":["a","b"],"n":7,"nil":null}`,
		`{"message":"","id":-0.5,"m":{"amount":null},"tags":[],"n":"seven","nil":null}`,
		`{"message":"x","id":1,"m":"not an object","tags":null,"n":true,"nil":null}`,
		`{"message":"x"}`,
		`{"message":{"nested":[1,2]},"id":"a/b c","m":{},"tags":{"k":"v"},"n":null,"nil":1}`,
	}
	dec, err := event.NewDecoder(event.Locations{Type: []string{"type"}}, 1<<20, 32)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range templates {
		tx, err := compileText("t", tt.src, tt.mode)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if (tx.fast != nil) != tt.fast {
			t.Errorf("%s: fast form %v, want %v", tt.src, tx.fast != nil, tt.fast)
		}
		slow := tx
		slow.fast = nil
		for _, raw := range events {
			ev, err := dec.Decode([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			in := &Input{Event: ev}
			got, gotErr := tx.render(nil, in, 1<<20)
			want, wantErr := slow.render(nil, in, 1<<20)
			if string(got) != string(want) || (gotErr == nil) != (wantErr == nil) {
				t.Errorf("%s over %s:\nfast %q, %v\ntext/template %q, %v", tt.src, raw, got, gotErr, want, wantErr)
			}
		}
	}
}
