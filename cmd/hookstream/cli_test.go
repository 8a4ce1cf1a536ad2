package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/service"
	"github.com/hookstream/hookstream/subscription"
)

// cliEnv is a running hookstream with an admin token, and how to run the
// real binary's API commands against it.
type cliEnv struct {
	t       *testing.T
	bin     string
	server  string
	token   string
	brokers []string
	input   string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	input := testenv.Topic("logs")
	brokers := testenv.Kafka(t, 2, input)
	rdb, prefix := testenv.Redis(t)
	token, entry := newToken(config.ScopeAdmin)
	cfg := testenv.Config(brokers, input, prefix)
	cfg.Retry.Rungs = []time.Duration{100 * time.Millisecond}
	cfg.Delivery.MaxAttempts = 2
	cfg.Admin.Tokens = []string{entry}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(service.Options{Config: cfg, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Version: "test", Registry: prometheus.NewRegistry(), Redis: rdb, Listener: ln})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-svc.Ready():
	case err := <-done:
		t.Fatalf("hookstream stopped while starting: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("hookstream not ready after 30s")
	}
	return &cliEnv{t: t, bin: binary(t), server: "http://" + ln.Addr().String(), token: token, brokers: brokers, input: input}
}

// run runs the binary with args and returns its exit code, stdout and
// stderr.
func (e *cliEnv) run(stdin string, args ...string) (int, string, string) {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(), "HOOKSTREAM_SERVER="+e.server, "HOOKSTREAM_TOKEN="+e.token,
		"HOOKSTREAM_KAFKA_BROKERS="+strings.Join(e.brokers, ","), "HOOKSTREAM_KAFKA_INPUT_TOPICS="+e.input)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// mustJSON runs a command with -o json, expects exit 0 and decodes stdout.
