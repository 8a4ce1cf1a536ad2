package service

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/internal/testenv"
)

// newSecureEnv is newEnv on a broker reached through SASL with mechanism.
func newSecureEnv(t *testing.T, mechanism string) *env {
	t.Helper()
	input := testenv.Topic("logs")
	kafka := testenv.SecureKafka(t, mechanism, 3, input)
	e := newEnvOn(t, input, kafka.Brokers)
	e.cfg.Kafka.TLS, e.cfg.Kafka.SASL = kafka.TLS, kafka.SASL
	return e
}

// TestSecuredKafka: through SASL/PLAIN, and SCRAM-SHA-512 over TLS, the
// pipeline's core runs end to end: a delivery, a retry, a dead letter, and
// commits of all of it.
func TestSecuredKafka(t *testing.T) {
	for _, mechanism := range []string{config.SASLPlain, config.SASLScram512} {
		t.Run(mechanism, func(t *testing.T) {
			t.Parallel()
			e := newSecureEnv(t, mechanism)
			in := e.start()
			rc := newReceiver(t)
			rc.respond = failFirst(1) // one retry each
			in.subscribe(t, rc, map[string]any{"name": "secured", "filter": map[string]any{"levels": []string{"error"}}})
			strict := newReceiver(t)
			strict.respond = func(string, int) int { return http.StatusBadRequest } // straight to the DLQ
			in.subscribe(t, strict, map[string]any{"name": "strict", "filter": map[string]any{"levels": []string{"critical"}}})
			e.publish(logEvent(1, `"level":"error"`), logEvent(2, `"level":"error"`), logEvent(3, `"level":"critical"`))
			testenv.Eventually(t, 15*time.Second, func() bool { return rc.deliveredCount() == 2 && len(e.readTopic(e.cfg.DLQTopic())) == 1 },
				"through %s: %d delivered, %d dead-lettered", mechanism, rc.deliveredCount(), len(e.readTopic(e.cfg.DLQTopic())))
			cl, err := kgo.NewClient(e.kafka()...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			testenv.Eventually(t, 15*time.Second, func() bool {
				lags, err := kadm.NewClient(cl).Lag(context.Background(), e.cfg.Kafka.Group, e.cfg.RungGroup(e.cfg.Retry.Rungs[0]))
				if err != nil {
					return false
				}
				for _, l := range lags {
					if l.Error() != nil || l.Lag.Total() != 0 {
						return false
					}
				}
				return len(lags) == 2
			}, "the input and first rung did not commit everything")
			if _, _, _, bad := rc.snapshot(); len(bad) > 0 {
				t.Errorf("deliveries not verified: %v", bad)
			}
		})
	}
}

// TestSecuredKafkaRefusesFast: wrong credentials and a certificate the
// client does not trust end the start with the cause, at once, instead of
// retrying without end.
func TestSecuredKafkaRefusesFast(t *testing.T) {
	tests := []struct {
		name      string
		mechanism string
		change    func(*config.Kafka)
		want      string
	}{
		{"wrong password", config.SASLPlain, func(k *config.Kafka) { k.SASL.Password = "wrong" }, "SASL PLAIN as \"hookstream\""},
		{"wrong SCRAM password", config.SASLScram512, func(k *config.Kafka) { k.SASL.Password = "wrong" }, "SASL SCRAM-SHA-512 as \"hookstream\""},
		{"untrusted CA", config.SASLScram512, func(k *config.Kafka) { k.TLS.CAFile = "" }, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newSecureEnv(t, tt.mechanism)
			tt.change(&e.cfg.Kafka)
			svc, err := New(Options{Config: e.cfg, Logger: zerolog.New(zerolog.NewTestWriter(t)), Registry: prometheus.NewRegistry(), Redis: e.rdb})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			err = svc.Run(ctx)
			took := time.Since(start)
			if err == nil || !strings.Contains(err.Error(), tt.want) || ctx.Err() != nil {
				t.Fatalf("Run() after %s = %v, want an error about %s", took, err, tt.want)
			}
			if took > 20*time.Second {
				t.Errorf("refused after %s, want at once", took)
			}
			t.Logf("refused after %s: %v", took.Round(time.Millisecond), err)
		})
	}
}

