package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/hookstream/hookstream/console"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/metrics"
	"github.com/hookstream/hookstream/subscription"
)

// readStats reads the next "stats" event of an event stream.
func readStats(t *testing.T, r *bufio.Reader) Live {
	t.Helper()
	event := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "stats":
			var l Live
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &l); err != nil {
				t.Fatalf("data %q: %v", line, err)
			}
			return l
		}
	}
}

// The stream sends a snapshot a second: counters become rates, the
// queues and subscriptions are there, and the last client to leave
// stops the work.
func TestStatsStream(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	store := subscription.NewStore(rdb, prefix)
	cache := subscription.NewCache(store, subscription.CacheOptions{})
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, s := range []subscription.Subscription{
		{ID: "sub_on", Name: "on", URL: "https://example.com/a", Enabled: true, Secret: secret, MaxAttempts: 5, Timeout: subscription.Duration(time.Second)},
		{ID: "sub_off", Name: "off", URL: "https://example.com/b", Enabled: false, Secret: secret, MaxAttempts: 5, Timeout: subscription.Duration(time.Second)},
	} {
		if err := store.Put(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	if err := cache.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	api := New(Options{Store: store, Cache: cache, Gatherer: reg, Logger: zerolog.Nop(),
		Queues: func(context.Context) (Queues, error) {
			return Queues{InFlight: 99, Rungs: []RungBacklog{{Rung: "1s", Topic: "hookstream.retry.1s", Backlog: 3}},
				DLQ: DLQSize{Topic: "hookstream.dlq", Records: 2}}, nil
		}})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	m.InFlight.Set(7) // read each tick, not with the queues

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/stats/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, ct)
	}
	r := bufio.NewReader(resp.Body)
	first := readStats(t, r)
	if first.InFlight != 7 || first.DLQ != 2 || len(first.Rungs) != 1 || first.Rungs[0].Backlog != 3 {
		t.Errorf("queues: in flight %d, DLQ %d, rungs %+v", first.InFlight, first.DLQ, first.Rungs)
	}
	if first.Subscriptions != 2 || first.DisabledSubscriptions != 1 {
		t.Errorf("subscriptions %d (%d disabled), want 2 (1)", first.Subscriptions, first.DisabledSubscriptions)
	}
	if first.SuccessRatio != nil {
		t.Errorf("success ratio %v before any attempt, want null", *first.SuccessRatio)
	}

	m.EventsConsumed.WithLabelValues("logs").Add(30)
	m.Deliveries.WithLabelValues("delivered", "").Add(9)
	m.Deliveries.WithLabelValues("retryable", "status_503").Add(1)
	m.Inbound.WithLabelValues("stripe", "published").Add(4)
	m.Inbound.WithLabelValues("stripe", "bad_signature").Add(5)
	next := readStats(t, r)
	secs := next.Time.Sub(first.Time).Seconds()
	if next.Totals != (LiveTotals{Events: 30, Attempts: 10, Delivered: 9, Inbound: 4}) {
		t.Errorf("totals %+v", next.Totals)
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if got < want*0.9 || got > want*1.1 {
			t.Errorf("%s = %.2f, want %.2f (the tick took %.3fs)", name, got, want, secs)
		}
	}
	near("events/s", next.EventsPerSecond, 30/secs)
	near("delivered/s", next.DeliveredPerSecond, 9/secs)
	near("inbound/s", next.InboundPerSecond, 4/secs)
	if next.SuccessRatio == nil {
		t.Error("success ratio null after 10 attempts")
	} else if r := *next.SuccessRatio; r < 0.9-1e-9 || r > 0.9+1e-9 {
		t.Errorf("success ratio %v, want 0.9 (9 delivered of 10)", r)
	}

	cancel()
	testenv.Eventually(t, 3*time.Second, func() bool {
		api.live.mu.Lock()
		defer api.live.mu.Unlock()
		return api.live.stop == nil && len(api.live.streams) == 0
	}, "the loop still runs after its last stream left")

	// Streams that come and go start and stop loops; each new one counts
	// from its own first snapshot (the race detector watches them).
	for range 3 {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/stats/stream", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if l := readStats(t, bufio.NewReader(resp.Body)); l.Totals.Events != 30 {
			t.Errorf("a new stream's first snapshot counts %v events, want 30", l.Totals.Events)
		}
		resp.Body.Close()
	}
}

func TestSession(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	const adminTok, readTok = "hst_admin-secret", "hst_read-secret"
	newServer := func(tokens map[TokenHash]string) *httptest.Server {
		srv := httptest.NewServer(New(Options{Store: subscription.NewStore(rdb, prefix), Logger: zerolog.Nop(), Tokens: tokens,
			GatewayURL: "http://127.0.0.1:8082"}))
		t.Cleanup(srv.Close)
		return srv
	}
	open := newServer(nil)
	closed := newServer(map[TokenHash]string{HashToken(adminTok): ScopeAdmin, HashToken(readTok): ScopeRead})
	tests := []struct {
		name   string
		srv    *httptest.Server
		token  string
		status int
		want   string
	}{
		{"open API", open, "", 200, `{"gateway":"http://127.0.0.1:8082","open":true,"scope":"admin"}`},
		{"admin token", closed, adminTok, 200, `{"gateway":"http://127.0.0.1:8082","open":false,"scope":"admin"}`},
		{"read token", closed, readTok, 200, `{"gateway":"http://127.0.0.1:8082","open":false,"scope":"read"}`},
		{"unknown token", closed, "hst_guess", 401, ""},
		{"no token", closed, "", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tt.srv.URL+"/v1/session", nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, b)
			}
			if tt.want == "" {
				return
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			norm, _ := json.Marshal(got)
			if string(norm) != tt.want {
				t.Errorf("body %s, want %s", norm, tt.want)
			}
		})
	}
}

// The console is served to anyone (it holds no data), with its security
// headers; the API it calls still needs the token.
func TestConsoleServed(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	srv := httptest.NewServer(New(Options{Store: subscription.NewStore(rdb, prefix), Logger: zerolog.Nop(),
		Tokens: map[TokenHash]string{HashToken("hst_x"): ScopeAdmin}}))
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		path, status, contentType, contains string
	}{
		{"/ui/", "200", "text/html; charset=utf-8", `<script type="module" src="app.js">`},
		{"/ui/app.js", "200", "text/javascript; charset=utf-8", "/v1/stats/stream"},
		{"/ui/app.css", "200", "text/css; charset=utf-8", ":root"},
		{"/ui/missing.js", "404", "", ""},
		{"/", "302", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := client.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := resp.Status[:3]; got != tt.status {
				t.Fatalf("status %s, want %s", resp.Status, tt.status)
			}
			if tt.status == "302" {
				if loc := resp.Header.Get("Location"); loc != "/ui/" {
					t.Errorf("Location %q, want /ui/", loc)
				}
				return
			}
			if tt.contentType != "" && resp.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.contentType)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); tt.status == "200" && csp != console.Policy {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if !strings.Contains(string(b), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
		})
	}
}
