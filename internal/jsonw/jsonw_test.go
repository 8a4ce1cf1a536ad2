package jsonw

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// decoded is what a JSON reader gets back from s written by
// AppendString: s with each byte that is not UTF-8 read as U+FFFD.
func decoded(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // utf8.RuneError is U+FFFD
		i += size
	}
	return b.String()
}

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"order 42 failed", `"order 42 failed"`},
		{`say "hi" \ bye`, `"say \"hi\" \\ bye"`},
		{"a\nb\rc\td", `"a\nb\rc\td"`},
		{"\x00\x1f\x7f", `"\u0000\u001f` + "\x7f" + `"`},
		{"café ☕", `"café ☕"`},
		{"bad \xff byte", `"bad \ufffd byte"`},
		{"<&>", `"<&>"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(AppendString([]byte("x"), tt.in)); got != "x"+tt.want {
				t.Errorf("AppendString(%q) = %s, want x%s", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzAppendString: whatever the bytes, the result is one JSON string
// that reads back as them.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"\`, "\x00\n\t", "é\xffx", "\xed\xa0\x80", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, out, err)
		}
		if want := decoded(s); back != want {
			t.Errorf("AppendString(%q) reads back as %q, want %q", s, back, want)
		}
		if fromBytes := AppendString(nil, []byte(s)); string(fromBytes) != string(out) {
			t.Errorf("AppendString of %q's bytes = %s, of the string %s", s, fromBytes, out)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"ascii", "order 12345 failed for customer cus_00012345 in eu-west-1"},
		{"escapes", "line one\nline \"two\"\tend"},
		{"utf8", "commande 12345 échouée — réessayer ☕"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.SetBytes(int64(len(bc.s)))
			for b.Loop() {
				buf = AppendString(buf[:0], bc.s)
			}
		})
	}
}

// Appending bytes allocates nothing, whatever they hold and however
// long.
func TestAppendStringOfBytesAllocatesNothing(t *testing.T) {
	buf := make([]byte, 0, 256)
	tail := strings.Repeat("x", 64) // longer than a conversion's buffer on the stack
	for _, s := range []string{"plain", "line\n\"quoted\"", "commande échouée ☕" + tail, "bad \xff byte" + tail} {
		b := []byte(s)
		if allocs := testing.AllocsPerRun(100, func() { buf = AppendString(buf[:0], b) }); allocs != 0 {
			t.Errorf("%q: %v allocations", s, allocs)
		}
	}
}
