//go:build faults

package reliability

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/retry"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func scale() int {
	if n, err := strconv.Atoi(os.Getenv("HOOKSTREAM_FAULT_SCALE")); err == nil && n > 0 {
		return n
	}
	return 1
}

// binary is hookstream built with the faults tag, which lets a test set
// its clock off (HOOKSTREAM_FAULT_CLOCK_SKEW).
func binary(t *testing.T) string { return testenv.Binary(t, "../cmd/hookstream", false, "faults") }

func freeAddr(t testing.TB) string { return testenv.FreeAddr(t) }

// broker is the Kafka the test runs against, and how to restart it.
type broker struct {
	brokers []string
	name    string
	restart func(t *testing.T, down time.Duration)
}

// newBroker returns the real broker of HOOKSTREAM_TEST_KAFKA, or a kfake
// cluster with a data directory so that it can be restarted.
func newBroker(t *testing.T, partitions int32, topic string) *broker {
	t.Helper()
	if addr := os.Getenv("HOOKSTREAM_TEST_KAFKA"); addr != "" {
		brokers := testenv.Kafka(t, partitions, topic)
		_, port, _ := net.SplitHostPort(addr)
		return &broker{brokers: brokers, name: "Apache Kafka " + kafkaVersion(t), restart: func(t *testing.T, down time.Duration) {
			t.Helper()
			run := func(arg string) {
				cmd := exec.Command("../deploy/local/kafka.sh", arg)
				cmd.Env = append(os.Environ(), "KAFKA_PORT="+port)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("kafka.sh %s: %v\n%s", arg, err, out)
				}
			}
			run("stop")
			time.Sleep(down)
			run("start")
		}}
	}
	addr := freeAddr(t)
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	dir := t.TempDir()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dir), kfake.GroupMinSessionTimeout(500 * time.Millisecond)}
	c, err := kfake.NewCluster(append(opts, kfake.SeedTopics(partitions, topic))...)
	if err != nil {
		t.Fatal(err)
	}
	b := &broker{brokers: c.ListenAddrs(), name: "kfake"}
	var mu sync.Mutex
	t.Cleanup(func() { mu.Lock(); c.Close(); mu.Unlock() })
	b.restart = func(t *testing.T, down time.Duration) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		c.Close()
		time.Sleep(down)
		var err error
		for range 50 { // the port may take a moment to be free again
			if c, err = kfake.NewCluster(opts...); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("restart kfake: %v", err)
	}
	return b
}

func kafkaVersion(t *testing.T) string {
	b, err := os.ReadFile("../deploy/local/pom.xml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "<kafka.version>")
	j := strings.Index(s, "</kafka.version>")
	if i < 0 || j < i {
		return "?"
	}
	return s[i+len("<kafka.version>") : j]
}

// setup is one fault test's world: broker, Redis, config for hookstream.
type setup struct {
	t      *testing.T
	broker *broker
	input  string
	redis  string
	prefix string
	group  string
	dir    string
	// breakerFailures sets delivery.breaker_failures (0: no breaker).
	breakerFailures int
	// redisExtra is more of the redis section, indented.
	redisExtra string
	// gateway, when set, serves the inbound gateway of every process
	// started on this address.
	gateway string

	mu    sync.Mutex
	procs []*proc // every process started, for diagnostics
}

func newSetup(t *testing.T, partitions int32) *setup {
	t.Helper()
	input := testenv.Topic("logs")
	b := newBroker(t, partitions, input)
	rdb, prefix := testenv.Redis(t)
	url := "redis://" + rdb.(*redis.Client).Options().Addr + "/0"
	return &setup{t: t, broker: b, input: input, redis: url, prefix: prefix,
		group: "hs-" + testenv.Unique(), dir: logDir(t)}
}

// logDir holds the configs and logs of a test's processes. With
// HOOKSTREAM_FAULT_KEEP=1 it is kept and named in the test log.
func logDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("HOOKSTREAM_FAULT_KEEP") != "1" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "hookstream-"+t.Name()+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("process logs kept in %s", dir)
	return dir
}