func (e *cliEnv) mustJSON(v any, args ...string) {
	e.t.Helper()
	code, out, errs := e.run("", append(args, "-o", "json")...)
	if code != 0 {
		e.t.Fatalf("hookstream %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("hookstream %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestCLI drives the real binary against a running instance: every
// subscription command, its outputs and exit codes, publish, stats and
// the DLQ.
func TestCLI(t *testing.T) {
	e := newCLIEnv(t)
	var failing atomic.Bool
	var received atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)

	var created struct{ ID, Name, Secret string }
	e.mustJSON(&created, "subs", "create", "--name", "cli", "--url", hook.URL, "--levels", "error,warn")
	if created.ID == "" || !strings.HasPrefix(created.Secret, "whsec_") {
		t.Fatalf("create answered %+v, want an id and the secret", created)
	}
	id := created.ID

	tests := []struct {
		name  string
		args  []string
		code  int
		want  []string // in stdout
		werr  []string // in stderr
		stdin string
	}{
		{"list table", []string{"subs", "list"}, 0, []string{"ID", "NAME", id, "levels=error,warn"}, nil, ""},
		{"list yaml", []string{"subs", "list", "-o", "yaml"}, 0, []string{"id: " + id, "secret: whsec_", "…", "levels:\n"}, nil, ""},
		{"list filtered out", []string{"subs", "list", "--name", "nothing-like-it", "-o", "json"}, 0, []string{"[]"}, nil, ""},
		{"get", []string{"subs", "get", id}, 0, []string{"name:", "cli", "secret:", "…"}, nil, ""},
		{"get flags after id", []string{"subs", "get", id, "-o", "json"}, 0, []string{`"id": "` + id + `"`}, nil, ""},
		{"get unknown", []string{"subs", "get", "sub_nope"}, 3, nil, []string{"404", `"sub_nope" not found`}, ""},
		{"get no id", []string{"subs", "get"}, 2, nil, []string{"want one subscription ID"}, ""},
		{"update", []string{"subs", "update", id, "--name", "cli-renamed", "--types", "deploy"}, 0, []string{"cli-renamed", "types=deploy"}, nil, ""},
		{"update from stdin", []string{"subs", "update", id, "-f", "-"}, 0, []string{"max_attempts:", "3"}, nil, "max_attempts: 3\n"},
		{"update invalid", []string{"subs", "update", id, "--url", "not a url"}, 1, nil, []string{"422", "url:"}, ""},
		{"create refused destination", []string{"subs", "create", "--name", "x", "--url", "http://169.254.169.254/"}, 1, nil, []string{"url:"}, ""},
		{"test", []string{"subs", "test", id}, 0, []string{"outcome:", "delivered", "status:", "204"}, nil, ""},
		{"test bad event", []string{"subs", "test", id, "--event", "{"}, 2, nil, []string{"--event must be a JSON object"}, ""},
		{"rotate", []string{"subs", "rotate-secret", id}, 0, []string{"secret:", "whsec_"}, nil, ""},
		{"bad output", []string{"subs", "list", "-o", "xml"}, 2, nil, []string{"-o must be table, json or yaml"}, ""},
		{"bad server", []string{"subs", "list", "--server", "ftp://x"}, 2, nil, []string{"--server must be an http(s) URL"}, ""},
		{"stats", []string{"stats"}, 0, []string{"SUBSCRIPTION", id, "total", "dlq "}, nil, ""},
		{"dlq list empty", []string{"dlq", "list", "-o", "json"}, 0, []string{`"data": []`}, nil, ""},
		{"dlq replay needs a selection", []string{"dlq", "replay"}, 2, nil, []string{"say what to replay"}, ""},
		{"dlq bad time", []string{"dlq", "list", "--since", "yesterday"}, 2, nil, []string{"--since must be"}, ""},
		{"publish bad line", []string{"publish"}, 1, []string{"published 1 events"}, []string{"line 2: not a JSON object"},
			`{"level":"info","seq":0}` + "\n" + "oops\n"},
		{"publish no broker", []string{"publish", "--brokers", "127.0.0.1:1", "--timeout", "2s"}, 1, []string{"published 0 events"},
			[]string{"some events were not published"}, `{"level":"info"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := e.run(tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.werr {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}

	// Deliveries end in the DLQ while the endpoint refuses them; the CLI
	// lists them and, once the endpoint is fixed, replays them.
	failing.Store(true)
	before := received.Load()
	var lines strings.Builder
	for i := range 3 {
		lines.WriteString(`{"type":"deploy","level":"error","seq":` + string(rune('0'+i)) + "}\n")
	}
	if code, out, errs := e.run(lines.String(), "publish"); code != 0 || !strings.Contains(out, "published 3 events") {
		t.Fatalf("publish: exit %d\n%s%s", code, out, errs)
	}
	var page struct {
		Data []struct{ ID, Kind, Reason, Subscription string }
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		page.Data = nil
		e.mustJSON(&page, "dlq", "list", "--subscription", id)
		return len(page.Data) == 3
	}, "the DLQ did not fill")
	for _, r := range page.Data {
		if r.Kind != "delivery" || r.Reason != "permanent:http_4xx" {
			t.Errorf("DLQ record %+v", r)
		}
	}
	var attempts []struct{ Attempt int }
	e.mustJSON(&attempts, "subs", "attempts", id, "--limit", "2")
	if len(attempts) != 2 {
		t.Errorf("attempts --limit 2 listed %d", len(attempts))
	}
	failing.Store(false)
	var dry struct{ Replayed, Matched int }
	e.mustJSON(&dry, "dlq", "replay", "--subscription", id, "--dry-run")
	if dry.Replayed != 0 || dry.Matched != 3 {
		t.Errorf("dry run = %+v, want 3 matched and none replayed", dry)
	}
	var res struct{ Replayed int }
	e.mustJSON(&res, "dlq", "replay", "--id", page.Data[0].ID)
	if res.Replayed != 1 {
		t.Errorf("replay of one id = %+v", res)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return received.Load() == before+4 },
		"the replayed delivery did not arrive")

	if code, out, errs := e.run("", "subs", "delete", id); code != 0 || !strings.Contains(out, "deleted "+id) {
		t.Errorf("delete: exit %d\n%s%s", code, out, errs)
	}
	if code, _, _ := e.run("", "subs", "delete", id); code != 3 {
		t.Errorf("second delete: exit %d, want 3", code)
	}
}

// TestApply: apply creates, updates and prunes to match a file, prints
// the plan, changes nothing on a dry run, and a second apply of the same
// file changes nothing.
func TestApply(t *testing.T) {
	e := newCLIEnv(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A subscription made by hand, which --prune removes.
	var manual struct{ ID string }
	e.mustJSON(&manual, "subs", "create", "--name", "manual", "--url", "https://hooks.example.com/manual")

	first := write("first.yaml", `subscriptions:
  - id: payments
    name: Payment errors
    url: https://hooks.example.com/payments
    filter: {levels: [error], sources: ["payment-*"]}
    timeout: 1m
  - id: deploys
    name: Deploys
    url: https://hooks.example.com/deploys
    filter:
      types: [deploy.finished]
      where: [{path: env, op: eq, value: prod}]
    headers: {X-Team: platform}
    payload: {format: slack, summary: "{{ .type }} in {{ .env }}"}
`)
	type plan struct {
		Changes []struct {
			Action, ID string
			Fields     []string
		}
		Summary map[string]int
	}
	var p plan
	e.mustJSON(&p, "apply", "-f", first, "--dry-run")
	if p.Summary["create"] != 2 || p.Summary["delete"] != 0 {
		t.Errorf("dry run plan = %+v, want 2 creates", p)
	}
	var subs []struct{ ID string }
	e.mustJSON(&subs, "subs", "list")
	if len(subs) != 1 {
		t.Fatalf("a dry run changed the store: %d subscriptions", len(subs))
	}

	code, out, errs := e.run("", "apply", "-f", first)
	if code != 0 || !strings.Contains(out, "+ create") || !strings.Contains(out, "2 to create, 0 to update, 0 to delete, 0 unchanged") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errs)
	}
	p = plan{}
	e.mustJSON(&p, "apply", "-f", first)
	if p.Summary["unchanged"] != 2 || p.Summary["create"]+p.Summary["update"]+p.Summary["delete"] != 0 {
		t.Errorf("second apply = %+v, want nothing to change", p)
	}

	second := write("second.yaml", `subscriptions:
  - id: payments
    name: Payment errors
    url: https://hooks.example.com/payments-v2
    filter: {levels: [error, fatal], sources: ["payment-*"]}
    timeout: 60s
    payload: {format: pagerduty, routing_key: R0UT1NGK3Y0000000000000000000000}
  - id: deploys
    name: Deploys
    url: https://hooks.example.com/deploys
    filter:
      types: [deploy.finished]
      where: [{path: env, op: eq, value: prod}]
    headers: {X-Team: platform}
    payload: {format: slack, summary: "{{ .type }} in {{ .env }}"}
`)
	p = plan{}
	e.mustJSON(&p, "apply", "-f", second, "--prune")
	want := map[string]string{"payments": "update", "deploys": "unchanged", manual.ID: "delete"}
	for _, ch := range p.Changes {
		if want[ch.ID] != ch.Action {
			t.Errorf("%s: %s, want %s", ch.ID, ch.Action, want[ch.ID])
		}
		if ch.ID == "payments" && strings.Join(ch.Fields, ",") != "url,filter,payload" {
			t.Errorf("payments changed fields %v, want url, filter and payload (1m and 60s are one timeout)", ch.Fields)
		}
	}
	var got struct {
		URL     string
		Timeout string
	}
	e.mustJSON(&got, "subs", "get", "payments")
	if got.URL != "https://hooks.example.com/payments-v2" || got.Timeout != "1m0s" {
		t.Errorf("payments after apply = %+v", got)
	}
	p = plan{}
	e.mustJSON(&p, "apply", "-f", second, "--prune")
	if p.Summary["unchanged"] != 2 || len(p.Changes) != 2 {
		t.Errorf("second apply with --prune = %+v, want nothing to change", p)
	}

	bad := write("bad.yaml", "subscriptions:\n  - name: no id\n    colour: blue\n  - id: deploys\n  - id: deploys\n")
	code, _, errs = e.run("", "apply", "-f", bad)
	for _, w := range []string{"subscriptions[0].id: is required", "subscriptions[0].colour: unknown field", `subscriptions[2].id: "deploys" is listed twice`} {
		if !strings.Contains(errs, w) {
			t.Errorf("bad file: stderr lacks %q:\n%s", w, errs)
		}
	}
	if code != 1 {
		t.Errorf("bad file: exit %d, want 1", code)
	}
}

func TestDescribeEnabled(t *testing.T) {
	tests := []struct {
		sub  subscription.Subscription
		want string
	}{
		{subscription.Subscription{Enabled: true}, "true"},
		{subscription.Subscription{Enabled: false}, "false"},
		{subscription.Subscription{Enabled: false, DisabledReason: subscription.DisabledGone}, "false (gone)"},
		{subscription.Subscription{Enabled: false, DisabledReason: subscription.DisabledFailing}, "false (failing)"},
	}
	for _, tt := range tests {
		if got := describeEnabled(tt.sub); got != tt.want {
			t.Errorf("describeEnabled(%+v) = %q, want %q", tt.sub, got, tt.want)
		}
	}
}

// TestSourcesCLI: inbound sources are made, shown masked, rotated and
// deleted from the command line.
func TestSourcesCLI(t *testing.T) {
	e := newCLIEnv(t)
	var made struct {
		ID      string
		Secrets []string
	}
	e.mustJSON(&made, "sources", "create", "--id", "hooks", "--name", "Hooks", "--provider", "standard")
	if made.ID != "hooks" || len(made.Secrets) != 1 || !strings.HasPrefix(made.Secrets[0], "whsec_") || strings.Contains(made.Secrets[0], "…") {
		t.Fatalf("create: %+v", made)
	}
	code, out, errs := e.run("", "sources", "list")
	if code != 0 || !strings.Contains(out, "hooks") || strings.Contains(out, made.Secrets[0]) {
		t.Fatalf("list: %d %s %s", code, out, errs)
	}
	code, out, _ = e.run("", "sources", "get", "hooks")
	if code != 0 || strings.Contains(out, made.Secrets[0]) || !strings.Contains(out, "/in/hooks") {
		t.Errorf("get: %d %s", code, out)
	}
	if code, _, errs := e.run("", "sources", "create", "--id", "gh", "--name", "GitHub", "--provider", "github"); code != 1 || !strings.Contains(errs, "secrets") {
		t.Errorf("a GitHub source without its secret: exit %d, %s", code, errs)
	}
	upd := filepath.Join(t.TempDir(), "hooks.yaml")
	if err := os.WriteFile(upd, []byte("name: Hooks v2\nprovider: standard\ntopic: inbound\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var updated struct {
		Name, Topic string
		Secrets     []string
	}
	e.mustJSON(&updated, "sources", "update", "hooks", "-f", upd)
	if updated.Name != "Hooks v2" || updated.Topic != "inbound" || len(updated.Secrets) != 1 {
		t.Errorf("update: %+v", updated)
	}
	var rotated struct{ Secrets []string }
	e.mustJSON(&rotated, "sources", "rotate-secret", "hooks")
	if len(rotated.Secrets) != 2 || rotated.Secrets[0] == made.Secrets[0] || strings.Contains(rotated.Secrets[0], "…") {
		t.Errorf("rotate: %+v", rotated)
	}
	if code, _, errs := e.run("", "sources", "delete", "hooks"); code != 0 {
		t.Fatalf("delete: %d %s", code, errs)
	}
	if code, _, _ := e.run("", "sources", "get", "hooks"); code != 3 {
		t.Errorf("get after delete: exit %d, want 3", code)
	}
}

// TestApplySources: a file's sources are created, left alone when
// unchanged, updated field by field and pruned; a file without a sources
// key leaves the stored ones alone.
func TestApplySources(t *testing.T) {
	e := newCLIEnv(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	type plan struct {
		Changes []struct {
			Action, Kind, ID string
			Fields           []string
		}
		Summary map[string]int
	}
	first := write("first.yaml", `sources:
  - id: stripe
    name: Stripe
    provider: stripe
    secrets: [whsec_from_stripe]
  - id: hooks
    name: Hooks
    provider: standard
`)
	var p plan
	e.mustJSON(&p, "apply", "-f", first)
	if p.Summary["create"] != 2 {
		t.Fatalf("first apply: %+v", p)
	}
	p = plan{}
	e.mustJSON(&p, "apply", "-f", first)
	if p.Summary["unchanged"] != 2 || p.Summary["update"]+p.Summary["create"] != 0 {
		t.Fatalf("second apply: %+v", p)
	}
	second := write("second.yaml", `sources:
  - id: stripe
    name: Stripe
    provider: stripe
    topic: payments-inbound
`)
	p = plan{}
	e.mustJSON(&p, "apply", "-f", second, "--prune")
	want := map[string]string{"stripe": "update", "hooks": "delete"}
	for _, ch := range p.Changes {
		if ch.Kind != "source" || want[ch.ID] != ch.Action {
			t.Errorf("%s %s: %s, want %s", ch.Kind, ch.ID, ch.Action, want[ch.ID])
		}
		if ch.ID == "stripe" && strings.Join(ch.Fields, ",") != "topic" {
			t.Errorf("stripe changed fields %v, want topic", ch.Fields)
		}
	}
	var got struct {
		Topic   string
		Secrets []string
	}
	e.mustJSON(&got, "sources", "get", "stripe")
	if got.Topic != "payments-inbound" || len(got.Secrets) != 1 {
		t.Errorf("stripe after apply: %+v (its secret must be kept)", got)
	}
	p = plan{}
	e.mustJSON(&p, "apply", "-f", write("none.yaml", "subscriptions: []\n"), "--prune")
	for _, ch := range p.Changes {
		if ch.Kind == "source" {
			t.Errorf("a file without sources changed source %s: %s", ch.ID, ch.Action)
		}
	}
}
