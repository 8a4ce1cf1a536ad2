package payload_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/payload"
)

var update = flag.Bool("update", false, "rewrite the golden files' requests")

// testDecoder decodes events as hookstream's default config does.
func testDecoder(t testing.TB) *event.Decoder {
	t.Helper()
	d, err := event.NewDecoder(event.Locations{
		Type: []string{"type", "event_type"}, Level: []string{"level", "severity"}, Source: []string{"source", "service"},
		Timestamp: []string{"timestamp", "@timestamp", "time"}, Message: []string{"message", "msg"},
	}, 1<<20, 64)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// testInput is the input every golden file renders: its event, under a
// fixed webhook-id, subscription and URL.
func testInput(t testing.TB, raw []byte) *payload.Input {
	t.Helper()
	ev, err := testDecoder(t).Decode(raw)
	if err != nil {
		t.Fatalf("event: %v", err)
	}
	at := ev.Time
	if at.IsZero() {
		at = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	}
	return &payload.Input{WebhookID: "msg_2wk4mlfkwd4tk5fwcz6zdjhx3e", SubscriptionID: "sub_golden",
		URL: "https://hooks.example.com/in?team=ops", Event: ev, Time: at}
}

// condition compiles a resolve_when in tests: it holds when the event's
// level is one of the condition's levels.
func condition(c payload.Condition) (payload.Matcher, error) {
	if len(c.Levels) == 0 {
		return nil, errors.New("this test compiles levels only")
	}
	return func(ev *event.Event) bool { return slices.Contains(c.Levels, ev.Level) }, nil
}

// golden is one file under testdata: sections "-- name --" holding the
// payload spec, the event and the expected request.
type golden struct {
	path     string
	sections map[string]string
	order    []string
}

func readGolden(t *testing.T, path string) *golden {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := &golden{path: path, sections: map[string]string{}}
	name := ""
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "-- "); ok && strings.HasSuffix(n, " --") {
			name = strings.TrimSuffix(n, " --")
			g.order = append(g.order, name)
			continue
		}
		if name != "" {
			g.sections[name] += line
		}
	}
	for _, want := range []string{"payload", "event"} {
		if _, ok := g.sections[want]; !ok {
			t.Fatalf("%s: no %q section", path, want)
		}
	}
	return g
}

func (g *golden) write(t *testing.T, request string) {
	t.Helper()
	g.sections["request"] = request
	if !slices.Contains(g.order, "request") {
		g.order = append(g.order, "request")
	}
	var b strings.Builder
	for _, name := range g.order {
		fmt.Fprintf(&b, "-- %s --\n%s", name, g.sections[name])
	}
	if err := os.WriteFile(g.path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// dump writes a request as its method, URL, sorted headers and body.
func dump(req payload.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", req.Method, req.URL)
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range req.Header[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", req.Body)
	return b.String()
}

// renderGolden renders g's event with g's payload.
func renderGolden(t *testing.T, g *golden) (payload.Request, error) {
	t.Helper()
	var spec payload.Spec
	dec := json.NewDecoder(strings.NewReader(g.sections["payload"]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		t.Fatalf("payload: %v", err)
	}
	c, err := payload.Compile(spec, payload.Options{CompileCondition: condition})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return c.Render(testInput(t, bytes.TrimSpace([]byte(g.sections["event"]))), nil)
}

// TestGolden renders every testdata/*.txt: one payload and one event to
// the one request an endpoint receives. go test ./payload -update
// rewrites the requests.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			g := readGolden(t, path)
			req, err := renderGolden(t, g)
			got := ""
			if err != nil {
				got = "error: " + err.Error() + "\n"
			} else {
				got = dump(req)
			}
			if *update {
				g.write(t, got)
				return
			}
			if want, ok := g.sections["request"]; !ok {
				t.Fatalf("no request section; run go test ./payload -update")
			} else if got != want {
				t.Errorf("request differs from %s\n--- got\n%s--- want\n%s", path, got, want)
			}
			if err == nil && strings.Contains(req.Header.Get("Content-Type"), "json") && !json.Valid(req.Body) {
				t.Errorf("body is not valid JSON: %s", req.Body)
			}
		})
	}
}

func TestEnvelopeJSON(t *testing.T) {
	env := payload.Envelope{
		ID: "msg_1", Type: "a\"b\\c\n\x01é", Timestamp: time.Date(2024, 5, 1, 10, 0, 0, 5, time.UTC),
		SubscriptionID: "sub_1", Data: []byte(`{"k": [1, 2]}`),
	}
	b := env.AppendJSON(nil)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("envelope is not JSON: %v\n%s", err, b)
	}
	if m["id"] != "msg_1" || m["type"] != env.Type || m["subscription_id"] != "sub_1" ||
		m["timestamp"] != "2024-05-01T10:00:00.000000005Z" {
		t.Errorf("envelope fields wrong: %s", b)
	}
	if data, _ := json.Marshal(m["data"]); string(data) != `{"k":[1,2]}` {
		t.Errorf("data = %s", data)
	}
}