// proc is one running hookstream process.
type proc struct {
	name  string
	admin string
	cmd   *exec.Cmd
	log   *os.File
	done  chan error
}

// start runs hookstream and waits until it serves /readyz.
func (s *setup) start(name string) *proc {
	s.t.Helper()
	return s.startWith(name, s.redis)
}

// startWith runs hookstream on redisURL with env added to its
// environment.
func (s *setup) startWith(name, redisURL string, env ...string) *proc {
	s.t.Helper()
	admin := freeAddr(s.t)
	gatewaySection := ""
	if s.gateway != "" {
		gatewaySection = "gateway:\n  addr: " + s.gateway + "\n"
	}
	cfg := fmt.Sprintf(`
log: {level: info, format: json}
kafka:
  brokers: [%s]
  group: %s
  topic_prefix: %s
  input_topics: [%s]
  commit_interval: 200ms
  fetch_max_wait: 100ms
  session_timeout: 2s
retry:
  rungs: [200ms, 400ms, 800ms, 1600ms]
delivery:
  allow_networks: [127.0.0.0/8]
  timeout: 2s
  breaker_failures: %d
redis:
  url: %s
  key_prefix: %s
  refresh_interval: 500ms
%s
admin:
  addr: %s
  pprof: true
shutdown_timeout: 10s
%s`, strings.Join(s.broker.brokers, ", "), s.group, s.group, s.input, s.breakerFailures, redisURL, s.prefix, s.redisExtra, admin, gatewaySection)
	path := filepath.Join(s.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(binary(s.t), "run", "--config", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	p := &proc{name: name, admin: admin, cmd: cmd, log: logf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		err := <-p.done
		p.done <- err
		if s.t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			s.t.Logf("%s log (%d bytes; exit: %v), first 3 KiB:\n%s", name, len(b), err, b[:min(len(b), 3072)])
			if len(b) > 3072 {
				s.t.Logf("%s log, last 3 KiB:\n%s", name, b[max(3072, len(b)-3072):])
			}
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get("http://" + admin + "/healthz"); err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case err := <-p.done:
			p.done <- err
			b, _ := os.ReadFile(logf.Name())
			s.t.Fatalf("%s exited while starting: %v\n%s", name, err, tail(b, 4096))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			time.Sleep(time.Second)
			s.t.Fatalf("%s not serving after 60s", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// kill sends SIGKILL and waits for the process to die.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	err := <-p.done
	p.done <- err
}

// term sends SIGTERM and waits for a clean exit.
func (p *proc) term(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", p.name, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not exit within 60s of SIGTERM", p.name)
	}
	return time.Since(start)
}

// subscribe creates a subscription through the admin API.
func (p *proc) subscribe(t *testing.T, body string) (id, secret string) {
	t.Helper()
	resp, err := http.Post("http://"+p.admin+"/v1/subscriptions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create subscription: %d %s", resp.StatusCode, b)
	}
	var sub struct{ ID, Secret string }
	if err := json.Unmarshal(b, &sub); err != nil {
		t.Fatal(err)
	}
	return sub.ID, sub.Secret
}

func (p *proc) ready(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + p.admin + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// receiver verifies every delivery's signature with the reference
// Standard Webhooks library and records, for each event id, the webhook
// ids it arrived under and how often it was answered 2xx.
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	// fail decides whether to answer 503; nil never fails.
	fail func() bool
	// failFirst answers 503 to the first failFirst attempts of each event.
	failFirst int
	// ignoreTimestamp verifies signatures whatever their timestamp says
	// (a receiver enforcing the tolerance refuses a skewed host's).
	ignoreTimestamp bool
	// hang, when set, holds every request until the client gives up.
	hang bool
	// wantType is the only event type that should arrive. Default "match".
	wantType string

	mu        sync.Mutex
	verifiers map[string]*standardwebhooks.Webhook
	ids       map[string]map[string]bool // event id → webhook ids
	delivered map[string]int             // event id → 2xx answers
	attempts  map[string][]time.Time     // event id → when each verified request came
	requests  int
	bad       []string
	times     []time.Time // of 2xx answers
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t, verifiers: map[string]*standardwebhooks.Webhook{}, ids: map[string]map[string]bool{}, delivered: map[string]int{},
		attempts: map[string][]time.Time{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) trust(subID, secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.mu.Lock()
	rc.verifiers[subID] = wh
	rc.mu.Unlock()
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if rc.hang {
		<-r.Context().Done()
		return
	}
	var env struct {
		Type           string `json:"type"`
		SubscriptionID string `json:"subscription_id"`
		Data           struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &env)
	wid := r.Header.Get("webhook-id")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.requests++
	verify := func(wh *standardwebhooks.Webhook) error { return wh.Verify(body, r.Header) }
	if rc.ignoreTimestamp {
		verify = func(wh *standardwebhooks.Webhook) error { return wh.VerifyIgnoringTimestamp(body, r.Header) }
	}
	if wh := rc.verifiers[env.SubscriptionID]; wh == nil || verify(wh) != nil {
		rc.bad = append(rc.bad, fmt.Sprintf("%s: signature not verified for %q", wid, env.SubscriptionID))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if want := cmp.Or(rc.wantType, "match"); env.Type != want {
		rc.bad = append(rc.bad, fmt.Sprintf("%s: event %s of type %q does not match", wid, env.Data.ID, env.Type))
	}
	if rc.ids[env.Data.ID] == nil {
		rc.ids[env.Data.ID] = map[string]bool{}
	}
	rc.ids[env.Data.ID][wid] = true
	rc.attempts[env.Data.ID] = append(rc.attempts[env.Data.ID], time.Now())
	if rc.fail != nil && rc.fail() || len(rc.attempts[env.Data.ID]) <= rc.failFirst {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rc.delivered[env.Data.ID]++
	rc.times = append(rc.times, time.Now())
}

func (rc *receiver) deliveredCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.delivered)
}

// publish writes n events with ids prefix-0 … prefix-(n-1), perSecond
// of them a second (0: as fast as possible), in the background; isMatch
// says which carry the type "match". It returns the matched ids at once
// and a channel closed when every event is acknowledged, which survives a
// broker outage by retrying.
func publish(t *testing.T, brokers []string, topic, prefix string, n, perSecond int, isMatch func(i int) bool) (map[string]bool, <-chan struct{}) {
	t.Helper()
	return publishWith(t, brokers, topic, prefix, n, perSecond, isMatch, "")
}

// publishWith is publish with extra JSON fields in every event.
func publishWith(t *testing.T, brokers []string, topic, prefix string, n, perSecond int, isMatch func(i int) bool, extra string) (map[string]bool, <-chan struct{}) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.RecordDeliveryTimeout(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	matched := map[string]bool{}
	recs := make([]*kgo.Record, 0, n)
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		typ := "other"
		if isMatch(i) {
			typ = "match"
			matched[id] = true
		}
		recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf(`{"id":%q,"type":%q,"level":"error","source":"fault-test"%s}`, id, typ, extra))})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cl.Close()
		var wg sync.WaitGroup
		start := time.Now()
		for i, r := range recs {
			if perSecond > 0 {
				if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(perSecond))); wait > 0 {
					time.Sleep(wait)
				}
			}
			wg.Add(1)
			cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					t.Errorf("publish: %v", err)
				}
			})
		}
		wg.Wait()
	}()
	return matched, done
}

