//go:build observability

package deploy_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hookstream/hookstream/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestObservability runs a live hookstream through every path its
// dashboard shows (deliveries, retries, holds, bundles, the DLQ, poison,
// an open breaker, a disabled subscription, dropped retries, a failed
// write to Kafka, a Redis outage, inbound webhooks), has a real Prometheus
// (Debian's package) scrape it and evaluate the alert rules, then asks
// that Prometheus every query of the shipped Grafana dashboard: each must
// return series, and each rule must evaluate without error.
func TestObservability(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("HOOKSTREAM_TEST_REQUIRE_TOOLS") == "1" {
			t.Fatal("prometheus is required (HOOKSTREAM_TEST_REQUIRE_TOOLS=1): apt-get install prometheus")
		}
		t.Skip("prometheus not installed")
	}
	input := testenv.Topic("logs")
	group := "obs-" + testenv.Unique()
	dlqTopic := group + ".dlq"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, input, dlqTopic),
		kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	brokers := cluster.ListenAddrs()
	// Produce requests name topics by ID from version 13 on.
	dlqID := topicID(t, brokers, dlqTopic)

	// The first two writes to the DLQ fail as a broker refusing them
	// would; the handler tries again.
	var refusedWrites atomic.Int32
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		pr := req.(*kmsg.ProduceRequest)
		toDLQ := false
		for _, tp := range pr.Topics {
			toDLQ = toDLQ || tp.Topic == dlqTopic || tp.TopicID == dlqID
		}
		if refusedWrites.Load() >= 2 || !toDLQ {
			return nil, nil, false
		}
		refusedWrites.Add(1)
		cluster.KeepControl()
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, tp := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = tp.Topic, tp.TopicID
			for _, p := range tp.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.InvalidRecord.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})

	_, proxy, prefix := testenv.RedisBehindProxy(t)
	admin, gatewayAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`log: {level: info, format: json}
kafka:
  brokers: [%s]
  group: %s
  topic_prefix: %s
  input_topics: [%s]
  commit_interval: 200ms
  fetch_max_wait: 100ms
  session_timeout: 6s
retry:
  rungs: [200ms, 400ms]
delivery:
  allow_networks: [127.0.0.0/8]
  timeout: 2s
  breaker_failures: 2
redis:
  url: redis://%s/0
  key_prefix: %s
  refresh_interval: 500ms
admin:
  addr: %s
gateway:
  addr: %s
shutdown_timeout: 5s
`, strings.Join(brokers, ", "), group, group, input, proxy.Addr(), prefix, admin, gatewayAddr)
	cfgPath := filepath.Join(dir, "hookstream.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	hs := start(t, "hookstream", testenv.Binary(t, "../cmd/hookstream", false), "run", "--config", cfgPath)
	testenv.Eventually(t, 60*time.Second, func() bool { return get("http://"+admin+"/readyz") == http.StatusOK },
		"hookstream not ready:\n%s", hs.End(4096))

	promAddr := testenv.FreeAddr(t)
	rules, err := filepath.Abs("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	promCfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promCfg, []byte(fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: hookstream
    static_configs: [{targets: [%q]}]
`, rules, admin)), 0o600); err != nil {
		t.Fatal(err)
	}
	pl := start(t, "prometheus", prom, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)
	testenv.Eventually(t, 60*time.Second, func() bool { return get("http://"+promAddr+"/-/ready") == http.StatusOK },
		"prometheus not ready:\n%s", pl.End(4096))

	// Endpoints for each path.
	ok := endpoint(t, func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) })
	failing := endpoint(t, func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	gone := endpoint(t, func(w http.ResponseWriter) { w.WriteHeader(http.StatusGone) })
	later := endpoint(t, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	down := "http://" + testenv.FreeAddr(t) // nothing listens: its breaker opens
	api := "http://" + admin
	ids := map[string]string{}
	for _, s := range []struct{ name, url, typ string }{
		{"delivered", ok, "order.created"}, {"exhausted", failing, "order.failed"}, {"breaker", down, "order.failed"},
		{"gone", gone, "user.deleted"}, {"held", later, "order.later"}, {"doomed", failing, "order.doomed"},
	} {
		// The doomed subscription's deliveries walk the ladder for 100
		// attempts, so they are on it when it is deleted, however slow the
		// machine.
		attempts := 3
		if s.name == "doomed" {
			attempts = 100
		}
		body := fmt.Sprintf(`{"name":%q,"url":%q,"max_attempts":%d,"filter":{"types":[%q]}}`, s.name, s.url, attempts, s.typ)
		status, resp := post(t, api+"/v1/subscriptions", body)
		var sub struct{ ID string }
		if status != http.StatusCreated || json.Unmarshal([]byte(resp), &sub) != nil {
			t.Fatalf("create %s: %d %s", s.name, status, resp)
		}
		ids[s.name] = sub.ID
	}
	if status, resp := post(t, api+"/v1/sources", `{"id":"office","name":"office","provider":"none","allow_ips":["127.0.0.0/8"],"enabled":true}`); status != http.StatusCreated {
		t.Fatalf("create source: %d %s", status, resp)
	}
	if status, resp := post(t, api+"/v1/sources", `{"id":"gh","name":"gh","provider":"github","secrets":["s3cr3t-s3cr3t-s3cr3t"],"enabled":true}`); status != http.StatusCreated {
		t.Fatalf("create source: %d %s", status, resp)
	}
	time.Sleep(time.Second) // the worker loads them

	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(input))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	var recs []*kgo.Record
	for i := range 20 {
		for _, typ := range []string{"order.created", "order.failed", "user.deleted", "order.later", "order.doomed"} {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, `{"type":%q,"level":"error","source":"api","message":"m %d"}`, typ, i)})
		}
	}
	recs = append(recs, &kgo.Record{Value: []byte("not json")})
	if err := producer.ProduceSync(t.Context(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		post(t, "http://"+gatewayAddr+"/in/office", `{"type":"door.opened"}`)
		post(t, "http://"+gatewayAddr+"/in/gh", `{"action":"opened"}`) // unsigned: refused
	}
	// The doomed subscription goes while its retries wait: they are
	// dropped. Its own history says when one waits on a rung (the other
	// subscriptions' retries may come first).
	testenv.Eventually(t, 20*time.Second, func() bool {
		return strings.Contains(string(getBody(t, api+"/v1/subscriptions/"+ids["doomed"]+"/attempts")), `"next": "retry:`)
	}, "no retry of the doomed subscription scheduled:\n%s", hs.End(4096))
	req, _ := http.NewRequest(http.MethodDelete, api+"/v1/subscriptions/"+ids["doomed"], nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete the doomed subscription: %v %v", resp, err)
	}
	// Redis goes away for a while.
	time.Sleep(2 * time.Second)
	proxy.Cut()
	testenv.Eventually(t, 20*time.Second, func() bool { return metric(api, "hookstream_redis_up") == 0 },
		"hookstream_redis_up stayed 1 with Redis cut off")
	time.Sleep(2 * time.Second)
	proxy.Restore()
	testenv.Eventually(t, 20*time.Second, func() bool { return metric(api, "hookstream_redis_up") == 1 },
		"hookstream_redis_up stayed 0 with Redis back")
	for _, name := range []string{"hookstream_dlq_writes_total", "hookstream_jobs_dropped_total", "hookstream_retries_held_total",
		"hookstream_subscriptions_disabled_total", "hookstream_produce_errors_total", "hookstream_consumer_lag"} {
		testenv.Eventually(t, 40*time.Second, func() bool { return metric(api, name) > 0 || hasSeries(api, name) },
			"hookstream never reported %s (%d writes refused):\n%s", name, refusedWrites.Load(), hs.End(4096))
	}
	time.Sleep(3 * time.Second) // a few scrapes of the last of it

	dash := readDashboard(t)
	var empty []string
	for _, q := range dash {
		n, err := query(promAddr, q.expr)
		switch {
		case err != nil:
			t.Errorf("panel %q: %s: %v", q.title, q.expr, err)
		case n == 0:
			empty = append(empty, fmt.Sprintf("panel %q: %s", q.title, q.expr))
		}
	}
	if len(empty) > 0 {
		t.Errorf("%d of %d panel queries return no series:\n  %s", len(empty), len(dash), strings.Join(empty, "\n  "))
	}
	groups := ruleHealth(t, promAddr)
	if len(groups) == 0 {
		t.Error("prometheus loaded no rules")
	}
	for name, health := range groups {
		if health != "ok" {
			t.Errorf("rule %s: %s", name, health)
		}
	}
	t.Logf("%d panel queries returned series; %d rules evaluated without error", len(dash), len(groups))
}

