package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookstream/hookstream/gateway"
)

// gatewayRun: GitHub-signed requests to the gateway, each verified,
// deduplicated in Redis and published to Kafka before its 200: first n
// as fast as 64 clients send them, then 1,000 a second for 10 s, timed
// from sending to the answer.
func (b *bench) gatewayRun(n int) []row {
	topic, group := b.names("gateway")
	check(b.createTopic(topic, 6))
	const secret = "bench-github-secret"
	opts, err := redis.ParseURL(b.redisURL)
	check(err)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	check(gateway.NewStore(rdb, group).Put(context.Background(), gateway.Source{ID: "gh", Name: "GitHub", Provider: "github",
		Secrets: []string{secret}, Enabled: true}))
	b.gateway = true
	p, err := b.startHookstream("gateway", topic, group)
	b.gateway = false
	check(err)
	defer p.stop()
	url := "http://" + p.gateway + "/in/gh"
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var seq atomic.Int64
	send := func() (time.Duration, error) {
		i := seq.Add(1)
		body := fmt.Appendf(nil, `{"action":"opened","number":%d,"pull_request":{"title":"change %d","user":{"login":"bench"}}}`, i, i)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
		req.Header.Set("X-GitHub-Event", "pull_request")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("gateway answered %d", resp.StatusCode)
		}
		return time.Since(start), nil
	}
	// Warm the connections and the source cache up.
	for range 64 {
		_, err := send()
		check(err)
	}

	start := time.Now()
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(n))
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				_, err := send()
				check(err)
			}
		}()
	}
	wg.Wait()
	rate := float64(n) / time.Since(start).Seconds()
	cpu, rss := p.usage()

	var mu sync.Mutex
	var lat []time.Duration
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := send()
			check(err)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	p99 := lat[len(lat)*99/100]
	return []row{
		{Scenario: fmt.Sprintf("gateway: %d GitHub-signed requests, 64 clients", n),
			Result: fmt.Sprintf("%.0f requests/s verified, deduplicated and published before their 200", rate),
			Value:  rate, Unit: "requests/s", Target: "≥ 5,000 requests/s", Met: rate >= 5000, CPUSeconds: cpu, PeakRSS: rss},
		{Scenario: "gateway: 1,000 requests/s for 10 s",
			Result: fmt.Sprintf("p50 %s, p99 %s to the 200 (%d requests)", ms(lat[len(lat)/2]), ms(p99), len(lat)),
			Value:  p99.Seconds(), Unit: "s", Target: "p99 < 50 ms", Met: p99 < 50*time.Millisecond},
	}
}
