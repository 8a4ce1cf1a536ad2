package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiver is a fast webhook endpoint: it counts requests, verifies one
// signature in sampleEvery with the reference Standard Webhooks library
// (or checks that there is none, for a format that is not signed),
// and records the time from an event's production (its "ts" field, unix
// ns) to its arrival.
type receiver struct {
	srv         *httptest.Server
	wh          *standardwebhooks.Webhook
	sampleEvery int64
	hang        bool
	// unsigned: the requests must carry no signature.
	unsigned bool

	count, verified, badSigs atomic.Int64
	mu                       sync.Mutex
	latencies                []time.Duration
	first, last              atomic.Int64 // unix ns
}

func newReceiver(hang bool) *receiver {
	wh, err := standardwebhooks.NewWebhook(benchSecret)
	if err != nil {
		panic(err)
	}
	rc := &receiver{wh: wh, sampleEvery: 100, hang: hang}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	return rc
}

var tsField = []byte(`"ts":`)

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if rc.hang {
		<-r.Context().Done()
		return
	}
	now := time.Now()
	n := rc.count.Add(1)
	rc.first.CompareAndSwap(0, now.UnixNano())
	rc.last.Store(now.UnixNano())
	if n%rc.sampleEvery == 1 {
		if rc.unsigned {
			if r.Header.Get("webhook-signature") == "" {
				rc.verified.Add(1)
			} else {
				rc.badSigs.Add(1)
			}
		} else if rc.wh.Verify(body, r.Header) == nil {
			rc.verified.Add(1)
		} else {
			rc.badSigs.Add(1)
		}
	}
	if i := bytes.Index(body, tsField); i >= 0 {
		rest := body[i+len(tsField):]
		j := bytes.IndexAny(rest, ",}")
		if ns, err := strconv.ParseInt(string(rest[:max(j, 0)]), 10, 64); err == nil && ns > 0 {
			rc.mu.Lock()
			rc.latencies = append(rc.latencies, now.Sub(time.Unix(0, ns)))
			rc.mu.Unlock()
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) close() { rc.srv.Close() }

// percentiles returns the p50, p95 and p99 of the recorded latencies.
func (rc *receiver) percentiles() (p50, p95, p99 time.Duration) {
	rc.mu.Lock()
	l := append([]time.Duration(nil), rc.latencies...)
	rc.mu.Unlock()
	if len(l) == 0 {
		return 0, 0, 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	at := func(q float64) time.Duration { return l[min(len(l)-1, int(q*float64(len(l))))] }
	return at(0.50), at(0.95), at(0.99)
}

// waitCount waits until n requests arrived or timeout passes.
func (rc *receiver) waitCount(n int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for rc.count.Load() < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
