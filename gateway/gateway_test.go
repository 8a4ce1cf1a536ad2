package gateway_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/stripe/stripe-go/v82/webhook"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/subscription"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

type fixture struct {
	srv      *httptest.Server
	store    *gateway.Store
	sources  *gateway.Sources
	brokers  []string
	topic    string
	mu       sync.Mutex
	outcomes map[string]int
	rdb      redis.UniversalClient
	prefix   string
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, 0) }

// newFixtureWith is newFixture with the gateway's publish timeout.
func newFixtureWith(t *testing.T, publishTimeout time.Duration) *fixture {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	topic := testenv.Topic("inbound")
	brokers := testenv.Kafka(t, 1, topic)
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	f := &fixture{store: gateway.NewStore(rdb, prefix), brokers: brokers, topic: topic, outcomes: map[string]int{}}
	f.sources = gateway.NewSources(f.store, nil)
	f.rdb, f.prefix = rdb, prefix
	g := gateway.New(gateway.Options{Sources: f.sources, Producer: producer, Topic: topic, Redis: rdb, Prefix: prefix, PublishTimeout: publishTimeout,
		Logger: zerolog.Nop(), Observe: func(_, outcome string, _ time.Duration) {
			f.mu.Lock()
			f.outcomes[outcome]++
			f.mu.Unlock()
		}})
	f.srv = httptest.NewServer(g)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) add(t *testing.T, s gateway.Source) {
	t.Helper()
	s.Enabled = true
	if err := f.store.Put(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if err := f.sources.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) post(t *testing.T, path string, header http.Header, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// records reads every record of the topic.
func (f *fixture) records(t *testing.T, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.brokers...), kgo.ConsumeTopics(f.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// TestStripeToKafka: a request Stripe's library signs is published once,
// as a log event hookstream's matcher reads, before the 2xx; the same
// delivery again is answered and not published; a tampered one is
// refused with a problem that shows no secret.
func TestStripeToKafka(t *testing.T) {
	f := newFixture(t)
	const secret = "whsec_gateway_test_secret"
	f.add(t, gateway.Source{ID: "stripe", Name: "Stripe", Provider: "stripe", Secrets: []string{secret}})
	body := []byte(`{"id":"evt_1","type":"charge.failed","data":{"object":{"amount":4200}}}`)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret})
	header := http.Header{"Stripe-Signature": {signed.Header}, "Content-Type": {"application/json"}}

	if code, answer := f.post(t, "/in/stripe", header, string(body)); code != 200 || !strings.Contains(answer, `"id":"evt_1"`) {
		t.Fatalf("first delivery: %d %s", code, answer)
	}
	if code, answer := f.post(t, "/in/stripe", header, string(body)); code != 200 || !strings.Contains(answer, `"duplicate":true`) {
		t.Fatalf("second delivery: %d %s", code, answer)
	}
	code, answer := f.post(t, "/in/stripe", header, string(body)+" ")
	if code != 401 || !strings.Contains(answer, `"reason":"bad_signature"`) || strings.Contains(answer, secret) {
		t.Fatalf("tampered: %d %s", code, answer)
	}
	recs := f.records(t, 1)
	if len(recs) != 1 {
		t.Fatalf("%d records published, want 1", len(recs))
	}
	var ev struct {
		Type, Source, Level, ID, Provider string
		Data                              struct {
			Data struct{ Object struct{ Amount int } }
		}
	}
	if err := json.Unmarshal(recs[0].Value, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "charge.failed" || ev.Source != "inbound/stripe" || ev.Level != "info" || ev.ID != "evt_1" ||
		ev.Provider != "stripe" || ev.Data.Data.Object.Amount != 4200 || string(recs[0].Key) != "evt_1" {
		t.Errorf("published %s (key %s)", recs[0].Value, recs[0].Key)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.outcomes["published"] != 1 || f.outcomes["duplicate"] != 1 || f.outcomes["bad_signature"] != 1 {
		t.Errorf("outcomes %v", f.outcomes)
	}
}

// TestRefusals: each bad request gets its own status and reason, and
// nothing is published.
func TestRefusals(t *testing.T) {
	f := newFixture(t)
	f.add(t, gateway.Source{ID: "gh", Name: "GitHub", Provider: "github", Secrets: []string{"s3cret"}, MaxBodyBytes: 64,
		RateLimit: &gateway.RateLimit{PerSecond: 0.001, Burst: 2}})
	f.add(t, gateway.Source{ID: "office", Name: "office", Provider: "none", AllowIPs: []string{"10.0.0.0/8"}})
	off := gateway.Source{ID: "off", Name: "off", Provider: "github", Secrets: []string{"s"}}
	if err := f.store.Put(context.Background(), off); err != nil { // stored disabled
		t.Fatal(err)
	}
	_ = f.sources.Reload(context.Background())
	sig := func(body string) http.Header {
		return http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(sign("s3cret", body))}, "X-Github-Event": {"push"}}
	}
	tests := []struct {
		name, method, path, body string
		header                   http.Header
		status                   int
		reason                   string
	}{
		{"unknown source", "POST", "/in/nope", "{}", nil, 404, "unknown_source"},
		{"disabled", "POST", "/in/off", "{}", nil, 403, "disabled"},
		{"ip not allowed", "POST", "/in/office", "{}", nil, 403, "ip_not_allowed"},
		{"wrong method", "GET", "/in/gh", "", nil, 405, "method_not_allowed"},
		{"no signature", "POST", "/in/gh", "{}", nil, 401, "missing_signature"},
		{"too large", "POST", "/in/gh", strings.Repeat("x", 65), sig(strings.Repeat("x", 65)), 413, "too_large"},
		{"over the rate limit", "POST", "/in/gh", "{}", sig("{}"), 429, "rate_limited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, f.srv.URL+tt.path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(b), `"reason":"`+tt.reason+`"`) ||
				resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, b, tt.status, tt.reason)
			}
		})
	}
	if recs := f.records(t, 1); len(recs) != 0 {
		t.Errorf("%d records published", len(recs))
	}
}

