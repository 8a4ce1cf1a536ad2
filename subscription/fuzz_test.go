package subscription

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzCompile: any filter JSON either compiles or is refused with a
// ValidationError, and a compiled filter matches without panicking.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		`{"types":["a"],"levels":["ERROR"],"sources":["payment-*","a?c"]}`,
		`{"where":[{"path":"metadata.amount","op":"gte","value":100}]}`,
		`{"where":[{"path":"code","op":"regex","value":"^E\\d+$"}]}`,
		`{"where":[{"path":"a","op":"regex","value":"(["}]}`,
		`{"where":[{"path":"tags[0]","op":"in","value":["a",1,true,null]}]}`,
		`{"where":[{"path":"a..b","op":"eq","value":1}]}`,
		`{"where":[{"path":"a","op":"exists","value":false}]}`,
		`{"where":[{"path":"a","op":"contains","value":{}}]}`,
		`{"sources":["*"]}`, `{}`,
	} {
		f.Add([]byte(seed))
	}
	ev := mustEvent(f, `{"type":"a","level":"error","source":"payment-api","code":"E42","metadata":{"amount":150},"tags":["a","b"]}`)
	f.Fuzz(func(t *testing.T, filter []byte) {
		var fl Filter
		if json.Unmarshal(filter, &fl) != nil {
			return
		}
		c, err := Compile(valid(func(s *Subscription) { s.Filter = fl }))
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || len(verr.Errors) == 0 {
				t.Fatalf("error %v is not a ValidationError naming a field", err)
			}
			return
		}
		want := c.Matches(ev)
		if got := len(NewSet([]*Compiled{c}).Match(ev, nil)) == 1; got != want {
			t.Fatalf("index says %v, filter says %v", got, want)
		}
	})
}