// maxGap is the longest time between two deliveries.
func (rc *receiver) maxGap() time.Duration {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ts := append([]time.Time(nil), rc.times...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	var gap time.Duration
	for i := 1; i < len(ts); i++ {
		gap = max(gap, ts[i].Sub(ts[i-1]))
	}
	return gap
}

// dlqEvents returns the event ids of the delivery jobs in the DLQ, with
// their reasons; poison records are keyed by their value.
func dlqEvents(t *testing.T, brokers []string, topic string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range dlqRecords(t, brokers, topic) {
		reason, _ := retry.HeaderValue(r, retry.HeaderReason)
		job, err := retry.JobFromRecord(r)
		if err != nil {
			out["poison:"+string(r.Value)] = reason
			continue
		}
		var ev struct{ ID string }
		_ = json.Unmarshal(job.Event, &ev)
		out[ev.ID] = reason
	}
	return out
}

// dlqRecords returns every record of the DLQ.
func dlqRecords(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		k := 0
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r); k++ })
		if k == 0 {
			return out
		}
	}
}

// lag returns the total lag of a consumer group.
func lag(t *testing.T, brokers []string, group string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lags, err := kadm.NewClient(cl).Lag(ctx, group)
	if err != nil {
		return -1
	}
	var total int64
	for _, l := range lags {
		if l.FetchErr != nil || l.DescribeErr != nil {
			return -1
		}
		total += l.Lag.Total()
	}
	return total
}

