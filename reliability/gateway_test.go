//go:build faults

package reliability

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/gateway"
)

// TestGatewayKilledUnderLoad sends signed webhooks to the gateway from 16
// clients and kills hookstream with SIGKILL while they come: every request
// answered 200 must be in Kafka, and a sender's retry of one that got no
// answer is published at most once more.
func TestGatewayKilledUnderLoad(t *testing.T) {
	gatewayUnderFault(t, "gateway killed under load", "2× SIGKILL + restart", 2,
		func(s *setup, p *proc, k int) *proc {
			p.kill(t)
			return s.start("gateway-" + strconv.Itoa(k))
		})
}

// TestGatewayBrokerOutage stops the broker while senders post: the
// gateway answers 503 (its claims released), and once the broker is back
// the senders' retries are published.
func TestGatewayBrokerOutage(t *testing.T) {
	gatewayUnderFault(t, "gateway through a broker outage", "broker stopped for 3 s", 1,
		func(s *setup, p *proc, _ int) *proc {
			s.broker.restart(t, 3*time.Second)
			return p
		})
}

// gatewayUnderFault runs 16 senders against the gateway and injects fault
// faults times, at even shares of the requests; every request answered
// 200 must end in Kafka.
func gatewayUnderFault(t *testing.T, test, injected string, faults int, fault func(s *setup, p *proc, k int) *proc) {
	s := newSetup(t, 6)
	s.gateway = freeAddr(t)
	const secret = "fault-github-secret"
	opts, err := redis.ParseURL(s.redis)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := gateway.NewStore(rdb, s.prefix).Put(context.Background(), gateway.Source{ID: "gh", Name: "GitHub",
		Provider: "github", Secrets: []string{secret}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	p := s.start("gateway-0")
	n := 3000 * scale()

	var mu sync.Mutex
	acked := map[string]bool{} // delivery ids answered 200
	var next, refused atomic.Int64
	client := &http.Client{Timeout: 5 * time.Second}
	send := func(id string) bool {
		body := fmt.Appendf(nil, `{"action":"opened","delivery":%q}`, id)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.gateway+"/in/gh", bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		req.Header.Set("X-GitHub-Event", "pull_request")
		req.Header.Set("X-GitHub-Delivery", id)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				id := "d-" + strconv.FormatInt(i, 10)
				// A sender retries what got no 200, as providers do, for a
				// minute here: a delivery the killed process had claimed
				// is answered 409 until its claim expires (twice the
				// publish timeout, 20 s by default).
				for try := 0; ; try++ {
					if send(id) {
						mu.Lock()
						acked[id] = true
						mu.Unlock()
						break
					}
					refused.Add(1)
					if try == 600 {
						t.Errorf("%s never accepted", id)
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	var recovery time.Duration
	for k := 1; k <= faults; k++ {
		for next.Load() < int64(n*k/(faults+1)) {
			time.Sleep(5 * time.Millisecond)
		}
		start := time.Now()
		p = fault(s, p, k)
		recovery = max(recovery, time.Since(start))
	}
	wg.Wait()

	published := map[string]int{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker.brokers...), kgo.ConsumeTopics(s.input),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	total := 0
	for len(published) < len(acked) && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			var ev struct{ ID, Source string }
			if json.Unmarshal(r.Value, &ev) == nil && strings.HasPrefix(ev.Source, "inbound/") {
				published[ev.ID]++
				total++
			}
		})
	}
	lost, dups := 0, 0
	for id := range acked {
		if published[id] == 0 {
			lost++
		}
		if published[id] > 1 {
			dups += published[id] - 1
		}
	}
	if lost != 0 {
		t.Errorf("%d of %d requests answered 200 are not in Kafka", lost, len(acked))
	}
	if len(acked) != n {
		t.Errorf("%d of %d requests answered 200", len(acked), n)
	}
	result{command: "make test-faults RUN=" + t.Name(), test: test,
		injected: fmt.Sprintf("%s while 16 senders post signed webhooks (they retry what got no 200: %d retries); recovery = the fault's length", injected, refused.Load()),
		events:   n, matched: len(acked), lost: lost, duplicates: dups, recovery: recovery, broker: s.broker.name}.log(t)
}
