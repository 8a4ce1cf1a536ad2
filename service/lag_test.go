package service

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/metrics"
)

// TestConsumerLag: hookstream reports the input group's lag per
// partition, read from the committed and end offsets: the records held by
// a hanging endpoint, then none once it answers and they are settled.
//
// The endpoint holds every attempt until the test lets it answer, and the
// attempts' timeout is longer than the test: the lag of 20 lasts as long
// as the test needs to see it, however slow the machine.
func TestConsumerLag(t *testing.T) {
	e := newEnv(t)
	e.cfg.Delivery.Timeout = time.Minute
	hang := make(chan struct{})
	release := sync.OnceFunc(func() { close(hang) })
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(stuck.Close)
	t.Cleanup(release)
	in := e.startWith(func(o *Options) { o.LagInterval = 100 * time.Millisecond })
	in.createSub(t, map[string]any{"name": "stuck", "url": stuck.URL})
	testenv.Eventually(t, 2*time.Second, func() bool { return in.counter("hookstream_subscriptions") == 1 }, "the subscription is not loaded")
	e.publish(logEvents(20, `"type":"lag"`)...)
	lag := func() (float64, bool) {
		mfs, _ := in.reg.Gather()
		seen, total := false, 0.0
		for _, mf := range mfs {
			if mf.GetName() != "hookstream_consumer_lag" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "group" && l.GetValue() == e.cfg.Kafka.Group {
						seen, total = true, total+m.GetGauge().GetValue()
					}
				}
			}
		}
		return total, seen
	}
	testenv.Eventually(t, 5*time.Second, func() bool { n, _ := lag(); return n == 20 },
		"the input group's lag never showed the 20 records held by the hanging endpoint")
	release()
	testenv.Eventually(t, 20*time.Second, func() bool { n, seen := lag(); return seen && n == 0 },
		"the input group's lag did not fall to 0 once the records were settled")
}

// TestLagReadFailureWarnsOnce: while the lag cannot be read, one
// warning says so, not one per interval.
func TestLagReadFailureWarnsOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0),
		kgo.RetryBackoffFn(func(int) time.Duration { return time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	var log testenv.Buffer
	s := &Service{opts: Options{Config: config.Default()}, log: zerolog.New(&log),
		metrics: metrics.New(prometheus.NewRegistry())}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	s.reportLag(ctx, kadm.NewClient(cl), 10*time.Millisecond)
	if n := strings.Count(log.String(), "consumer lag not read"); n != 1 {
		t.Errorf("%d warnings in %s, want 1:\n%s", n, 500*time.Millisecond, log.String())
	}
}