// logMetrics logs the pipeline's counters of every process still running,
// to tell a delivery stuck on the ladder from one dropped.
func (s *setup) logMetrics(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for _, p := range procs {
		select {
		case err := <-p.done:
			p.done <- err
			t.Logf("%s: exited (%v)", p.name, err)
			continue
		default:
		}
		resp, err := http.Get("http://" + p.admin + "/metrics")
		if err != nil {
			t.Logf("%s: metrics: %v", p.name, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var lines []string
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "hookstream_") && !strings.HasPrefix(line, "hookstream_kafka_") &&
				!strings.Contains(line, "_bucket") && !strings.HasSuffix(line, " 0") {
				lines = append(lines, line)
			}
		}
		t.Logf("%s metrics:\n%s", p.name, strings.Join(lines, "\n"))
	}
}

// result is one row of RELIABILITY.md.
type result struct {
	test, injected   string
	events, matched  int
	lost, duplicates int
	recovery         time.Duration
	broker, command  string
}

func (r result) log(t *testing.T) {
	t.Helper()
	rec := "—"
	if r.recovery > 0 {
		rec = r.recovery.Round(10 * time.Millisecond).String()
	}
	t.Logf("RESULT | %s | %s | %d (%d matched) | %d | %d | %s | %s | %s |", r.test, r.injected, r.events, r.matched,
		r.lost, r.duplicates, rec, r.broker, r.command)
}

// account waits until every matched event was delivered or dead-lettered
// and the groups have no lag, then returns lost and duplicate counts.
func (s *setup) account(t *testing.T, rc *receiver, matched map[string]bool, timeout time.Duration) (lost, dups int, dlq map[string]string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		dlq = dlqEvents(t, s.broker.brokers, s.group+".dlq")
		rc.mu.Lock()
		lost = 0
		for id := range matched {
			if rc.delivered[id] == 0 && dlq[id] == "" {
				lost++
			}
		}
		rc.mu.Unlock()
		if lost == 0 && lag(t, s.broker.brokers, s.group) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s: %d of %d matched events neither delivered nor dead-lettered (group lag %d)",
				timeout, lost, len(matched), lag(t, s.broker.brokers, s.group))
			s.logMetrics(t)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for id := range matched {
		if n := rc.delivered[id]; n > 1 {
			dups += n - 1
		}
		if len(rc.ids[id]) > 1 {
			t.Errorf("event %s arrived under %d webhook ids", id, len(rc.ids[id]))
		}
	}
	if len(rc.bad) > 0 {
		t.Errorf("%d deliveries failed verification: %v", len(rc.bad), rc.bad[:min(3, len(rc.bad))])
	}
	return lost, dups, dlq
}
