package service

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
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
	down := newReceiver(t)
	down.respond = func(string, int) int { return http.StatusServiceUnavailable }
	in.subscribe(t, down, map[string]any{"name": "down"})
	e.publish(logEvent(0, `"level":"error"`), logEvent(1, `"level":"error"`))
	testenv.Eventually(t, 10*time.Second, func() bool { return in.counter("hookstream_open_circuit_breakers") == 1 },
		"the down endpoint's breaker did not open")
	// Each event now matches a slow endpoint, which holds it in flight, and
	// the down one, whose refused delivery waits for its retry write.
	release := make(chan struct{})
	var inFlight atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	in.createSub(t, map[string]any{"name": "slow", "url": slow.URL})
	events := make([][]byte, 50)
	for i := range events {
		events[i] = logEvent(i+2, `"level":"error"`)
	}
	e.publish(events...)
	testenv.Eventually(t, 10*time.Second, func() bool { return inFlight.Load() > 0 },
		"no delivery in flight to the slow endpoint")

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
