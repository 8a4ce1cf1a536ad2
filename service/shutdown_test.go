package service

import (
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/hookstream/hookstream/internal/testenv"
)

// TestShutdownIsBoundedWhileTheBrokerIsAway: with deliveries waiting on
// retry writes that the broker, gone, never acknowledges, a stop still
// ends within shutdown_timeout (and the admin server's own grace), with
// nothing committed that has no outcome.
func TestShutdownIsBoundedWhileTheBrokerIsAway(t *testing.T) {
	input := testenv.Topic("logs")
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, input))
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			c.Close()
		}
	})
	rdb, prefix := testenv.Redis(t)
	cfg := testenv.Config(c.ListenAddrs(), input, prefix)
	cfg.ShutdownTimeout = 2 * time.Second
	e := &env{t: t, brokers: c.ListenAddrs(), rdb: rdb, cfg: cfg, input: input}
	in := e.start()
	rc := newReceiver(t)
	rc.respond = func(string, int) int { return http.StatusServiceUnavailable }
	in.subscribe(t, rc, map[string]any{"name": "down"})
	events := make([][]byte, 200)
	for i := range events {
		events[i] = logEvent(i, `"level":"error"`)
	}
	e.publish(events...)
	testenv.Eventually(t, 10*time.Second, func() bool { return in.counter("hookstream_delivery_attempts_total") > 0 },
		"no attempt made")

	c.Close()
	closed = true
	start := time.Now()
	in.stop(t)
	took := time.Since(start)
	t.Logf("stopped %s after the signal, the broker away", took)
	if took > cfg.ShutdownTimeout+6*time.Second {
		t.Errorf("stop took %s, want at most shutdown_timeout (%s) and the admin server's 5s", took, cfg.ShutdownTimeout)
	}
}
