package admin

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/ingest"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/processor"
	"github.com/hookstream/hookstream/subscription"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

type fixture struct {
	srv   *httptest.Server
	store *subscription.Store
	cache *subscription.Cache // never started: it changes only when the API reloads it
	topic string
	logs  *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	topic := testenv.Topic("logs")
	brokers := testenv.Kafka(t, 1, topic)
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	store := subscription.NewStore(rdb, prefix)
	cache := subscription.NewCache(store, subscription.CacheOptions{})
	logs := &bytes.Buffer{}
	api := New(Options{
		Store: store, Cache: cache, Producer: producer, EventsTopic: topic, Guard: &delivery.Guard{},
		DefaultTimeout: 10 * time.Second, DefaultMaxAttempts: 5, MaxBodyBytes: 4096, RotationWindow: time.Hour,
		Gatherer: prometheus.NewRegistry(), Logger: zerolog.New(logs),
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: store, cache: cache, topic: topic, logs: logs}
}

func (f *fixture) do(t *testing.T, method, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestSubscriptionLifecycle(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "POST", "/v1/subscriptions", `{"name":"errors","url":"https://hooks.example.com/x?token=abc",
		"filter":{"levels":["error"],"sources":["payment-*"],"where":[{"path":"amount","op":"gt","value":10}]},
		"headers":{"Authorization":"Bearer t"}}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var created subscription.Subscription
	if err := json.Unmarshal(body, &created); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(created.Secret, "whsec_") || created.MaxAttempts != 5 || time.Duration(created.Timeout) != 10*time.Second || !created.Enabled {
		t.Errorf("created = %+v", created)
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/subscriptions/"+created.ID {
		t.Errorf("Location = %q", loc)
	}
	if strings.Contains(f.logs.String(), created.Secret) || strings.Contains(f.logs.String(), "token=abc") {
		t.Errorf("logs leak the secret or URL query: %s", f.logs)
	}

	for _, path := range []string{"/v1/subscriptions/" + created.ID, "/v1/subscriptions"} {
		resp, body = f.do(t, "GET", path, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if strings.Contains(string(body), created.Secret) {
			t.Errorf("GET %s shows the secret in clear: %s", path, body)
		}
		if !strings.Contains(string(body), created.ID) {
			t.Errorf("GET %s lacks the subscription: %s", path, body)
		}
	}
	resp, _ = f.do(t, "DELETE", "/v1/subscriptions/"+created.ID, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	resp, _ = f.do(t, "GET", "/v1/subscriptions/"+created.ID, "")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("get after delete: %d", resp.StatusCode)
	}
}

func TestCreateKeepsGivenSecretAndID(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "POST", "/v1/subscriptions", `{"id":"orders-hook","name":"n","url":"https://example.com/h",
		"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","enabled":false,"max_attempts":2,"timeout":"3s"}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got, err := f.store.Get(context.Background(), "orders-hook")
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" || got.Enabled || got.MaxAttempts != 2 || time.Duration(got.Timeout) != 3*time.Second {
		t.Errorf("stored = %+v", got)
	}
	resp, body = f.do(t, "POST", "/v1/subscriptions", `{"id":"orders-hook","name":"n","url":"https://example.com/h"}`)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("duplicate id: %d %s", resp.StatusCode, body)
	}
}