// TestCheckConnections: each configured connection is tried once and
// reported with what worked, or the other side's own error.
func TestCheckConnections(t *testing.T) {
	e := newSecureEnv(t, config.SASLScram512)
	e.cfg.Redis.URL = "redis://" + e.rdb.(*redis.Client).Options().Addr + "/0"
	tests := []struct {
		name   string
		change func(*config.Config)
		want   map[string]string // check → "ok" or a part of its error
	}{
		{"all reachable", func(*config.Config) {}, map[string]string{"kafka": "ok", "topics": "ok", "redis": "ok"}},
		{"wrong password", func(c *config.Config) { c.Kafka.SASL.Password = "wrong" }, map[string]string{"kafka": `SASL SCRAM-SHA-512 as "hookstream"`, "redis": "ok"}},
		{"missing input topic", func(c *config.Config) { c.Kafka.InputTopics = []string{"nope-" + testenv.Unique()} }, map[string]string{"kafka": "ok", "topics": "does not exist", "redis": "ok"}},
		{"redis down", func(c *config.Config) { c.Redis.URL = "redis://" + testenv.FreeAddr(t) + "/0" }, map[string]string{"kafka": "ok", "topics": "ok", "redis": "connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.cfg
			tt.change(&cfg)
			got := map[string]ConnectionCheck{}
			for _, c := range CheckConnections(context.Background(), cfg) {
				got[c.Name] = c
			}
			if len(got) != len(tt.want) {
				t.Errorf("checks %v, want %v", got, tt.want)
			}
			for name, want := range tt.want {
				c, ok := got[name]
				switch {
				case !ok:
					t.Errorf("no %s check", name)
				case want == "ok" && !c.OK, want != "ok" && (c.OK || !strings.Contains(c.Detail, want)):
					t.Errorf("%s: ok=%v %q, want %q", name, c.OK, c.Detail, want)
				}
			}
		})
	}
}

// TestPipelineOnRedisClusterAndSentinel: the pipeline and the admin API
// run on a Redis Cluster and on a Sentinel group's master: deliveries with
// a retry, a rate limit, history, and a delete that forgets it.
func TestPipelineOnRedisClusterAndSentinel(t *testing.T) {
	ran := 0
	for _, b := range testenv.RedisBackends(t) {
		if b.Name == "single" {
			continue
		}
		ran++
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t)
			e.rdb, e.cfg.Redis.KeyPrefix = b.Client, b.Prefix
			in := e.start()
			rc := newReceiver(t)
			rc.respond = failFirst(1)
			sub := in.subscribe(t, rc, map[string]any{"name": b.Name, "rate_limit": map[string]any{"per_second": 1000, "burst": 10}})
			id := sub["id"].(string)
			e.publish(logEvents(5, `"level":"error"`)...)
			testenv.Eventually(t, 15*time.Second, func() bool { return rc.deliveredCount() == 5 }, "on %s: not all 5 events delivered", b.Name)
			// Ten attempts at least: a rebalance may deliver an event again.
			var hist struct{ Data []map[string]any }
			testenv.Eventually(t, 10*time.Second, func() bool {
				hist.Data = nil
				in.getJSON(t, "/v1/subscriptions/"+id+"/attempts", &hist)
				return len(hist.Data) >= 10
			}, "on %s: fewer than 10 attempts in the history", b.Name)
			if status, body := in.do(t, http.MethodDelete, "/v1/subscriptions/"+id, nil); status != http.StatusNoContent {
				t.Fatalf("delete: %d %s", status, body)
			}
			if _, _, _, bad := rc.snapshot(); len(bad) > 0 {
				t.Errorf("deliveries not verified: %v", bad)
			}
		})
	}
	if ran == 0 {
		t.Skip("no Redis Cluster or Sentinel group to run on (deploy/local/redis.sh starts both; CI does)")
	}
}
