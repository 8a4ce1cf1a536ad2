package service

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
)

// TestDLQUnwritableForAWhile: while the broker refuses every DLQ write,
// the records that need one are handled again with backoff, their
// partitions commit nothing past them and readiness says why; once the
// DLQ takes writes again, they land there and commits resume. Nothing is
// lost.
func TestDLQUnwritableForAWhile(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	rc := newReceiver(t)
	rc.respond = func(string, int) int { return http.StatusBadRequest } // straight to the DLQ
	in.subscribe(t, rc, map[string]any{"name": "strict"})

	cl, err := kgo.NewClient(e.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	setMax := func(n int) { testenv.SetTopicConfig(t, cl, e.cfg.DLQTopic(), "max.message.bytes", strconv.Itoa(n)) }
	setMax(1024) // smaller than any DLQ record below

	const events = 20
	pad := strings.Repeat("x", 2048)
	e.publish(logEvents(events, `"pad":"`+pad+`"`)...)
	testenv.Eventually(t, 15*time.Second, func() bool { return in.counter("hookstream_handler_retries_total") >= events },
		"refused DLQ writes not retried")
	status, body := in.do(t, http.MethodGet, "/readyz", nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "pipeline") {
		t.Errorf("readyz while the DLQ refuses writes: %d %s", status, body)
	}
	if n := len(e.readTopic(e.cfg.DLQTopic())); n != 0 {
		t.Fatalf("%d DLQ records written while the DLQ refused them", n)
	}

	setMax(8 << 20)
	testenv.Eventually(t, 30*time.Second, func() bool { return len(e.readTopic(e.cfg.DLQTopic())) >= events },
		"DLQ records not written once the DLQ took writes again")
	testenv.Eventually(t, 15*time.Second, func() bool {
		lags, err := adm.Lag(context.Background(), e.cfg.Kafka.Group)
		if err != nil {
			return false
		}
		l, ok := lags[e.cfg.Kafka.Group]
		return ok && l.Error() == nil && l.Lag.Total() == 0
	}, "input commits did not resume")
	seen := map[string]bool{}
	for _, r := range e.readTopic(e.cfg.DLQTopic()) {
		seen[header(r, "hookstream-webhook-id")] = true
	}
	if len(seen) != events {
		t.Errorf("%d deliveries in the DLQ, want %d", len(seen), events)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		status, _ := in.do(t, http.MethodGet, "/readyz", nil)
		return status == http.StatusOK
	}, "readyz still degraded")
	t.Logf("%v handler retries while the DLQ refused writes", in.counter("hookstream_handler_retries_total"))
}