func TestBadRequestsAreProblemDetails(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		ctype  string
		status int
		field  string
	}{
		{"not json", "POST", "/v1/subscriptions", `{"name":`, "", 400, ""},
		{"empty body", "POST", "/v1/subscriptions", ``, "application/json", 400, ""},
		{"unknown field", "POST", "/v1/subscriptions", `{"name":"n","url":"https://e.com","colour":"red"}`, "", 400, ""},
		{"wrong type", "POST", "/v1/subscriptions", `{"name":1,"url":"https://e.com"}`, "", 400, "name"},
		{"two values", "POST", "/v1/subscriptions", `{"name":"n","url":"https://e.com"}{}`, "", 400, ""},
		{"missing name", "POST", "/v1/subscriptions", `{"url":"https://e.com"}`, "", 422, "name"},
		{"bad url", "POST", "/v1/subscriptions", `{"name":"n","url":"not a url"}`, "", 422, "url"},
		{"ftp url", "POST", "/v1/subscriptions", `{"name":"n","url":"ftp://e.com/x"}`, "", 422, "url"},
		{"bad secret", "POST", "/v1/subscriptions", `{"name":"n","url":"https://e.com","secret":"hunter2"}`, "", 422, "secret"},
		{"bad id", "POST", "/v1/subscriptions", `{"id":"a b","name":"n","url":"https://e.com"}`, "", 422, "id"},
		{"attempts", "POST", "/v1/subscriptions", `{"name":"n","url":"https://e.com","max_attempts":0}`, "", 422, "max_attempts"},
		{"bad duration", "POST", "/v1/subscriptions", `{"name":"n","url":"https://e.com","timeout":"soon"}`, "", 400, ""},
		{"bad regex", "POST", "/v1/subscriptions", `{"name":"n","url":"https://e.com","filter":{"where":[{"path":"a","op":"regex","value":"(["}]}}`, "", 422, "filter.where[0].value"},
		{"bad op", "POST", "/v1/subscriptions", `{"name":"n","url":"https://e.com","filter":{"where":[{"path":"a","op":"like","value":"x"}]}}`, "", 422, "filter.where[0].op"},
		{"loopback literal", "POST", "/v1/subscriptions", `{"name":"n","url":"http://127.0.0.1:9000/h"}`, "", 422, "url"},
		{"metadata address", "POST", "/v1/subscriptions", `{"name":"n","url":"http://169.254.169.254/latest"}`, "", 422, "url"},
		{"localhost", "POST", "/v1/subscriptions", `{"name":"n","url":"http://localhost/h"}`, "", 422, "url"},
		{"decimal host", "POST", "/v1/subscriptions", `{"name":"n","url":"http://2130706433/h"}`, "", 422, "url"},
		{"hex host", "POST", "/v1/subscriptions", `{"name":"n","url":"http://0x7f.1/h"}`, "", 422, "url"},
		{"short host", "POST", "/v1/subscriptions", `{"name":"n","url":"http://127.1/h"}`, "", 422, "url"},
		{"octal host", "POST", "/v1/subscriptions", `{"name":"n","url":"http://0177.0.0.1/h"}`, "", 422, "url"},
		{"trailing dot", "POST", "/v1/subscriptions", `{"name":"n","url":"http://127.0.0.1./h"}`, "", 422, "url"},
		{"IPv6 site-local", "POST", "/v1/subscriptions", `{"name":"n","url":"http://[fec0::1]/h"}`, "", 422, "url"},
		{"wrong content type", "POST", "/v1/subscriptions", `{}`, "text/plain", 415, ""},
		{"too large", "POST", "/v1/subscriptions", `{"name":"` + strings.Repeat("x", 5000) + `"}`, "", 413, ""},
		{"unknown subscription", "GET", "/v1/subscriptions/nope", ``, "", 404, ""},
		{"delete unknown", "DELETE", "/v1/subscriptions/nope", ``, "", 404, ""},
		{"unknown route", "GET", "/v1/nothing", ``, "", 404, ""},
		{"wrong method", "PATCH", "/v1/events", `{}`, "", 405, ""},
		{"event not object", "POST", "/v1/events", `[1,2]`, "", 400, ""},
		{"event not json", "POST", "/v1/events", `hello`, "", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.ctype != "" {
				hdr = []string{"Content-Type", tt.ctype}
			}
			resp, body := f.do(t, tt.method, tt.path, tt.body, hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var p Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatalf("body is not a problem: %s", body)
			}
			if p.Status != tt.status || p.Title == "" || p.Detail == "" {
				t.Errorf("problem = %+v", p)
			}
			if tt.field != "" {
				found := false
				for _, fe := range p.Errors {
					found = found || fe.Field == tt.field
				}
				if !found {
					t.Errorf("errors %+v do not name %q", p.Errors, tt.field)
				}
			}
		})
	}
}

func TestPublishEvent(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "POST", "/v1/events", `{"type":"t","level":"error"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var got struct {
		Topic  string `json:"topic"`
		Offset int64  `json:"offset"`
	}
	if err := json.Unmarshal(body, &got); err != nil || got.Topic != f.topic {
		t.Fatalf("response %s: %v", body, err)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "GET", "/healthz", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), "ok") {
		t.Errorf("healthz: %d %s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "GET", "/readyz", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"ready"`) {
		t.Errorf("readyz: %d %s", resp.StatusCode, body)
	}
	resp, _ = f.do(t, "GET", "/metrics", "")
	if resp.StatusCode != 200 {
		t.Errorf("metrics: %d", resp.StatusCode)
	}
}

func TestReadinessDegradesWhileRedisIsDown(t *testing.T) {
	rdb, proxy, prefix := testenv.RedisBehindProxy(t)
	store := subscription.NewStore(rdb, prefix)
	cache := subscription.NewCache(store, subscription.CacheOptions{Refresh: 50 * time.Millisecond, Logger: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); cache.Wait() })
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Options{Store: store, Cache: cache, Logger: zerolog.Nop()}))
	t.Cleanup(srv.Close)
	ready := func() (int, string) {
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := ready(); code != 200 {
		t.Fatalf("readyz with Redis up: %d %s", code, body)
	}
	proxy.Cut()
	testenv.Eventually(t, 3*time.Second, func() bool { code, _ := ready(); return code == http.StatusServiceUnavailable },
		"readyz did not degrade")
	if _, body := ready(); !strings.Contains(body, `"degraded"`) || !strings.Contains(body, "matching with cached subscriptions") {
		t.Errorf("degraded body lacks the reason: %s", body)
	}
	proxy.Restore()
	testenv.Eventually(t, 3*time.Second, func() bool { code, _ := ready(); return code == http.StatusOK }, "readyz did not recover")
}

