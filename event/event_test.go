package event

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func defaultDecoder(t testing.TB) *Decoder {
	t.Helper()
	d, err := NewDecoder(Locations{
		Type:      []string{"type", "event_type"},
		Level:     []string{"level", "severity"},
		Source:    []string{"source", "service"},
		Timestamp: []string{"timestamp", "@timestamp", "time"},
		Message:   []string{"message", "msg"},
	}, 1<<20, 64)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDecodeFields(t *testing.T) {
	d := defaultDecoder(t)
	tests := []struct {
		name                        string
		in                          string
		typ, level, source, message string
		time                        time.Time
	}{
		{"primary names", `{"type":"a.b","level":"ERROR","source":"api","message":"m","timestamp":"2024-05-01T10:00:00Z"}`,
			"a.b", "error", "api", "m", time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)},
		{"fallback names", `{"event_type":"x","severity":"Warn","service":"svc","msg":"hi","@timestamp":1714557600}`,
			"x", "warn", "svc", "hi", time.Unix(1714557600, 0).UTC()},
		{"unix millis", `{"time":1714557600123}`, "", "", "", "", time.UnixMilli(1714557600123).UTC()},
		{"primary wins", `{"type":"first","event_type":"second"}`, "first", "", "", "", time.Time{}},
		{"numbers as strings", `{"level":3,"source":true}`, "", "3", "true", "", time.Time{}},
		{"unreadable time", `{"timestamp":"yesterday"}`, "", "", "", "", time.Time{}},
		{"time beyond int64", `{"timestamp":99999999999999999999999}`, "", "", "", "", time.Time{}},
		{"millis after year 9999", `{"timestamp":253402300800000}`, "", "", "", "", time.Time{}},
		{"seconds after year 9999", `{"timestamp":253402300800}`, "", "", "", "", time.Time{}},
		{"last millisecond of year 9999", `{"timestamp":253402300799999}`, "", "", "", "", time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)},
		{"leading space", "  \n{\"type\":\"t\"}", "t", "", "", "", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := d.Decode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type != tt.typ || ev.Level != tt.level || ev.Source != tt.source || ev.Message != tt.message {
				t.Errorf("got type=%q level=%q source=%q message=%q", ev.Type, ev.Level, ev.Source, ev.Message)
			}
			if !ev.Time.Equal(tt.time) {
				t.Errorf("time = %v, want %v", ev.Time, tt.time)
			}
		})
	}
}

func TestDecodePoison(t *testing.T) {
	d, err := NewDecoder(Locations{Type: []string{"type"}}, 1024, 8)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		want Reason
	}{
		{"no value", nil, ReasonEmpty},
		{"too large", []byte(`{"a":"` + strings.Repeat("x", 2000) + `"}`), ReasonTooLarge},
		{"invalid utf8", []byte("{\"a\":\"\xff\xfe\"}"), ReasonInvalidUTF8},
		{"too deep", []byte(strings.Repeat("[", 20) + strings.Repeat("]", 20)), ReasonTooDeep},
		{"deep object", []byte(`{"a":` + strings.Repeat(`{"a":`, 10) + `1` + strings.Repeat("}", 11)), ReasonTooDeep},
		{"not json", []byte("hello world"), ReasonInvalidJSON},
		{"truncated", []byte(`{"a":1`), ReasonInvalidJSON},
		{"array", []byte(`[1,2,3]`), ReasonNotObject},
		{"string", []byte(`"text"`), ReasonNotObject},
		{"null", []byte(`null`), ReasonNotObject},
		{"trailing garbage", []byte(`{"a":1} x`), ReasonInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Decode(tt.in)
			var pe *PoisonError
			if !errors.As(err, &pe) {
				t.Fatalf("Decode() error = %v, want a PoisonError", err)
			}
			if pe.Reason != tt.want {
				t.Errorf("reason = %s (%s), want %s", pe.Reason, pe.Detail, tt.want)
			}
		})
	}
}

