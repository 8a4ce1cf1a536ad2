package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/kafkaconn"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// env is one test's Kafka, Redis and config.
type env struct {
	t       *testing.T
	brokers []string
	rdb     redis.UniversalClient
	cfg     config.Config
	input   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	input := testenv.Topic("logs")
	return newEnvOn(t, input, testenv.Kafka(t, 3, input))
}

// newEnvOn is newEnv on brokers that hold the input topic.
func newEnvOn(t *testing.T, input string, brokers []string) *env {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(brokers, input, prefix)
	cfg.Retry.Rungs = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond}
	cfg.Redis.RefreshInterval = 200 * time.Millisecond
	cfg.Delivery.Timeout = 2 * time.Second
	cfg.ShutdownTimeout = 10 * time.Second
	return &env{t: t, brokers: brokers, rdb: rdb, cfg: cfg, input: input}
}

// kafka returns the options of a client that connects as hookstream
// does, with extra.
func (e *env) kafka(extra ...kgo.Opt) []kgo.Opt {
	e.t.Helper()
	opts, err := kafkaconn.Options(e.cfg.Kafka)
	if err != nil {
		e.t.Fatal(err)
	}
	return append(opts, extra...)
}

// instance is one running hookstream.
type instance struct {
	stopOnce sync.Once
	svc      *Service
	reg      *prometheus.Registry
	cancel   context.CancelFunc
	done     chan error
	base     string
}

// start runs a hookstream on the env and stops it at the end of the test.
func (e *env) start() *instance { return e.startWith(nil) }

// startWith is start with options changed by opts.
func (e *env) startWith(opts func(*Options)) *instance {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	o := Options{Config: e.cfg, Logger: zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.InfoLevel),
		Version: "test", Registry: reg, Redis: e.rdb, Listener: ln}
	if opts != nil {
		opts(&o)
	}
	svc, err := New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{svc: svc, reg: reg, cancel: cancel, done: make(chan error, 1), base: "http://" + ln.Addr().String()}
	go func() { in.done <- svc.Run(ctx) }()
	select {
	case <-svc.Ready():
	case err := <-in.done:
		e.t.Fatalf("service stopped while starting: %v", err)
	case <-time.After(30 * time.Second):
		e.t.Fatal("service not ready after 30s")
	}
	e.t.Cleanup(func() { in.stop(e.t) })
	return in
}

// stop shuts the instance down gracefully and waits for it.
func (in *instance) stop(t testing.TB) {
	t.Helper()
	in.stopOnce.Do(func() {
		in.cancel()
		select {
		case err := <-in.done:
			if err != nil {
				t.Errorf("service: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("service did not stop within 60s")
		}
	})
}

func (in *instance) counter(name string, labels ...string) float64 {
	mfs, err := in.reg.Gather()
	if err != nil {
		return 0
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				total += m.GetCounter().GetValue()
			case m.Gauge != nil:
				total += m.GetGauge().GetValue()
			}
		}
	}
	return total
}

// subscribe creates a subscription whose deliveries rc trusts and waits
// until this worker matches with it.
func (in *instance) subscribe(t testing.TB, rc *receiver, body map[string]any) map[string]any {
	t.Helper()
	body["url"] = rc.url()
	before := in.counter("hookstream_subscriptions")
	sub := in.createSub(t, body)
	rc.trust(sub)
	testenv.Eventually(t, 2*time.Second, func() bool { return in.counter("hookstream_subscriptions") > before },
		"subscription %s not loaded by the worker", sub["id"])
	return sub
}

// createSub creates a subscription through the admin API and returns it
// with its secret.
func (in *instance) createSub(t testing.TB, body map[string]any) map[string]any {
	t.Helper()
	status, resp := in.do(t, http.MethodPost, "/v1/subscriptions", body)
	if status != http.StatusCreated {
		t.Fatalf("create subscription: %d %s", status, resp)
	}
	var sub map[string]any
	if err := json.Unmarshal(resp, &sub); err != nil {
		t.Fatal(err)
	}
	return sub
}

