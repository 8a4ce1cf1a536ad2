package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookstream/hookstream/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func binary(t *testing.T) string { return testenv.Binary(t, ".", true) }

func freeAddr(t *testing.T) string { return testenv.FreeAddr(t) }

func TestCommands(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kafka:\n  brokers: [nohost]\nretry:\n  rungs: [1s, 1s]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("kafka:\n  brokers: [kafka:9092]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  []string
		code int
		want []string
	}{
		{"version", []string{"version"}, nil, 0, []string{"hookstream dev"}},
		{"no command", nil, nil, 2, []string{"Usage"}},
		{"unknown command", []string{"launch"}, nil, 2, []string{`unknown command "launch"`}},
		{"valid config", []string{"run", "--config", good, "--check-config"}, nil, 0, []string{"config is valid"}},
		{"invalid config names fields", []string{"run", "--config", bad, "--check-config"}, nil, 1,
			[]string{"kafka.brokers[0]", "retry.rungs[1]"}},
		{"bad env override", []string{"run", "--config", good, "--check-config"}, []string{"HOOKSTREAM_DELIVERY_TIMEOUT=later"}, 1,
			[]string{"HOOKSTREAM_DELIVERY_TIMEOUT"}},
		{"missing file", []string{"run", "--config", filepath.Join(dir, "none.yaml")}, nil, 1, []string{"no such file"}},
		{"bad flag", []string{"run", "--nope"}, nil, 2, []string{"flag provided but not defined"}},
		{"token", []string{"token"}, nil, 0, []string{"token:  hst_", `admin.tokens: ["admin:`}},
		{"read token", []string{"token", "--scope", "read"}, nil, 0, []string{`["read:`}},
		{"bad scope", []string{"token", "--scope", "root"}, nil, 2, []string{"--scope must be admin or read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(os.Environ(), tt.env...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tt.code {
				t.Errorf("exit %d, want %d\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestDevWithKcat runs "hookstream dev" as a user would, publishes log
// events with kcat, and checks the signed deliveries with the reference
// Standard Webhooks verifier.
func TestDevWithKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("HOOKSTREAM_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatal("kcat is required (HOOKSTREAM_TEST_REQUIRE_TOOLS=1): apt-get install kcat")
		}
		t.Skip("kcat not installed")
	}
	bin := binary(t)
	admin, kafka := freeAddr(t), freeAddr(t)
	args := []string{"dev", "--admin-addr", admin, "--kafka-addr", kafka, "--inbox-addr", "", "--data-dir", t.TempDir()}
	if url := os.Getenv("REDIS_URL"); url != "" {
		args = append(args, "--redis-url", url)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOOKSTREAM_REDIS_KEY_PREFIX=dev-"+testenv.Unique(), "HOOKSTREAM_LOG_FORMAT=json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("hookstream stderr:\n%s", stderr.String())
		}
	})
	running := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Press Ctrl-C") {
				running <- all.String()
			}
		}
	}()
	var banner string
	select {
	case banner = <-running:
	case err := <-exited:
		t.Fatalf("hookstream dev exited: %v\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("hookstream dev not running after 60s\n%s", stderr.String())
	}
	for _, want := range []string{"curl -sS -X POST http://" + admin + "/v1/subscriptions", "kcat -P -b " + kafka + " -t logs",
		`'{"format":"slack"`, `'{"format":"teams"}'`, `'{"format":"discord"}'`, `'{"format":"pagerduty"`, `'{"format":"cloudevents"`,
		`'{"format":"github-dispatch"`, `'{"format":"template"`, `'{"format":"raw"}' --signing v1a`} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	token := ""
	for _, line := range strings.Split(banner, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "export HOOKSTREAM_TOKEN="); ok {
			token = v
		}
	}
	if !strings.HasPrefix(token, "hst_") {
		t.Fatalf("banner shows no token:\n%s", banner)
	}

	var mu sync.Mutex
	var got []string
	var wh *standardwebhooks.Webhook
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("signature rejected: %v", err)
		}
		var env struct {
			Data struct {
				Message string `json:"message"`
			} `json:"data"`
		}
		_ = json.Unmarshal(body, &env)
		got = append(got, env.Data.Message)
	}))
	t.Cleanup(recv.Close)

	if resp, err := http.Post("http://"+admin+"/v1/subscriptions", "application/json", strings.NewReader(`{}`)); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dev API without a token: %v %v; want 401", resp.StatusCode, err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+admin+"/v1/subscriptions",
		strings.NewReader(`{"name":"errors","url":"`+recv.URL+`","filter":{"levels":["error"]}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sub struct{ Secret string }
	_ = json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create subscription: %d", resp.StatusCode)
	}
	mu.Lock()
	wh, err = standardwebhooks.NewWebhook(sub.Secret)
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}

	lines := `{"level":"error","message":"one"}
{"level":"info","message":"skipped"}
{"level":"ERROR","message":"two"}
`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := exec.CommandContext(ctx, kcat, "-P", "-b", kafka, "-t", "logs")
	pub.Stdin = strings.NewReader(lines)
	if out, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	testenv.Eventually(t, 20*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2 },
		"the two error events were not both delivered")
	mu.Lock()
	if got[0] == got[1] || (got[0] != "one" && got[0] != "two") || (got[1] != "one" && got[1] != "two") {
		t.Errorf("delivered %q, want the messages one and two", got)
	}
	mu.Unlock()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("hookstream dev exited with %v after SIGTERM", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("hookstream dev did not stop after SIGTERM")
	}
}
