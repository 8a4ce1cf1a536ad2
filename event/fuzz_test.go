package event

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecode: any bytes either decode to an event or give a PoisonError;
// nothing panics, and accepted values are objects within the limits.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"type":"a","level":"ERROR","source":"api","timestamp":"2024-05-01T10:00:00Z","message":"m"}`,
		`{"event_type":"x","severity":3,"@timestamp":1714557600123}`,
		`{"type":"match",`, `[{"type":"match"}]`, "{\"m\":\"\xc3\x28\"}", ``, `null`, `"s"`, `{}`,
		strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100),
		`{"a":"[[[[\"]]]"}`, `{"a":1} trailing`, "\ufeff{}", `{"a":1e400}`,
		`{"type":"a","type":"b"}`, `{"ty\u0070e":"esc","level":"\u0045RROR"}`, `{ "type" : { "x" : [1,"}"] } , "event_type" : "x" }`,
		`{"timestamp":1e400,"@timestamp":12.5}`, `{"source":null,"message":true,"level":-0.5e2}`,
		`{ "a" : [ ] , "b" : [ 1 , [ "x\"]" , { } ] , { "c" : null } ], "d\u00e9" : { "e" : [true,false] } }`,
		`{"a":[1e400]}`, `{"a":{"b":1e400}}`, `{"a":"\ud83d\ude00","a":2}`,
	} {
		f.Add([]byte(seed))
	}
	d, err := NewDecoder(Locations{
		Type: []string{"type", "event_type"}, Level: []string{"level", "severity"}, Source: []string{"source"},
		Timestamp: []string{"timestamp", "@timestamp"}, Message: []string{"message"},
	}, 4096, 32)
	if err != nil {
		f.Fatal(err)
	}
	// ref reads the well-known fields from the decoded object instead of
	// scanning: both must agree.
	ref := *d
	ref.topKeys = nil
	f.Fuzz(func(t *testing.T, value []byte) {
		ev, err := d.Decode(value)
		want, refErr := ref.Decode(value)
		if err != nil {
			var pe *PoisonError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a PoisonError", err)
			}
			if refErr == nil {
				t.Fatalf("scan refused %q (%v), the decoded object took it", value, err)
			}
			return
		}
		if refErr != nil {
			t.Fatalf("scan took %q, the decoded object refused it: %v", value, refErr)
		}
		if ev.Fields() == nil || len(value) > 4096 {
			t.Fatalf("accepted %q", value)
		}
		if ev.Level != strings.ToLower(ev.Level) {
			t.Fatalf("level %q not lower-cased", ev.Level)
		}
		var v any
		if json.Unmarshal(value, &v) != nil {
			// A number beyond float64: encoding/json cannot decode the
			// object, so the reference sees no fields at all.
			return
		}
		// A lookup on the undecoded event finds what encoding/json
		// decodes, key by key and one level down.
		fresh, _ := d.Decode(value)
		var paths [][]string
		wants := []any{}
		for k, want := range v.(map[string]any) {
			if got, ok := fresh.Lookup([]string{k}); !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: Lookup(%q) = %#v, %v; encoding/json %#v", value, k, got, ok, want)
			}
			paths, wants = append(paths, []string{k}), append(wants, want)
			if m, isObj := want.(map[string]any); isObj {
				for k2, want2 := range m {
					if got, ok := fresh.Lookup([]string{k, k2}); !ok || !reflect.DeepEqual(got, want2) {
						t.Fatalf("%q: Lookup(%q, %q) = %#v; encoding/json %#v", value, k, k2, got, want2)
					}
					paths, wants = append(paths, []string{k, k2}), append(wants, want2)
				}
			}
		}
		// Looked up together, in one scan, they are the same.
		if got := make([]any, len(paths)); !fresh.LookupEach(paths, got) || !reflect.DeepEqual(got, wants) {
			t.Fatalf("%q: LookupEach(%q) = %#v; encoding/json %#v", value, paths, got, wants)
		}
		if _, ok := fresh.Lookup([]string{"no such key \x00"}); ok || fresh.Decoded() {
			t.Fatalf("%q: Lookup found a missing key, or decoded the event", value)
		}
		// The fields are what encoding/json decodes, without reflection.
		if !reflect.DeepEqual(any(fresh.Fields()), v) {
			t.Fatalf("%q: fields %#v, encoding/json %#v", value, fresh.Fields(), v)
		}
		if ev.Type != want.Type || ev.Level != want.Level || ev.Source != want.Source ||
			ev.Message != want.Message || !ev.Time.Equal(want.Time) {
			t.Fatalf("%q: scan read %q %q %q %q %v, the decoded object %q %q %q %q %v", value,
				ev.Type, ev.Level, ev.Source, ev.Message, ev.Time, want.Type, want.Level, want.Source, want.Message, want.Time)
		}
	})
}

// FuzzPath: any path string parses or errs, and a parsed path looks up
// without panicking.
func FuzzPath(f *testing.F) {
	for _, seed := range []string{"a", "a.b", "tags[0]", "$.a.b[2].c", `labels["app.kubernetes.io/name"]`, "a..b", "a[", "a[-1]", `a[""]`, "[0][1]"} {
		f.Add(seed)
	}
	obj := map[string]any{"a": map[string]any{"b": []any{1.0, map[string]any{"c": "x"}}}, "tags": []any{"t"}}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		p.Lookup(obj)
		if p.String() != s {
			t.Fatalf("String() = %q, want %q", p.String(), s)
		}
	})
}

// FuzzNesting: nesting agrees with a plain reading of every byte.
func FuzzNesting(f *testing.F) {
	for _, s := range []string{`{"a":"\\"}`, `{"a":"\"[["}`, `[[{"a":[1]}]]`, `"\\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := nesting(b, 1<<30), nestingByBytes(b); got != want {
			t.Errorf("nesting(%q) = %d, want %d", b, got, want)
		}
	})
}

// nestingByBytes is nesting without a limit, a byte at a time.
func nestingByBytes(b []byte) int {
	depth, deepest, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// FuzzValid checks Valid against encoding/json's Valid, whose verdict it
// stands in for.
func FuzzValid(f *testing.F) {
	for _, s := range []string{
		`{}`, ` {"a":1} `, `{"a":1,"a":2}`, `{"a":"\ud800"}`, `"\udc00\ud800"`, "{\"a\":\"\xff\"}", "\xff",
		`{"a":1}x`, `{} {}`, ``, ` `, `[1,2`, `[1,]`, `{"a":}`, `01`, `-0`, `1e999`, `1.`, `.5`, `-`, `1E+2`,
		`"\u00zz"`, `"\x"`, "\"a\tb\"", `nul`, `null`, `true `, `[[[[]]]]`, `{"a":{"b":[true,false,null]}}`,
		"\ufeff{}", "{\"a\":1}\x00", `"\/"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Errorf("Valid(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}