func (in *instance) do(t testing.TB, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, in.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// publish writes events to the input topic and waits for the acks.
func (e *env) publish(values ...[]byte) {
	e.t.Helper()
	cl, err := kgo.NewClient(e.kafka(kgo.DefaultProduceTopic(e.input))...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Value: v}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

// waitForGroups waits until the input group and every rung's group are
// stable with members members, each holding partitions: a rebalance
// later would hand records in flight to another member, which delivers
// them again.
func (e *env) waitForGroups(members int) {
	e.t.Helper()
	cl, err := kgo.NewClient(e.kafka()...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	groups := []string{e.cfg.Kafka.Group}
	for _, d := range e.cfg.Retry.Rungs {
		groups = append(groups, e.cfg.RungGroup(d))
	}
	testenv.Eventually(e.t, 30*time.Second, func() bool {
		described, err := adm.DescribeGroups(context.Background(), groups...)
		if err != nil {
			return false
		}
		for _, g := range groups {
			d, ok := described[g]
			if !ok || d.Err != nil || d.State != "Stable" || len(d.Members) != members {
				return false
			}
			for _, m := range d.Members {
				if a, ok := m.Assigned.AsConsumer(); !ok || len(a.Topics) == 0 {
					return false
				}
			}
		}
		return true
	}, "consumer groups %v not stable with %d members", groups, members)
}

// readTopic returns every record of topic written so far.
func (e *env) readTopic(topic string) []*kgo.Record {
	e.t.Helper()
	cl, err := kgo.NewClient(e.kafka(kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r); n++ })
		if n == 0 {
			return out
		}
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// receiver is a webhook endpoint that verifies every signature with the
// reference Standard Webhooks library and records what arrived.
type receiver struct {
	t   testing.TB
	srv *httptest.Server
	// respond chooses the status for a request; nil answers 200.
	respond func(id string, attempt int) int

	mu        sync.Mutex
	secrets   map[string]*standardwebhooks.Webhook // by subscription ID
	attempts  map[string]int                       // webhook-id → requests
	delivered map[string]int                       // webhook-id → 2xx answers
	events    map[string]string                    // webhook-id → data.seq
	arrivals  map[string][]time.Time               // webhook-id → when each request came
	bodies    map[string][]byte                    // webhook-id → the body delivered
	headers   map[string]http.Header               // webhook-id → the headers of the request delivered
	bad       []string
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	rc := &receiver{t: t, secrets: map[string]*standardwebhooks.Webhook{}, attempts: map[string]int{},
		delivered: map[string]int{}, events: map[string]string{}, arrivals: map[string][]time.Time{},
		bodies: map[string][]byte{}, headers: map[string]http.Header{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/hook" }

// failFirst answers 503 to the first n requests of each webhook-id, then 200.
func failFirst(n int) func(string, int) int {
	return func(_ string, attempt int) int {
		if attempt <= n {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
}

func (rc *receiver) trust(sub map[string]any) {
	rc.t.Helper()
	wh, err := standardwebhooks.NewWebhook(sub["secret"].(string))
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.mu.Lock()
	rc.secrets[sub["id"].(string)] = wh
	rc.mu.Unlock()
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var env struct {
		ID             string `json:"id"`
		SubscriptionID string `json:"subscription_id"`
		Data           struct {
			Seq any `json:"seq"`
		} `json:"data"`
	}
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := json.Unmarshal(body, &env); err != nil {
		rc.bad = append(rc.bad, fmt.Sprintf("%s: body not JSON: %v", id, err))
		w.WriteHeader(400)
		return
	}
	wh := rc.secrets[env.SubscriptionID]
	switch {
	case wh == nil:
		rc.bad = append(rc.bad, fmt.Sprintf("%s: unknown subscription %q", id, env.SubscriptionID))
	case wh.Verify(body, r.Header) != nil:
		rc.bad = append(rc.bad, fmt.Sprintf("%s: signature rejected: %v", id, wh.Verify(body, r.Header)))
	case env.ID != id:
		rc.bad = append(rc.bad, fmt.Sprintf("envelope id %s differs from webhook-id %s", env.ID, id))
	}
	rc.attempts[id]++
	rc.arrivals[id] = append(rc.arrivals[id], time.Now())
	status := 200
	if rc.respond != nil {
		status = rc.respond(id, rc.attempts[id])
	}
	if status < 300 {
		rc.delivered[id]++
		rc.events[id] = fmt.Sprint(env.Data.Seq)
		rc.bodies[id] = body
		rc.headers[id] = r.Header.Clone()
	}
	w.WriteHeader(status)
}

func (rc *receiver) snapshot() (attempts, delivered map[string]int, events map[string]string, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return clone(rc.attempts), clone(rc.delivered), clone(rc.events), append([]string(nil), rc.bad...)
}

// requests returns when each request of each webhook-id came.
func (rc *receiver) requests() map[string][]time.Time {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string][]time.Time, len(rc.arrivals))
	for id, at := range rc.arrivals {
		out[id] = append([]time.Time(nil), at...)
	}
	return out
}

// deliveredBodies returns the body delivered under each webhook-id.
func (rc *receiver) deliveredBodies() map[string][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return clone(rc.bodies)
}

func (rc *receiver) deliveredCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.delivered)
}

func clone[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func logEvent(seq int, fields string) []byte {
	return []byte(fmt.Sprintf(`{"seq":%d,%s}`, seq, fields))
}

// logEvents is n log events with seq 0 to n-1 and the same fields, to
// publish in one batch.
func logEvents(n int, fields string) [][]byte {
	events := make([][]byte, n)
	for i := range events {
		events[i] = logEvent(i, fields)
	}
	return events
}
