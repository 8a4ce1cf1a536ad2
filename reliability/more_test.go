//go:build faults

package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/retry"
	"github.com/hookstream/hookstream/subscription"
)

// TestRedisOutage cuts hookstream off from Redis for 10s mid-stream:
// matching goes on from the cache, /readyz reports degraded with the
// reason, and it recovers by itself, picking up a subscription created
// during the outage.
func TestRedisOutage(t *testing.T) {
	s := newSetup(t, 6)
	direct, _ := testenv.Redis(t)
	proxy := testenv.NewProxy(t, direct.(*redis.Client).Options().Addr)
	p := s.startWith("redis-outage", "redis://"+proxy.Addr()+"/0")
	rc := newReceiver(t)
	id, secret := p.subscribe(t, `{"name":"before","url":"`+rc.srv.URL+`","filter":{"types":["match"]}}`)
	rc.trust(id, secret)
	n := 6000 * scale()
	matched, published := publish(t, s.broker.brokers, s.input, "ro", n, 500, func(i int) bool { return i%2 == 0 })

	for rc.deliveredCount() < len(matched)/5 {
		time.Sleep(5 * time.Millisecond)
	}
	proxy.Cut()
	cut := time.Now()
	testenv.Eventually(t, 10*time.Second, func() bool { code, _ := p.ready(t); return code == http.StatusServiceUnavailable },
		"readyz did not report the outage")
	degradedAfter := time.Since(cut)
	if _, body := p.ready(t); !strings.Contains(body, `"degraded"`) || !strings.Contains(body, "redis") {
		t.Errorf("degraded readyz lacks the reason: %s", body)
	}
	// Deliveries go on during the outage.
	during := rc.deliveredCount()
	// A subscription created while this worker cannot reach Redis.
	rc2 := newReceiver(t)
	rc2.wantType = "late"
	late := subscription.Subscription{ID: "sub_late_" + testenv.Unique(), Name: "during the outage", URL: rc2.srv.URL,
		Enabled: true, Filter: subscription.Filter{Types: []string{"late"}}, Secret: subscription.NewSecret(),
		MaxAttempts: 5, Timeout: subscription.Duration(2 * time.Second)}
	if err := subscription.NewStore(direct, s.prefix).Create(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	rc2.trust(late.ID, late.Secret)
	for time.Since(cut) < 10*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	if rc.deliveredCount() == during {
		t.Error("no delivery while Redis was down: matching did not go on from the cache")
	}
	proxy.Restore()
	restored := time.Now()
	testenv.Eventually(t, 30*time.Second, func() bool { code, _ := p.ready(t); return code == http.StatusOK },
		"readyz did not recover")
	readyAfter := time.Since(restored)
	<-published
	lateIDs := publishTyped(t, s.broker.brokers, s.input, "late", 20)
	testenv.Eventually(t, 30*time.Second, func() bool { return rc2.deliveredCount() == len(lateIDs) },
		"subscription created during the outage got %d of %d events", rc2.deliveredCount(), len(lateIDs))
	lost, dups, _ := s.account(t, rc, matched, 3*time.Minute)
	if lost != 0 {
		t.Errorf("%d matched events lost", lost)
	}
	result{command: "make test-faults RUN=TestRedisOutage", test: "Redis outage",
		injected: "Redis unreachable for 10s mid-stream; a subscription created meanwhile",
		events:   n, matched: len(matched), lost: lost, duplicates: dups, recovery: readyAfter, broker: s.broker.name}.log(t)
	t.Logf("readyz degraded %s after the cut; %d deliveries during the outage; ready again %s after Redis came back",
		degradedAfter.Round(time.Millisecond), rc.deliveredCount()-during, readyAfter.Round(time.Millisecond))
}

// publishTyped writes n events of type typ and returns their ids.
func publishTyped(t *testing.T, brokers []string, topic, typ string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%s-%d", typ, testenv.Unique(), i)
		ids = append(ids, id)
		v := fmt.Sprintf(`{"id":%q,"type":%q}`, id, typ)
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestScaleOutAndRebalance runs three instances over six partitions, then
// stops one with SIGTERM and, later, one with SIGKILL, mid-stream.
func TestScaleOutAndRebalance(t *testing.T) {
	s := newSetup(t, 6)
	rc := newReceiver(t)
	procs := []*proc{s.start("scale-0"), s.start("scale-1"), s.start("scale-2")}
	id, secret := procs[0].subscribe(t, `{"name":"scale","url":"`+rc.srv.URL+`","filter":{"types":["match"]}}`)
	rc.trust(id, secret)
	n := 3000 * scale()

	phase := func(name string, stop func() string) (lost, dups int, detail string) {
		before := rc.deliveredCount()
		matched, published := publish(t, s.broker.brokers, s.input, name, n, 1000, func(i int) bool { return i%2 == 0 })
		testenv.Eventually(t, time.Minute, func() bool { return rc.deliveredCount()-before >= len(matched)/3 }, "phase %s stalled", name)
		detail = stop()
		<-published
		lost, dups, _ = s.account(t, rc, matched, 3*time.Minute)
		if lost != 0 {
			t.Errorf("%s: %d matched events lost", name, lost)
		}
		result{command: "make test-faults RUN=TestScaleOutAndRebalance", test: "rebalance, " + name,
			injected: "3 instances, 6 partitions; one stopped with " + name + " mid-stream", events: n, matched: len(matched),
			lost: lost, duplicates: dups, broker: s.broker.name}.log(t)
		return lost, dups, detail
	}
	_, _, detail := phase("SIGTERM", func() string {
		took := procs[1].term(t)
		return fmt.Sprintf("SIGTERM: drained, committed and exited in %s", took.Round(time.Millisecond))
	})
	t.Log(detail)
	phase("SIGKILL", func() string { procs[2].kill(t); return "" })
}

// TestSlowAndDeadEndpoints: beside a healthy endpoint, one hangs past its
// timeout and one refuses connections. At a steady offered load the
// healthy one keeps at least 80% of its solo throughput; the figure at
// saturation (as fast as the broker takes events) is reported too. The
// failing ones walk the ladder into the DLQ with the right headers.
func TestSlowAndDeadEndpoints(t *testing.T) {
	s := newSetup(t, 6)
	s.breakerFailures = 5
	p := s.start("endpoints")
	healthy := newReceiver(t)
	hid, hsecret := p.subscribe(t, `{"name":"healthy","url":"`+healthy.srv.URL+`","filter":{"types":["match"]}}`)
	healthy.trust(hid, hsecret)
	n := 10000 * scale()
	const rate = 4000 // events/s offered in the steady runs, half of them matching

	// measure returns the healthy endpoint's deliveries/s over n events
	// published at perSecond (0: as fast as possible).
	measure := func(prefix string, perSecond int) float64 {
		before := healthy.deliveredCount()
		start := time.Now()
		matched, published := publish(t, s.broker.brokers, s.input, prefix, n, perSecond, func(i int) bool { return i%2 == 0 })
		<-published
		testenv.Eventually(t, 3*time.Minute, func() bool { return healthy.deliveredCount()-before == len(matched) },
			"healthy endpoint got %d of %d", healthy.deliveredCount()-before, len(matched))
		return float64(len(matched)) / time.Since(start).Seconds()
	}
	soloSteady, soloBurst := measure("solo-steady", rate), measure("solo-burst", 0)

	hanging := newReceiver(t)
	hanging.hang = true
	sid, ssecret := p.subscribe(t, `{"name":"hanging","url":"`+hanging.srv.URL+`","timeout":"500ms","filter":{"types":["match"]}}`)
	hanging.trust(sid, ssecret)
	did, _ := p.subscribe(t, `{"name":"dead","url":"`+closedURL(t)+`","filter":{"types":["match"]}}`)
	mixedSteady, mixedBurst := measure("mixed-steady", rate), measure("mixed-burst", 0)
	steady, burst := mixedSteady/soloSteady, mixedBurst/soloBurst
	t.Logf("healthy endpoint at %d events/s offered: %.0f deliveries/s alone, %.0f beside a hanging and a dead one (%.0f%%)",
		rate, soloSteady, mixedSteady, 100*steady)
	t.Logf("healthy endpoint at saturation: %.0f deliveries/s alone, %.0f beside them (%.0f%%)", soloBurst, mixedBurst, 100*burst)
	if steady < 0.8 {
		t.Errorf("at a steady load the healthy endpoint fell to %.0f%% of its solo throughput", 100*steady)
	}

	// Every delivery to the failing endpoints ends in the DLQ after the ladder.
	want := n // two failing subscriptions × n/2 matched events × two runs
	var dlq []*kgo.Record
	testenv.Eventually(t, 3*time.Minute, func() bool { dlq = dlqRecords(t, s.broker.brokers, s.group+".dlq"); return len(dlq) >= 2*want },
		"DLQ holds %d of the %d failed deliveries", len(dlq), 2*want)
	bySub := map[string]int{}
	for _, r := range dlq {
		sub, _ := retry.HeaderValue(r, retry.HeaderSubscription)
		bySub[sub]++
		if reason, _ := retry.HeaderValue(r, retry.HeaderReason); reason != "exhausted" {
			t.Errorf("DLQ reason %q, want exhausted", reason)
		}
		if a, _ := retry.HeaderValue(r, retry.HeaderAttempt); a != "5" {
			t.Errorf("attempts %q, want 5", a)
		}
		for _, h := range []string{retry.HeaderWebhookID, retry.HeaderOrigin, retry.HeaderFirstAttempt, retry.HeaderError} {
			if v, _ := retry.HeaderValue(r, h); v == "" {
				t.Errorf("DLQ record lacks %s", h)
			}
		}
	}
	if bySub[sid] != want || bySub[did] != want {
		t.Errorf("DLQ by subscription = %v, want %d each for %s and %s", bySub, want, sid, did)
	}
	result{command: "make test-faults RUN=TestSlowAndDeadEndpoints", test: "slow and dead endpoints",
		injected: fmt.Sprintf("one endpoint hangs past its 500ms timeout, one refuses connections; healthy keeps %.0f%% of solo at %d events/s, %.0f%% at saturation", 100*steady, rate, 100*burst),
		events:   4 * n, matched: 2 * n, lost: 0, duplicates: healthy.dupCount(), broker: s.broker.name}.log(t)
}

func closedURL(t *testing.T) string { return "http://" + freeAddr(t) + "/hook" }

func (rc *receiver) dupCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	d := 0
	for _, n := range rc.delivered {
		d += n - 1
	}
	return d
}

// TestRedisSentinelFailover: hookstream reaches Redis through a Sentinel
// group; mid-stream the sentinel fails the master over to its replica.
// Deliveries go on, nothing is lost, and a subscription created after the
// failover (on the new master) matches on the worker.
func TestRedisSentinelFailover(t *testing.T) {
	addrs, master := testenv.SentinelAddrs(), testenv.SentinelMaster()
	if addrs == nil {
		if os.Getenv("HOOKSTREAM_TEST_REQUIRE_REDIS") == "1" {
			t.Fatal("HOOKSTREAM_TEST_REQUIRE_REDIS=1 but HOOKSTREAM_TEST_REDIS_SENTINEL is not set")
		}
		t.Skip("no Sentinel group (deploy/local/redis.sh starts one; CI does)")
	}
	s := newSetup(t, 6)
	s.redisExtra = fmt.Sprintf("  sentinel: {master_name: %s, addrs: [%s]}", master, strings.Join(addrs, ", "))
	p := s.startWith("sentinel", "redis://sentinel-master/0")
	rc := newReceiver(t)
	id, secret := p.subscribe(t, `{"name":"before","url":"`+rc.srv.URL+`","filter":{"types":["match"]}}`)
	rc.trust(id, secret)
	n := 4000 * scale()
	matched, published := publish(t, s.broker.brokers, s.input, "so", n, 400, func(i int) bool { return i%2 == 0 })

	sentinel := redis.NewSentinelClient(&redis.Options{Addr: addrs[0]})
	defer sentinel.Close()
	ctx := context.Background()
	before, err := sentinel.GetMasterAddrByName(ctx, master).Result()
	if err != nil {
		t.Fatal(err)
	}
	for rc.deliveredCount() < len(matched)/4 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if err := sentinel.Failover(ctx, master).Err(); err != nil {
		t.Fatal(err)
	}
	var after []string
	testenv.Eventually(t, 30*time.Second, func() bool {
		after, err = sentinel.GetMasterAddrByName(ctx, master).Result()
		return err == nil && after[1] != before[1]
	}, "the master did not change")
	switched := time.Since(start)
	t.Logf("master %s:%s failed over to %s:%s in %s", before[0], before[1], after[0], after[1], switched.Round(time.Millisecond))
	// Until the old master is told it is a replica it still takes writes,
	// which its resync then drops: Sentinel replicates asynchronously.
	// Subscriptions are created once it refuses them.
	old := redis.NewClient(&redis.Options{Addr: before[0] + ":" + before[1]})
	defer old.Close()
	testenv.Eventually(t, 30*time.Second, func() bool {
		role, err := old.Do(ctx, "ROLE").Slice()
		return err == nil && len(role) > 0 && role[0] == "slave"
	}, "the old master did not become a replica")

	rc2 := newReceiver(t)
	rc2.wantType = "late"
	var id2, secret2 string
	testenv.Eventually(t, 30*time.Second, func() bool {
		resp, err := http.Post("http://"+p.admin+"/v1/subscriptions", "application/json",
			strings.NewReader(`{"name":"after","url":"`+rc2.srv.URL+`","filter":{"types":["late"]}}`))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var sub struct{ ID, Secret string }
		if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&sub) != nil {
			return false
		}
		id2, secret2 = sub.ID, sub.Secret
		return true
	}, "no subscription could be created after the failover")
	rc2.trust(id2, secret2)
	<-published
	lateIDs := publishTyped(t, s.broker.brokers, s.input, "late", 20)
	testenv.Eventually(t, 30*time.Second, func() bool { return rc2.deliveredCount() == len(lateIDs) },
		"the subscription created after the failover did not get all %d events", len(lateIDs))
	lost, dups, _ := s.account(t, rc, matched, 3*time.Minute)
	if lost != 0 {
		t.Errorf("%d matched events lost", lost)
	}
	result{command: "make test-faults RUN=TestRedisSentinelFailover", test: "Redis Sentinel failover",
		injected: fmt.Sprintf("the sentinel fails the master over mid-stream (switched in %s); a subscription created after", switched.Round(10*time.Millisecond)),
		events:   n, matched: len(matched), lost: lost, duplicates: dups, broker: s.broker.name}.log(t)
}