func TestDepthIgnoresBracketsInStrings(t *testing.T) {
	d, err := NewDecoder(Locations{Type: []string{"type"}}, 1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Decode([]byte(`{"type":"[[[[{{{{\"]]]"}`)); err != nil {
		t.Fatalf("brackets in a string counted as nesting: %v", err)
	}
}

func TestNesting(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{`{"a":1}`, 1},
		{`[{"a":[1,[2]]}]`, 4},
		{`{"a":"\\"}`, 1},             // an escaped backslash ends before the quote
		{`{"a":"\\\"[[["}`, 1},        // an escaped quote does not end the string
		{`{"a":"x\\\\","b":[[]]}`, 3}, // two escaped backslashes
		{`[{"a":"\""},[[1]]]`, 3},
		{`{"a":"[[[`, 1}, // a string never closed
		{`"[[["`, 0},
	}
	for _, tt := range tests {
		if got := nesting([]byte(tt.in), 64); got != tt.want {
			t.Errorf("nesting(%s) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestPath(t *testing.T) {
	obj := map[string]any{
		"metadata": map[string]any{"amount": 12.5, "user": map[string]any{"id": "u1"}},
		"tags":     []any{"a", "b", map[string]any{"k": "v"}},
		"a.b":      "dotted",
		"matrix":   []any{[]any{1.0, 2.0}},
	}
	tests := []struct {
		path   string
		want   any
		exists bool
	}{
		{"metadata.amount", 12.5, true},
		{"$.metadata.user.id", "u1", true},
		{"tags[0]", "a", true},
		{"tags[2].k", "v", true},
		{"tags[3]", nil, false},
		{"matrix[0][1]", 2.0, true},
		{`["a.b"]`, "dotted", true},
		{"metadata.missing", nil, false},
		{"metadata.amount.x", nil, false},
		{"tags.x", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := ParsePath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := p.Lookup(obj)
			if ok != tt.exists || got != tt.want {
				t.Errorf("Lookup = %v, %v; want %v, %v", got, ok, tt.want, tt.exists)
			}
		})
	}
}

func TestParsePathErrors(t *testing.T) {
	for _, bad := range []string{"", "$", "a..b", ".a", "a.", "a[", "a[x]", "a[-1]", "a[0]b", `a[""]`} {
		t.Run(bad, func(t *testing.T) {
			if _, err := ParsePath(bad); err == nil {
				t.Errorf("ParsePath(%q) succeeded", bad)
			}
		})
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	p := MustParsePath("metadata.user.id")
	obj := map[string]any{"metadata": map[string]any{"user": map[string]any{"id": "u1"}}}
	if n := testing.AllocsPerRun(100, func() { p.Lookup(obj) }); n != 0 {
		t.Errorf("Lookup allocates %.0f times", n)
	}
}

// TestLookupEach: the values at several paths, looked up in one scan of
// the undecoded event, are those Lookup finds one by one and those of
// the decoded fields; one path without a value fails them all.
func TestLookupEach(t *testing.T) {
	raw := []byte(`{"id":42,"message":"order 42 failed","metadata":{"amount":129,"customer":"cus_1","deep":{"x":[1,"a"]}},` +
		`"tags":["bench","eu"],"dup":1,"dup":2,"nil":null,"text":"a\u00e9\n"}`)
	p := func(keys ...string) []string { return keys }
	tests := []struct {
		name  string
		paths [][]string
		want  []any
	}{
		{"top-level and nested", [][]string{p("message"), p("id"), p("metadata", "amount"), p("metadata", "customer"), p("tags")},
			[]any{"order 42 failed", 42.0, 129.0, "cus_1", []any{"bench", "eu"}}},
		{"the last of duplicate keys", [][]string{p("dup")}, []any{2.0}},
		{"null, escapes, two levels down", [][]string{p("nil"), p("text"), p("metadata", "deep", "x")},
			[]any{nil, "aé\n", []any{1.0, "a"}}},
		{"the same path twice", [][]string{p("id"), p("id")}, []any{42.0, 42.0}},
		{"more paths than fit on the stack", [][]string{p("id"), p("id"), p("id"), p("id"), p("id"), p("id"), p("id"), p("id"), p("dup")},
			[]any{42.0, 42.0, 42.0, 42.0, 42.0, 42.0, 42.0, 42.0, 2.0}},
		{"a missing key", [][]string{p("id"), p("missing")}, nil},
		{"a missing nested key", [][]string{p("metadata", "missing")}, nil},
		{"a key of something not an object", [][]string{p("tags", "0")}, nil},
	}
	d, err := NewDecoder(Locations{Type: []string{"type"}}, 1024, 8)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, decoded := range []bool{false, true} {
				ev, err := d.Decode(raw)
				if err != nil {
					t.Fatal(err)
				}
				if decoded {
					ev.Fields()
				}
				got := make([]any, len(tt.paths))
				ok := ev.LookupEach(tt.paths, got)
				if ok != (tt.want != nil) || (ok && !reflect.DeepEqual(got, tt.want)) {
					t.Errorf("decoded %v: LookupEach = %#v, %v; want %#v", decoded, got, ok, tt.want)
				}
				if !decoded && ev.Decoded() {
					t.Error("LookupEach decoded the event")
				}
			}
		})
	}
}