func TestBearerTokens(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	const adminTok, readTok = "hst_admin-secret", "hst_read-secret"
	api := New(Options{
		Store: subscription.NewStore(rdb, prefix), Gatherer: prometheus.NewRegistry(), Logger: zerolog.Nop(),
		DefaultTimeout: 10 * time.Second, DefaultMaxAttempts: 5,
		Tokens: map[TokenHash]string{HashToken(adminTok): ScopeAdmin, HashToken(readTok): ScopeRead},
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	body := `{"name":"n","url":"https://example.com/h"}`
	tests := []struct {
		name, method, path, token string
		status                    int
		scheme                    string // default "Bearer"
	}{
		{"no token", "GET", "/v1/subscriptions", "", 401, ""},
		{"lower-case scheme", "GET", "/v1/subscriptions", readTok, 200, "bearer"},
		{"upper-case scheme", "GET", "/v1/subscriptions", readTok, 200, "BEARER"},
		{"basic scheme", "GET", "/v1/subscriptions", readTok, 401, "Basic"},
		{"wrong token", "GET", "/v1/subscriptions", "hst_guess", 401, ""},
		{"read token reads", "GET", "/v1/subscriptions", readTok, 200, ""},
		{"read token cannot write", "POST", "/v1/subscriptions", readTok, 403, ""},
		{"read token cannot delete", "DELETE", "/v1/subscriptions/x", readTok, 403, ""},
		{"admin token writes", "POST", "/v1/subscriptions", adminTok, 201, ""},
		{"admin token reads", "GET", "/v1/subscriptions", adminTok, 200, ""},
		{"unknown route still needs a token", "GET", "/v1/nothing", "", 401, ""},
		{"health is open", "GET", "/healthz", "", 200, ""},
		{"metrics are open", "GET", "/metrics", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader
			if tt.method == "POST" {
				r = strings.NewReader(body)
			}
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, r)
			req.Header.Set("Content-Type", "application/json")
			if tt.token != "" {
				req.Header.Set("Authorization", cmp.Or(tt.scheme, "Bearer")+" "+tt.token)
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
			if tt.status == 401 || tt.status == 403 {
				if resp.Header.Get("Content-Type") != "application/problem+json" {
					t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
				}
				if strings.Contains(string(b), "secret") {
					t.Errorf("the answer echoes a token: %s", b)
				}
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestRotateSecret(t *testing.T) {
	f := newFixture(t)
	resp, body := f.do(t, "POST", "/v1/subscriptions", `{"id":"rot","name":"n","url":"https://example.com/h","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, body = f.do(t, "POST", "/v1/subscriptions/rot/rotate-secret", "")
	if resp.StatusCode != 200 {
		t.Fatalf("rotate: %d %s", resp.StatusCode, body)
	}
	var got subscription.Subscription
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if _, err := subscription.DecodeSecret(got.Secret); err != nil || got.Secret == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" {
		t.Errorf("new secret %q: %v", got.Secret, err)
	}
	if len(got.PreviousSecrets) != 1 || strings.Contains(string(body), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
		t.Errorf("the previous secret must be listed, masked: %s", body)
	}
	stored, _ := f.store.Get(context.Background(), "rot")
	if stored.Secret != got.Secret || stored.PreviousSecrets[0].Secret != "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" {
		t.Errorf("stored = %+v", stored)
	}
	if _, body := f.do(t, "GET", "/v1/subscriptions/rot", ""); strings.Contains(string(body), got.Secret) {
		t.Errorf("GET shows the new secret: %s", body)
	}
	resp, _ = f.do(t, "POST", "/v1/subscriptions/rot/rotate-secret", `{"secret":"whsec_dGhpcyBpcyB0aGUgbmV4dCBzZWNyZXQgb2YgMzIgYnl0ZXM="}`)
	if resp.StatusCode != 200 {
		t.Errorf("rotate to a given secret: %d", resp.StatusCode)
	}
	for _, tt := range []struct {
		path, body string
		status     int
	}{
		{"/v1/subscriptions/nope/rotate-secret", "", 404},
		{"/v1/subscriptions/rot/rotate-secret", `{"secret":"hunter2"}`, 422},
		{"/v1/subscriptions/rot/rotate-secret", `{"secret":"whsec_c2hvcnQ="}`, 422},
		{"/v1/subscriptions/rot/rotate-secret", `{"colour":1}`, 400},
	} {
		if resp, body := f.do(t, "POST", tt.path, tt.body); resp.StatusCode != tt.status {
			t.Errorf("POST %s %s: %d, want %d: %s", tt.path, tt.body, resp.StatusCode, tt.status, body)
		}
	}
}

func TestReplaceAndPatch(t *testing.T) {
	f := newFixture(t)
	if resp, body := f.do(t, "POST", "/v1/subscriptions", `{"id":"s1","name":"one","url":"https://example.com/a",
		"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","max_attempts":3,"filter":{"levels":["error"]},"headers":{"X-A":"1"}}`); resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	before, _ := f.store.Get(context.Background(), "s1")

	resp, body := f.do(t, "PATCH", "/v1/subscriptions/s1", `{"enabled":false,"timeout":"3s"}`)
	if resp.StatusCode != 200 || strings.Contains(string(body), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") {
		t.Fatalf("patch: %d %s", resp.StatusCode, body)
	}
	got, _ := f.store.Get(context.Background(), "s1")
	if got.Enabled || time.Duration(got.Timeout) != 3*time.Second || got.Name != "one" || got.MaxAttempts != 3 ||
		len(got.Filter.Levels) != 1 || got.Headers["X-A"] != "1" || got.Secret != before.Secret || !got.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("after patch: %+v", got)
	}

	resp, body = f.do(t, "PUT", "/v1/subscriptions/s1", `{"name":"one, replaced","url":"https://example.com/b"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("put: %d %s", resp.StatusCode, body)
	}
	got, _ = f.store.Get(context.Background(), "s1")
	if got.Name != "one, replaced" || got.URL != "https://example.com/b" || !got.Enabled || got.MaxAttempts != 5 ||
		len(got.Filter.Levels) != 0 || got.Headers != nil || got.Secret != before.Secret || !got.CreatedAt.Equal(before.CreatedAt) {
		t.Errorf("after put (fields left out take their defaults; secret and creation kept): %+v", got)
	}

	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"put unknown", "PUT", "/v1/subscriptions/nope", `{"name":"n","url":"https://e.com"}`, 404, ""},
		{"put other id", "PUT", "/v1/subscriptions/s1", `{"id":"s2","name":"n","url":"https://e.com"}`, 422, "id"},
		{"put missing url", "PUT", "/v1/subscriptions/s1", `{"name":"n"}`, 422, "url"},
		{"patch unknown", "PATCH", "/v1/subscriptions/nope", `{"enabled":true}`, 404, ""},
		{"patch bad regex", "PATCH", "/v1/subscriptions/s1", `{"filter":{"where":[{"path":"a","op":"regex","value":"(["}]}}`, 422, "filter.where[0].value"},
		{"patch secret", "PATCH", "/v1/subscriptions/s1", `{"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`, 400, ""},
		{"patch empty name", "PATCH", "/v1/subscriptions/s1", `{"name":""}`, 422, "name"},
		{"patch blocked url", "PATCH", "/v1/subscriptions/s1", `{"url":"http://10.0.0.1/h"}`, 422, "url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.field != "" && !strings.Contains(string(body), `"field":"`+tt.field+`"`) {
				t.Errorf("problem does not name %s: %s", tt.field, body)
			}
		})
	}
}

// A subscription hookstream disabled keeps why and when through changes
// that leave it disabled, and loses both once enabled again.
func TestDisabledStateClearsOnEnable(t *testing.T) {
	f := newFixture(t)
	if resp, body := f.do(t, "POST", "/v1/subscriptions", `{"id":"s1","name":"one","url":"https://example.com/a"}`); resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	at := time.Unix(1_800_000_000, 0)
	if _, changed, err := f.store.Disable(context.Background(), "s1", subscription.DisabledGone, at); err != nil || !changed {
		t.Fatalf("Disable: %v, %v", changed, err)
	}
	if _, changed, err := f.store.Disable(context.Background(), "s1", subscription.DisabledFailing, at); err != nil || changed {
		t.Fatalf("Disable of a disabled subscription: changed %v, %v", changed, err)
	}
	steps := []struct {
		method, body string
		reason       string // disabled_reason shown after the step
	}{
		{"GET", "", "gone"},
		{"PATCH", `{"name":"renamed"}`, "gone"},
		{"PUT", `{"name":"one","url":"https://example.com/a","enabled":false}`, "gone"},
		{"PATCH", `{"enabled":true}`, ""},
	}
	for _, st := range steps {
		resp, body := f.do(t, st.method, "/v1/subscriptions/s1", st.body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", st.method, st.body, resp.StatusCode, body)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		reason, _ := got["disabled_reason"].(string)
		_, hasAt := got["disabled_at"]
		if reason != st.reason || hasAt != (st.reason != "") || got["enabled"] != (st.reason == "") {
			t.Errorf("after %s %s: enabled %v, disabled_reason %q, disabled_at shown %v", st.method, st.body, got["enabled"], reason, hasAt)
		}
	}
}

// TestStatsListsEachSubscription: GET /v1/stats has a line per stored
// subscription, by ID, and an empty list, not null, when none is stored.
func TestStatsListsEachSubscription(t *testing.T) {
	f := newFixture(t)
	type line struct {
		ID      string `json:"id"`
		Name    string `json:"name"`
		Enabled bool   `json:"enabled"`
	}
	stats := func() []line {
		t.Helper()
		resp, body := f.do(t, "GET", "/v1/stats", "")
		if resp.StatusCode != 200 {
			t.Fatalf("GET /v1/stats: %d %s", resp.StatusCode, body)
		}
		var got struct {
			Subscriptions []line `json:"subscriptions"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Subscriptions == nil {
			t.Fatalf("subscriptions missing or null in %s", body)
		}
		return got.Subscriptions
	}
	if got := stats(); len(got) != 0 {
		t.Fatalf("with none stored: %+v", got)
	}
	want := []line{{"s0", "zulu", true}, {"s1", "alpha", false}, {"s2", "mike", true}}
	for _, i := range []int{2, 0, 1} {
		b, _ := json.Marshal(map[string]any{"id": want[i].ID, "name": want[i].Name, "url": "https://e.com/h", "enabled": want[i].Enabled})
		if resp, body := f.do(t, "POST", "/v1/subscriptions", string(b)); resp.StatusCode != 201 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	if got := stats(); !slices.Equal(got, want) {
		t.Errorf("stats lines = %+v, want %+v", got, want)
	}
}

func TestListPagesAndFilters(t *testing.T) {
	f := newFixture(t)
	for i, name := range []string{"alpha", "beta", "gamma", "delta", "alphabet"} {
		enabled := i%2 == 0
		b, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("s%d", i), "name": name, "url": "https://e.com/h", "enabled": enabled})
		if resp, body := f.do(t, "POST", "/v1/subscriptions", string(b)); resp.StatusCode != 201 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	list := func(query string) ([]string, string) {
		t.Helper()
		resp, body := f.do(t, "GET", "/v1/subscriptions"+query, "")
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", query, resp.StatusCode, body)
		}
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			Next string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range page.Data {
			ids = append(ids, d.ID)
		}
		return ids, page.Next
	}
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		ids, next := list("?limit=2&cursor=" + cursor)
		all = append(all, ids...)
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		cursor = next
	}
	if strings.Join(all, ",") != "s0,s1,s2,s3,s4" {
		t.Errorf("pages gave %v", all)
	}
	if ids, _ := list("?name=ALPHA"); strings.Join(ids, ",") != "s0,s4" {
		t.Errorf("name filter: %v", ids)
	}
	if ids, _ := list("?enabled=false"); strings.Join(ids, ",") != "s1,s3" {
		t.Errorf("enabled filter: %v", ids)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?enabled=maybe"} {
		if resp, body := f.do(t, "GET", "/v1/subscriptions"+q, ""); resp.StatusCode != 400 {
			t.Errorf("GET %s: %d, want 400: %s", q, resp.StatusCode, body)
		}
	}
}

func TestTestDelivery(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	store := subscription.NewStore(rdb, prefix)
	guard, _ := delivery.NewGuard([]string{"127.0.0.0/8"})
	sender := delivery.NewSender(delivery.SenderOptions{Guard: guard, UserAgent: "hookstream/test"})
	t.Cleanup(sender.Close)
	api := httptest.NewServer(New(Options{Store: store, Guard: guard, Sender: sender, Prepare: prepare(t), Logger: zerolog.Nop(),
		DefaultTimeout: 2 * time.Second, DefaultMaxAttempts: 5}))
	t.Cleanup(api.Close)
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wh, _ := standardwebhooks.NewWebhook(secret)
	var mu sync.Mutex
	var verifyErr error
	var gotType string
	seen := func() (string, error) { mu.Lock(); defer mu.Unlock(); return gotType, verifyErr }
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var env struct{ Type string }
		_ = json.Unmarshal(b, &env)
		mu.Lock()
		verifyErr, gotType = wh.Verify(b, r.Header), env.Type
		mu.Unlock()
		w.Header().Set("X-Receiver", "yes")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "thanks")
	}))
	t.Cleanup(recv.Close)
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(api.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if code, m := post("/v1/subscriptions", `{"id":"t1","name":"n","url":"`+recv.URL+`","secret":"`+secret+`","enabled":false}`); code != 201 {
		t.Fatalf("create: %d %v", code, m)
	}
	code, res := post("/v1/subscriptions/t1/test", "")
	if code != 200 || res["outcome"] != "delivered" || res["status"] != 202.0 || res["response_body"] != "thanks" ||
		res["response_headers"].(map[string]any)["X-Receiver"] != "yes" {
		t.Fatalf("test: %d %v", code, res)
	}
	if typ, err := seen(); err != nil || typ != "hookstream.test" {
		t.Errorf("the receiver got type %q, signature: %v", typ, err)
	}
	if code, res = post("/v1/subscriptions/t1/test", `{"event":{"type":"order.paid","amount":3}}`); code != 200 {
		t.Errorf("supplied event: %d %v", code, res)
	}
	if typ, _ := seen(); typ != "order.paid" {
		t.Errorf("supplied event: receiver saw type %q", typ)
	}
	for _, tt := range []struct {
		path, body string
		status     int
	}{
		{"/v1/subscriptions/nope/test", "", 404},
		{"/v1/subscriptions/t1/test", `{"event":[1]}`, 422},
		{"/v1/subscriptions/t1/test", `{"evnt":{}}`, 400},
	} {
		if code, res := post(tt.path, tt.body); code != tt.status {
			t.Errorf("POST %s %s: %d, want %d: %v", tt.path, tt.body, code, tt.status, res)
		}
	}
	recv.Close()
	if code, res := post("/v1/subscriptions/t1/test", ""); code != 200 || res["outcome"] != "retryable" || res["reason"] != "connection" {
		t.Errorf("dead endpoint: %d %v", code, res)
	}
}

// prepare renders and signs deliveries as the pipeline does.
func prepare(t testing.TB) func(*subscription.Compiled, string, []byte, time.Time) (delivery.Request, error) {
	t.Helper()
	events, err := ingest.NewReader(ingest.Options{JSON: event.Locations{Type: []string{"type"}, Level: []string{"level"},
		Source: []string{"source"}, Timestamp: []string{"timestamp"}, Message: []string{"message"}}, MaxBytes: 1 << 20, MaxDepth: 32})
	if err != nil {
		t.Fatal(err)
	}
	return processor.New(processor.Options{Events: events}).Prepare
}

func TestPreview(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	store := subscription.NewStore(rdb, prefix)
	guard, _ := delivery.NewGuard([]string{"127.0.0.0/8"})
	sender := delivery.NewSender(delivery.SenderOptions{Guard: guard, UserAgent: "hookstream/test"})
	t.Cleanup(sender.Close)
	api := httptest.NewServer(New(Options{Store: store, Guard: guard, Sender: sender, Prepare: prepare(t), Logger: zerolog.Nop(),
		DefaultTimeout: 2 * time.Second, DefaultMaxAttempts: 5}))
	t.Cleanup(api.Close)
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(api.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var compact bytes.Buffer
		if json.Compact(&compact, b) != nil {
			return resp.StatusCode, string(b)
		}
		return resp.StatusCode, compact.String()
	}
	const routingKey = "R0UT1NGK3Y00000000000000000secret"
	for _, sub := range []string{
		`{"id":"pd","name":"n","url":"https://events.pagerduty.com/v2/enqueue","payload":{"format":"pagerduty","routing_key":"` + routingKey + `"}}`,
		`{"id":"tpl","name":"n","url":"https://api.example.com/hooks?key=k3y-in-the-query","headers":{"Authorization":"Bearer hdr-s3cret-t0ken"},` +
			`"payload":{"format":"template","method":"PUT","path":"/orders/{{ .order }}","body":"{\"o\":\"{{ .order }}\"}"}}`,
	} {
		if code, body := post("/v1/subscriptions", sub); code != 201 {
			t.Fatalf("create: %d %s", code, body)
		}
	}
	tests := []struct {
		name, path, body string
		status           int
		want, never      []string
	}{
		{"pagerduty", "/v1/subscriptions/pd/preview", `{"event":{"type":"disk.full","level":"critical","source":"db-1"}}`, 200,
			[]string{`"method":"POST"`, `\"event_action\":\"trigger\"`, `\"severity\":\"critical\"`, `R0UT…`}, []string{routingKey, "Webhook-Signature"}},
		{"template", "/v1/subscriptions/tpl/preview", `{"event":{"type":"order.paid","order":"o 1"}}`, 200,
			[]string{`"method":"PUT"`, `"url":"https://api.example.com/orders/o%201?key=…"`, `"Authorization":"Bear…"`, `"Webhook-Signature":"v1,`, `{\"o\":\"o 1\"}`},
			[]string{"k3y-in-the-query", "hdr-s3cret-t0ken"}},
		{"render fails", "/v1/subscriptions/tpl/preview", `{"event":{"type":"order.paid"}}`, 422,
			[]string{`"field":"payload"`, `map has no entry for key \"order\"`}, nil},
		{"not an object", "/v1/subscriptions/pd/preview", `{"event":"x"}`, 422, []string{`"field":"event"`}, nil},
		{"unknown", "/v1/subscriptions/nope/preview", ``, 404, nil, nil},
		{"draft", "/v1/subscriptions/preview", `{"subscription":{"name":"n","url":"https://hooks.example.com/x?token=t0k3n-in-query",` +
			`"payload":{"format":"pagerduty","routing_key":"` + routingKey + `"}},"event":{"type":"disk.full","level":"error"}}`, 200,
			[]string{`"method":"POST"`, `"url":"https://hooks.example.com/x?token=…"`, `\"severity\":\"error\"`, `R0UT…`}, []string{routingKey, "t0k3n-in-query"}},
		{"draft with a sample event", "/v1/subscriptions/preview", `{"subscription":{"name":"n","url":"https://hooks.example.com/x"}}`, 200,
			[]string{`hookstream.test`, `"Webhook-Signature":"v1,`}, nil},
		{"draft without a URL", "/v1/subscriptions/preview", `{"subscription":{"name":"n"}}`, 422, []string{`"field":"subscription.url"`}, nil},
		{"draft with a bad event", "/v1/subscriptions/preview", `{"subscription":{"name":"n","url":"https://hooks.example.com/x"},"event":[1]}`, 422,
			[]string{`"field":"event"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(tt.path, tt.body)
			if code != tt.status {
				t.Fatalf("%d, want %d: %s", code, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("answer lacks %s: %s", w, body)
				}
			}
			for _, n := range tt.never {
				if strings.Contains(body, n) {
					t.Errorf("answer shows %s: %s", n, body)
				}
			}
		})
	}
}

// TestOpenAPIMatchesTheRouter: every route is documented, every
// documented route is served, and the document is what the API serves.
func TestOpenAPIMatchesTheRouter(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	api := New(Options{Gatherer: prometheus.NewRegistry(), Logger: zerolog.Nop()})
	served := map[string]bool{}
	for _, r := range api.routes {
		served[r] = true
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("openapi.json documents %s, which is not served", r)
		}
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(b, openapi) {
		t.Errorf("GET /v1/openapi.json: %d, %d bytes", resp.StatusCode, len(b))
	}
}

// TestWritesApplyToThisInstanceAtOnce: once the API has answered a write,
// the instance that served it matches with the change, without waiting
// for Redis to announce it (the fixture's cache does not listen).
func TestWritesApplyToThisInstanceAtOnce(t *testing.T) {
	f := newFixture(t)
	steps := []struct {
		method, path, body string
		status             int
		check              func(sub *subscription.Compiled, ok bool) bool
	}{
		{"POST", "/v1/subscriptions", `{"id":"sub_now","name":"n","url":"https://example.com/hook"}`, 201,
			func(s *subscription.Compiled, ok bool) bool { return ok && s.Enabled }},
		{"PATCH", "/v1/subscriptions/sub_now", `{"enabled":false}`, 200,
			func(s *subscription.Compiled, ok bool) bool { return ok && !s.Enabled }},
		{"PUT", "/v1/subscriptions/sub_now", `{"name":"n","url":"https://example.com/other"}`, 200,
			func(s *subscription.Compiled, ok bool) bool { return ok && s.URL == "https://example.com/other" }},
		{"POST", "/v1/subscriptions/sub_now/rotate-secret", ``, 200,
			func(s *subscription.Compiled, ok bool) bool { return ok && len(s.Signer.Previous) == 1 }},
		{"DELETE", "/v1/subscriptions/sub_now", ``, 204,
			func(_ *subscription.Compiled, ok bool) bool { return !ok }},
	}
	for _, st := range steps {
		resp, body := f.do(t, st.method, st.path, st.body)
		if resp.StatusCode != st.status {
			t.Fatalf("%s %s: %d %s", st.method, st.path, resp.StatusCode, body)
		}
		if sub, ok := f.cache.Current().Get("sub_now"); !st.check(sub, ok) {
			t.Errorf("%s %s: this instance's cache holds %+v (present %v) right after the answer", st.method, st.path, sub, ok)
		}
	}
}

// TestCredentialsAreMaskedInEveryAnswer: header values and the URL's
// query come back masked from every route, and a subscription read and
// written back whole keeps them.
func TestCredentialsAreMaskedInEveryAnswer(t *testing.T) {
	f := newFixture(t)
	const create = `{"id":"s1","name":"one","url":"https://example.com/in?token=q-s3cr3t",
		"headers":{"Authorization":"Bearer h-s3cr3t-token"}}`
	resp, created := f.do(t, "POST", "/v1/subscriptions", create)
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, created)
	}
	_, got := f.do(t, "GET", "/v1/subscriptions/s1", "")
	_, list := f.do(t, "GET", "/v1/subscriptions", "")
	_, patched := f.do(t, "PATCH", "/v1/subscriptions/s1", `{"name":"renamed"}`)
	for name, body := range map[string][]byte{"create": created, "get": got, "list": list, "patch": patched} {
		if strings.Contains(string(body), "s3cr3t") {
			t.Errorf("%s answer shows a credential: %s", name, body)
		}
	}
	// A client reads the subscription and puts it back with a new name.
	var shown map[string]any
	if err := json.Unmarshal(got, &shown); err != nil {
		t.Fatal(err)
	}
	shown["name"] = "put back"
	body, _ := json.Marshal(map[string]any{"name": shown["name"], "url": shown["url"], "headers": shown["headers"], "secret": shown["secret"]})
	if resp, b := f.do(t, "PUT", "/v1/subscriptions/s1", string(body)); resp.StatusCode != 200 {
		t.Fatalf("put back: %d %s", resp.StatusCode, b)
	}
	stored, _ := f.store.Get(context.Background(), "s1")
	if stored.Name != "put back" || stored.URL != "https://example.com/in?token=q-s3cr3t" || stored.Headers["Authorization"] != "Bearer h-s3cr3t-token" {
		t.Errorf("stored after a masked put = %+v", stored)
	}
	if strings.Contains(f.logs.String(), "s3cr3t") || strings.Contains(f.logs.String(), "/in") {
		t.Errorf("logs show the URL's path or a credential: %s", f.logs)
	}
}

// TestSubscriptionAuth: auth is checked when written, its secrets are
// shown masked and kept when written back as shown, and a merge patch of
// null removes it.
func TestSubscriptionAuth(t *testing.T) {
	f := newFixture(t)
	const secret = "cl1ent-s3cret-value"
	tests := []struct {
		name, body string
		status     int
		field      string
	}{
		{"plain http token url", `{"id":"a1","name":"n","url":"https://api.example.com/in",` +
			`"auth":{"type":"oauth2","token_url":"http://auth.example.com/token","client_id":"c","client_secret":"s"}}`, 422, "auth.token_url"},
		{"blocked token url", `{"id":"a1","name":"n","url":"https://api.example.com/in",` +
			`"auth":{"type":"oauth2","token_url":"https://169.254.169.254/token","client_id":"c","client_secret":"s"}}`, 422, "auth.token_url"},
		{"field of another type", `{"id":"a1","name":"n","url":"https://api.example.com/in","auth":{"type":"bearer","token":"t","key":"k"}}`, 422, "auth.key"},
		{"header set twice", `{"id":"a1","name":"n","url":"https://api.example.com/in","headers":{"Authorization":"Bearer x"},` +
			`"auth":{"type":"bearer","token":"t"}}`, 422, "headers.Authorization"},
		{"unknown field", `{"id":"a1","name":"n","url":"https://api.example.com/in","auth":{"type":"bearer","tokn":"t"}}`, 400, ""},
		{"oauth2", `{"id":"a1","name":"n","url":"https://api.example.com/in",` +
			`"auth":{"type":"oauth2","token_url":"https://auth.example.com/token","client_id":"c","client_secret":"` + secret + `","scopes":["a"]}}`, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "POST", "/v1/subscriptions", tt.body)
			if resp.StatusCode != tt.status || tt.field != "" && !strings.Contains(string(body), `"field":"`+tt.field) {
				t.Fatalf("%d, want %d naming %q: %s", resp.StatusCode, tt.status, tt.field, body)
			}
		})
	}
	_, body := f.do(t, "GET", "/v1/subscriptions/a1", "")
	var shown map[string]any
	_ = json.Unmarshal(body, &shown)
	if auth, _ := shown["auth"].(map[string]any); strings.Contains(string(body), secret) || auth["client_secret"] != "cl1e…" {
		t.Fatalf("GET shows %s", body)
	}
	shown["name"] = "renamed"
	delete(shown, "created_at")
	delete(shown, "updated_at")
	b, _ := json.Marshal(shown)
	if resp, body := f.do(t, "PUT", "/v1/subscriptions/a1", string(b)); resp.StatusCode != 200 {
		t.Fatalf("PUT as shown: %d %s", resp.StatusCode, body)
	}
	if stored, _ := f.store.Get(context.Background(), "a1"); stored.Auth == nil || stored.Auth.ClientSecret != secret || stored.Name != "renamed" {
		t.Fatalf("stored after a PUT as shown: %+v", stored.Auth)
	}
	if resp, body := f.do(t, "PATCH", "/v1/subscriptions/a1", `{"auth":null}`); resp.StatusCode != 200 {
		t.Fatalf("PATCH auth null: %d %s", resp.StatusCode, body)
	}
	if stored, _ := f.store.Get(context.Background(), "a1"); stored.Auth != nil {
		t.Errorf("auth after PATCH null: %+v", stored.Auth)
	}
	if strings.Contains(f.logs.String(), secret) {
		t.Errorf("the logs show the secret: %s", f.logs)
	}
}

// TestSources: sources are created with their secret shown once, listed
// masked, kept when written back as shown, rotated and deleted; a bad one
// is refused naming the field.
func TestSources(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	store := gateway.NewStore(rdb, prefix)
	cache := gateway.NewSources(store, nil)
	api := httptest.NewServer(New(Options{Store: subscription.NewStore(rdb, prefix), Sources: store, SourceCache: cache, Logger: zerolog.Nop()}))
	t.Cleanup(api.Close)
	do := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, api.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	for _, tt := range []struct {
		body, field string
	}{
		{`{"id":"gh","name":"GitHub","provider":"github"}`, "secrets"},
		{`{"id":"x","name":"x","provider":"fax"}`, "provider"},
		{`{"id":"x","name":"x","provider":"hmac","secrets":["k"]}`, "signature_header"},
		{`{"id":"x","name":"x","provider":"none"}`, "allow_ips"},
		{`{"id":"x","name":"x","provider":"github","secrets":["k"],"key_query":"q"}`, "key_query"},
	} {
		code, m := do("POST", "/v1/sources", tt.body)
		if code != 422 || !strings.Contains(fmt.Sprint(m["errors"]), "field:"+tt.field) {
			t.Errorf("POST %s: %d %v, want 422 naming %s", tt.body, code, m, tt.field)
		}
	}
	code, m := do("POST", "/v1/sources", `{"id":"std","name":"Standard","provider":"standard"}`)
	secrets, _ := m["secrets"].([]any)
	if code != 201 || len(secrets) != 1 || !strings.HasPrefix(secrets[0].(string), "whsec_") || strings.Contains(secrets[0].(string), "…") {
		t.Fatalf("create: %d %v", code, m)
	}
	made := secrets[0].(string)
	if _, ok := cache.Get("std"); !ok {
		t.Error("the source is not live on this instance")
	}
	code, m = do("GET", "/v1/sources/std", "")
	if code != 200 || strings.Contains(fmt.Sprint(m), made) {
		t.Fatalf("get shows the secret: %v", m)
	}
	m["name"] = "Renamed"
	b, _ := json.Marshal(m)
	if code, m := do("PUT", "/v1/sources/std", string(b)); code != 200 {
		t.Fatalf("PUT as shown: %d %v", code, m)
	}
	if stored, _ := store.Get(context.Background(), "std"); stored.Name != "Renamed" || len(stored.Secrets) != 1 || stored.Secrets[0] != made {
		t.Fatalf("after PUT as shown: %+v", stored)
	}
	code, m = do("POST", "/v1/sources/std/rotate-secret", "")
	if stored, _ := store.Get(context.Background(), "std"); code != 200 || len(stored.Secrets) != 2 || stored.Secrets[1] != made {
		t.Fatalf("rotate: %d %v; stored %v", code, m, stored.Secrets)
	}
	if code, _ := do("POST", "/v1/sources", `{"id":"gh","name":"GitHub","provider":"github","secrets":["from-github"]}`); code != 201 {
		t.Fatalf("create github: %d", code)
	}
	if code, m := do("POST", "/v1/sources/gh/rotate-secret", ""); code != 422 {
		t.Errorf("rotating a GitHub source without the new secret: %d %v", code, m)
	}
	code, m = do("GET", "/v1/sources", "")
	if data, _ := m["data"].([]any); code != 200 || len(data) != 2 || strings.Contains(fmt.Sprint(m), "from-github") {
		t.Errorf("list: %d %v", code, m)
	}
	if code, _ := do("DELETE", "/v1/sources/gh", ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _ := do("GET", "/v1/sources/gh", ""); code != 404 {
		t.Errorf("get after delete: %d", code)
	}
}