// TestPublishFailureReleasesTheDelivery: when Kafka cannot take a
// request it is answered 503 and its id is not remembered, so the
// sender's retry is published.
func TestPublishFailureReleasesTheDelivery(t *testing.T) {
	f := newFixture(t)
	f.add(t, gateway.Source{ID: "std", Name: "std", Provider: "standard", Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Topic: "no-such-topic-" + testenv.Unique()})
	now := time.Now()
	body := `{"type":"invoice.paid"}`
	header := http.Header{"Webhook-Id": {"msg_9"}, "Webhook-Timestamp": {strconv.FormatInt(now.Unix(), 10)},
		"Webhook-Signature": {stdSignature("msg_9", now, body)}}
	code, answer := f.post(t, "/in/std", header, body)
	if code != 503 || !strings.Contains(answer, `"reason":"unavailable"`) {
		t.Fatalf("unpublishable: %d %s", code, answer)
	}
	f.add(t, gateway.Source{ID: "std", Name: "std", Provider: "standard", Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}})
	if code, answer := f.post(t, "/in/std", header, body); code != 200 || strings.Contains(answer, "duplicate") {
		t.Fatalf("retry after the outage: %d %s", code, answer)
	}
	if recs := f.records(t, 1); len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
}

// stdSignature signs as a Standard Webhooks sender with the
// specification's test secret.
func stdSignature(id string, at time.Time, body string) string {
	k, _ := credential.ParseKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	s := credential.Signer{Key: k}
	return s.Signatures(id, at, []byte(body))
}

// TestAClaimOfADeadWorkerExpires: a delivery claimed by a worker that died
// while publishing it is answered 409 for a moment, then published when
// the sender sends it again.
func TestAClaimOfADeadWorkerExpires(t *testing.T) {
	f := newFixtureWith(t, 200*time.Millisecond)
	f.add(t, gateway.Source{ID: "gh", Name: "GitHub", Provider: "github", Secrets: []string{"s3cret"}})
	body := `{"action":"opened"}`
	header := http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(sign("s3cret", body))},
		"X-Github-Event": {"pull_request"}, "X-Github-Delivery": {"dead-1"}}
	// What a worker killed between claiming and publishing leaves.
	key := subscription.HashTag(f.prefix) + ":inbound:gh:dead-1"
	if err := f.rdb.Set(context.Background(), key, "pending", 400*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if code, answer := f.post(t, "/in/gh", header, body); code != 409 || !strings.Contains(answer, "in_progress") {
		t.Fatalf("while claimed: %d %s", code, answer)
	}
	testenv.Eventually(t, 3*time.Second, func() bool {
		code, _ := f.post(t, "/in/gh", header, body)
		return code == 200
	}, "the delivery was not published after its claim expired")
	if recs := f.records(t, 1); len(recs) != 1 {
		t.Errorf("%d records, want 1", len(recs))
	}
}

// TestWithoutRedis: when Redis cannot be reached, requests are still
// verified and published, without deduplication, and that is counted.
func TestWithoutRedis(t *testing.T) {
	topic := testenv.Topic("inbound")
	brokers := testenv.Kafka(t, 1, topic)
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	rdb, prefix := testenv.Redis(t)
	store := gateway.NewStore(rdb, prefix)
	if err := store.Put(context.Background(), gateway.Source{ID: "gh", Name: "GitHub", Provider: "github", Secrets: []string{"s3cret"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	sources := gateway.NewSources(store, nil)
	if err := sources.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	down := redis.NewClient(&redis.Options{Addr: testenv.FreeAddr(t), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { down.Close() })
	var mu sync.Mutex
	outcomes := map[string]int{}
	srv := httptest.NewServer(gateway.New(gateway.Options{Sources: sources, Producer: producer, Topic: topic, Redis: down, Prefix: prefix,
		Logger: zerolog.Nop(), Observe: func(_, o string, _ time.Duration) { mu.Lock(); outcomes[o]++; mu.Unlock() }}))
	t.Cleanup(srv.Close)
	body := `{"action":"opened"}`
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/in/gh", strings.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(sign("s3cret", body)))
		req.Header.Set("X-GitHub-Delivery", "same-id")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("without Redis: %d", resp.StatusCode)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if outcomes["published"] != 2 || outcomes["dedup_skipped"] != 2 {
		t.Errorf("outcomes %v: want both published, deduplication skipped twice", outcomes)
	}
}

// TestDedupPath: a provider without delivery ids is deduplicated on the
// JSON path its source names; a path that does not parse is refused.
func TestDedupPath(t *testing.T) {
	if _, err := gateway.Compile(gateway.Source{ID: "x", Name: "x", Provider: "api_key", Secrets: []string{"k"}, DedupPath: "a..b"}); err == nil ||
		!strings.Contains(err.Error(), "dedup_path") {
		t.Fatalf("a bad dedup_path: %v", err)
	}
	f := newFixture(t)
	f.add(t, gateway.Source{ID: "k", Name: "keyed", Provider: "api_key", Secrets: []string{"k3y"}, DedupPath: "event.id"})
	header := http.Header{"X-Api-Key": {"k3y"}}
	for i, want := range []string{`"id":"e-1"`, `"duplicate":true`} {
		if code, answer := f.post(t, "/in/k", header, `{"event":{"id":"e-1"}}`); code != 200 || !strings.Contains(answer, want) {
			t.Fatalf("request %d: %d %s, want %s", i+1, code, answer, want)
		}
	}
}