// topicID is the ID of topic on brokers.
func topicID(t *testing.T, brokers []string, topic string) [16]byte {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return details[topic].ID
}

// start runs bin with args until the test ends, its output kept.
func start(t *testing.T, name, bin string, args ...string) *testenv.Buffer {
	t.Helper()
	out := &testenv.Buffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output (its end):\n%s", name, out.Tail(4096))
		}
	})
	return out
}

func endpoint(t *testing.T, answer func(http.ResponseWriter)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		answer(w)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func getBody(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func post(t *testing.T, u, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metric sums the samples of name on hookstream's /metrics.
func metric(api, name string) float64 {
	total := 0.0
	for _, line := range metricLines(api, name) {
		var v float64
		fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
		total += v
	}
	return total
}

func hasSeries(api, name string) bool { return len(metricLines(api, name)) > 0 }

func metricLines(api, name string) []string {
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var lines []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			lines = append(lines, line)
		}
	}
	return lines
}

// query evaluates expr now and returns how many series it gives.
func query(addr, expr string) (int, error) {
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	if out.Status != "success" {
		return 0, fmt.Errorf("%s", out.Error)
	}
	return len(out.Data.Result), nil
}

// ruleHealth is the health of each rule Prometheus evaluates, with its
// last error when it has one.
func ruleHealth(t *testing.T, addr string) map[string]string {
	t.Helper()
	var out struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal(getBody(t, "http://"+addr+"/api/v1/rules"), &out); err != nil {
		t.Fatal(err)
	}
	health := map[string]string{}
	for _, g := range out.Data.Groups {
		for _, r := range g.Rules {
			health[r.Name] = strings.TrimSpace(r.Health + " " + r.LastError)
		}
	}
	return health
}
