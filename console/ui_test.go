//go:build ui

package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/hookstream/hookstream/console"
	"github.com/hookstream/hookstream/internal/testenv"
)

// TestMain removes the hookstream binary the tests build.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// devInstance is a running "hookstream dev".
type devInstance struct {
	t        *testing.T
	bin, dir string
	args     []string
	admin    string // base URL of the admin listener
	token    string // this run's admin token
	cmd      *exec.Cmd
	out      *testenv.Buffer
}

var tokenLine = regexp.MustCompile(`(?m)^\s+token\s+(hst_\S+)`)

// start runs the instance and waits until it is ready and has printed
// its admin token.
func (d *devInstance) start() {
	t := d.t
	t.Helper()
	d.out = &testenv.Buffer{}
	d.cmd = exec.Command(d.bin, append([]string{"dev"}, d.args...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 90*time.Second, func() bool { return tokenLine.MatchString(d.out.String()) },
		"hookstream dev did not start:\n%s", d.out)
	d.token = tokenLine.FindStringSubmatch(d.out.String())[1]
}

func (d *devInstance) stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
	d.cmd = nil
}

// api calls the admin API with the admin token.
func (d *devInstance) api(method, path, body string) (int, string) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.admin+path, strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestConsole drives the console in Debian's Chromium, headless, against
// a live "hookstream dev": sign in, create a subscription through the
// form, send an event and see its delivery, watch the overview move,
// replay a DLQ record, sign in with a read token, and follow the stream
// across a restart. Screenshots of each view go to
// HOOKSTREAM_UI_SCREENSHOTS (default: the test's temporary directory).
func TestConsole(t *testing.T) {
	chromium := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		if os.Getenv("HOOKSTREAM_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatal("chromium is required (HOOKSTREAM_TEST_REQUIRE_TOOLS=1): apt-get install chromium")
		}
		t.Skip("chromium not installed (apt-get install chromium)")
	}
	shots := os.Getenv("HOOKSTREAM_UI_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	// A read token, configured in a file; dev adds an admin token of its own.
	const readToken = "hst_console-read-token"
	sum := sha256.Sum256([]byte(readToken))
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hookstream.yaml")
	if err := os.WriteFile(cfg, []byte("log: {level: warn, format: json}\nadmin:\n  tokens: [\"read:"+hex.EncodeToString(sum[:])+"\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	adminAddr := testenv.FreeAddr(t)
	inbox := testenv.FreeAddr(t)
	d := &devInstance{t: t, bin: testenv.Binary(t, "../cmd/hookstream", false), dir: dir, admin: "http://" + adminAddr,
		args: []string{"--config", cfg, "--admin-addr", adminAddr, "--kafka-addr", testenv.FreeAddr(t), "--inbox-addr", inbox,
			"--gateway-addr", testenv.FreeAddr(t), "--data-dir", filepath.Join(dir, "data")}}
	d.start()
	t.Cleanup(d.stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hookstream dev output:\n%s", d.out)
		}
	})

	// The console's own headers.
	resp, err := http.Get(d.admin + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); csp != console.Policy {
		t.Fatalf("GET /ui/: Content-Security-Policy %q, want %q", csp, console.Policy)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900), chromedp.UserDataDir(filepath.Join(dir, "chromium")))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(cancelCtx)
	// Confirmation dialogs (replay, rotate) are accepted.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	// fail ends the test with what the page shows.
	fail := func(what string, err error) {
		t.Helper()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		body, _ := chromedp.Run(pctx, chromedp.Text(chromedp.CSS("main")))
		t.Fatalf("%s: %v\npage: %s", what, err, body)
	}
	run := func(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := chromedp.Do(tctx, steps...); err != nil {
			fail(what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		s, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			fail("read "+sel, err)
		}
		return s
	}
	shot := func(name string) {
		t.Helper()
		run("settle", 5*time.Second, chromedp.Sleep(300*time.Millisecond))
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
		if err != nil {
			fail("screenshot "+name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	signIn := func(token string) {
		t.Helper()
		run("sign in", 20*time.Second,
			chromedp.WaitVisible(chromedp.ID("#token")),
			chromedp.SendKeys(chromedp.ID("#token"), token),
			chromedp.Click(chromedp.CSS(`#signin button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("#bar")))
	}

	// Sign in with the admin token; the overview streams.
	run("open the console", 30*time.Second, chromedp.Navigate(d.admin+"/ui/"), chromedp.WaitVisible(chromedp.ID("#signin")))
	shot("sign-in")
	signIn(d.token)
	run("overview streams", 15*time.Second, chromedp.WaitVisible(chromedp.ID("#card-events")))

	// A subscription through the form, with a filter and a format; a bad
	// URL first, whose error shows next to the field.
	run("form refuses a bad URL", 20*time.Second,
		chromedp.Navigate(d.admin+"/ui/#/subscriptions/new"),
		chromedp.WaitVisible(chromedp.ID("#subscription-form")),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "orders"),
		chromedp.SendKeys(chromedp.CSS(`input[name="url"]`), "not a url"),
		chromedp.Click(chromedp.ID("#save")),
		chromedp.WaitVisible(chromedp.CSS(`.field-error[data-field="url"]:not(:empty)`)))
	if urlError := text(`.field-error[data-field="url"]`); urlError == "" {
		t.Fatal("no error next to the URL field")
	}
	shot("subscription-form-error")
	run("create a subscription", 20*time.Second,
		chromedp.SetValue(chromedp.CSS(`input[name="url"]`), "http://"+inbox+"/orders"),
		chromedp.SendKeys(chromedp.CSS(`input[name="filter.types"]`), "order.failed"),
		chromedp.Click(chromedp.CSS(`input[name="filter.levels"][value="error"]`)),
		chromedp.Click(chromedp.ID("#add-where")),
		chromedp.SendKeys(chromedp.CSS(".w-path"), "order.amount"),
		chromedp.SetValue(chromedp.CSS(".w-op"), "gt"),
		chromedp.SendKeys(chromedp.CSS(".w-value"), "100"),
		chromedp.SetValue(chromedp.CSS(`select[name="payload.format"]`), "cloudevents"),
		chromedp.SendKeys(chromedp.CSS(`input[name="timeout"]`), "5s"),
		// The live preview shows the request a CloudEvents delivery makes.
		chromedp.WaitVisible(chromedp.Search(`//pre[@id="form-preview"][contains(., "application/cloudevents+json")]`)),
		chromedp.Click(chromedp.ID("#save")),
		chromedp.WaitVisible(chromedp.ID("#sub-state")))
	// The secret shows this once.
	if secret := text("#created-secret pre"); !strings.HasPrefix(secret, "whsec_") {
		t.Errorf("the new subscription's secret reads %q", secret)
	}
	subURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	subID := subURL[strings.LastIndex(subURL, "/")+1:]
	code, body := d.api("GET", "/v1/subscriptions/"+subID, "")
	var created struct {
		Filter struct {
			Types  []string `json:"types"`
			Levels []string `json:"levels"`
			Where  []struct {
				Path  string `json:"path"`
				Op    string `json:"op"`
				Value any    `json:"value"`
			} `json:"where"`
		} `json:"filter"`
		Payload struct {
			Format string `json:"format"`
		} `json:"payload"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &created) != nil {
		t.Fatalf("GET the created subscription %q: %d %s", subID, code, body)
	}
	if f := created.Filter; len(f.Types) != 1 || f.Types[0] != "order.failed" || len(f.Levels) != 1 || f.Levels[0] != "error" ||
		len(f.Where) != 1 || f.Where[0].Op != "gt" || f.Where[0].Value != float64(100) || created.Payload.Format != "cloudevents" {
		t.Fatalf("the form made %s", body)
	}
	shot("subscription")

	// Send an event from the page; its delivery shows within 2 s.
	run("open the send view", 10*time.Second, chromedp.Navigate(d.admin+"/ui/#/send"), chromedp.WaitVisible(chromedp.ID("#send-form")),
		chromedp.SetValue(chromedp.ID("#event"), `{"type":"order.failed","level":"error","source":"billing","message":"card declined","order":{"amount":4200}}`))
	sent := time.Now()
	run("send and see the delivery", 10*time.Second,
		chromedp.Click(chromedp.ID("#send")),
		chromedp.WaitVisible(chromedp.CSS(`#follow tr[data-outcome="delivered"]`)))
	t.Logf("delivery shown %v after the click", time.Since(sent).Round(time.Millisecond))
	if took := time.Since(sent); took > 2*time.Second {
		t.Errorf("the delivery showed %v after the click", took)
	}
	shot("send-event")

	// The overview's counters moved.
	run("overview counts the delivery", 10*time.Second,
		chromedp.Navigate(d.admin+"/ui/#/overview"),
		chromedp.WaitVisible(chromedp.CSS(`#totals:not([data-delivered="0"])`)))
	shot("overview")

	// A DLQ record (an endpoint answering 400 is a permanent failure),
	// replayed from the page.
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusBadRequest)
	}))
	t.Cleanup(refusing.Close)
	code, body = d.api("POST", "/v1/subscriptions", fmt.Sprintf(`{"name":"refused","url":%q,"filter":{"types":["invoice.failed"]}}`, refusing.URL))
	var refused struct{ ID string }
	if code != 201 || json.Unmarshal([]byte(body), &refused) != nil {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := d.api("POST", "/v1/events", `{"type":"invoice.failed","level":"error"}`); code != 202 {
		t.Fatalf("publish: %d %s", code, body)
	}
	testenv.Eventually(t, 20*time.Second, func() bool {
		_, body := d.api("GET", "/v1/dlq", "")
		return strings.Contains(body, `"kind": "delivery"`)
	}, "no DLQ record")
	// The failed attempt shows what it sent and what came back.
	run("a failed attempt's request", 20*time.Second,
		chromedp.Navigate(d.admin+"/ui/#/subscriptions/"+refused.ID),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-outcome="permanent"] .show-request`)),
		chromedp.Click(chromedp.CSS(`tr[data-outcome="permanent"] .show-request`)),
		chromedp.WaitVisible(chromedp.CSS("tr.sent pre")))
	if sent := text("tr.sent pre"); !strings.HasPrefix(sent, "POST "+refusing.URL) || !strings.Contains(sent, "Webhook-Signature: v1,") ||
		!strings.Contains(sent, `"invoice.failed"`) {
		t.Errorf("the failed attempt's request reads %q", sent)
	}
	shot("attempts")
	run("replay from the DLQ view", 20*time.Second,
		chromedp.Navigate(d.admin+"/ui/#/dlq"),
		chromedp.WaitVisible(chromedp.CSS("#dlq .pick")),
		chromedp.Click(chromedp.CSS("#dlq .pick")),
		chromedp.Click(chromedp.ID("#replay")),
		chromedp.WaitVisible(chromedp.CSS("#replay-result .notice")))
	if replayed := text("#replay-result"); !strings.Contains(replayed, "Replayed 1 of 1") {
		t.Errorf("replay said %q", replayed)
	}
	shot("dlq")
	run("sources view", 10*time.Second, chromedp.Navigate(d.admin+"/ui/#/sources"), chromedp.WaitVisible(chromedp.ID("#sources")))
	shot("sources")

	// A read token sees everything and no write control.
	run("sign out", 10*time.Second, chromedp.Click(chromedp.ID("#signout")), chromedp.WaitVisible(chromedp.ID("#signin")))
	signIn(readToken)
	for _, view := range []struct{ hash, ready string }{
		{"#/subscriptions", "#subscriptions"},
		{"#/subscriptions/" + subID, "#sub-state"},
		{"#/dlq", "#dlq"},
		{"#/send", "#send-form"},
	} {
		run("read-only "+view.hash, 15*time.Second,
			chromedp.Navigate(d.admin+"/ui/"+view.hash),
			chromedp.WaitVisible(chromedp.CSS(view.ready)),
			chromedp.Sleep(500*time.Millisecond))
		controls, err := chromedp.Run(ctx, chromedp.Evaluate[int](
			`document.querySelectorAll('#new-subscription, #toggle, #edit, #send-test, #rotate, #delete, #replay, .pick, #send').length`))
		if err != nil {
			t.Fatal(err)
		}
		if controls != 0 {
			t.Errorf("%s shows %d write controls to a read token", view.hash, controls)
		}
		if view.hash == "#/subscriptions" {
			if list := text("#subscriptions"); !strings.Contains(list, "orders") || !strings.Contains(list, "closed") {
				t.Errorf("the list lacks the subscription or its breaker's state: %s", list)
			}
		}
	}

	// The stream picks up again after hookstream restarts (the read
	// token is configured, so it stays valid).
	run("overview as reader", 15*time.Second, chromedp.Navigate(d.admin+"/ui/#/overview"), chromedp.WaitVisible(chromedp.ID("#card-events")))
	d.stop()
	run("the stream notices", 20*time.Second, chromedp.WaitVisible(chromedp.Search(`//p[@id="live-state"][contains(., "reconnecting")]`)))
	d.start()
	run("the stream comes back", 60*time.Second, chromedp.WaitVisible(chromedp.Search(`//p[@id="live-state"][starts-with(., "Live")]`)))

	// An unknown token returns to sign-in.
	run("unknown token", 15*time.Second,
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('hookstream.token', 'hst_unknown'), ({})`),
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.ID("#signin")))
}
