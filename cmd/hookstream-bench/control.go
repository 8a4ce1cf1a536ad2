package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookstream/hookstream/subscription"
)

// control: the control plane with many subscriptions stored. Two workers
// share Redis; the API of the first is timed (create, update, delete, a
// page of 100) with few subscriptions stored and with n, side by side; the
// second worker is timed applying each change; the heap a worker holds
// after a collection per stored subscription is reported; and apply -f of
// 10,000 subscriptions is timed.
func (b *bench) control(n int) []row {
	topic, group := b.names("control")
	check(b.createTopic(topic, 6))
	b.pprof = true // for the heap after a collection
	defer func() { b.pprof = false }()

	// Few subscriptions: the API's times with nearly nothing stored.
	a, err := b.startHookstream("control-a", topic, group)
	check(err)
	heapEmpty, err := a.liveHeap()
	check(err)
	few := b.timeAPI(a, nil, "few")
	a.stop()

	check(b.preload(group, n))
	a, err = b.startHookstream("control-a", topic, group)
	check(err)
	defer a.stop()
	w, err := b.startHookstream("control-w", topic, group)
	check(err)
	defer w.stop()
	heapFull, err := w.liveHeap()
	check(err)
	perSub := float64(heapFull-heapEmpty) / float64(n)
	const reloads = "hookstream_subscription_reloads_total"
	reloadsA, reloadsW := a.metric(reloads), w.metric(reloads)
	rssReady := a.rss()
	many := b.timeAPI(a, w, "many")
	_, rssA := a.usage()

	applied := b.timeApplyFile(a, 10000)
	reloadsA, reloadsW = a.metric(reloads)-reloadsA, w.metric(reloads)-reloadsW

	ratio := func(m, f time.Duration) string {
		return fmt.Sprintf("%.1f×", float64(m)/float64(max(f, time.Microsecond)))
	}
	label := fmt.Sprintf("control plane: %d subscriptions stored (beside a few)", n)
	return []row{
		{Scenario: label + ": create, update, delete",
			Result: fmt.Sprintf("p99 %s / %s / %s (with a few: %s / %s / %s; %s / %s / %s of it); the API's worker held %d MB as timing began",
				ms(many.create), ms(many.update), ms(many.delete), ms(few.create), ms(few.update), ms(few.delete),
				ratio(many.create, few.create), ratio(many.update, few.update), ratio(many.delete, few.delete), rssReady>>20),
			Value: float64(max(many.create, many.update, many.delete)) / 1e6, Unit: "ms",
			Target: "p99 < 10 ms", Met: max(many.create, many.update, many.delete) < 10*time.Millisecond, PeakRSS: rssA},
		{Scenario: label + ": a page of 100",
			Result: fmt.Sprintf("p99 %s (with a few: %s)", ms(many.page), ms(few.page)), Value: float64(many.page) / 1e6, Unit: "ms",
			Target: "p99 < 20 ms", Met: many.page < 20*time.Millisecond, PeakRSS: rssA},
		{Scenario: label + ": a change live on the other worker",
			Result: fmt.Sprintf("p99 %s, max %s after the API answered; heap after a collection %.2f KB per stored subscription (%.0f MB for %d)",
				ms(many.live), ms(many.liveMax), perSub/1024, float64(heapFull-heapEmpty)/(1<<20), n),
			Value: float64(many.live) / 1e6, Unit: "ms", Target: "within 1 s", Met: many.liveMax < time.Second, PeakRSS: rssA},
		{Scenario: "control plane: hookstream apply -f of 10,000 subscriptions",
			Result: fmt.Sprintf("%.1f s; full reloads of the %d stored while the API's changes and the apply went on: %.0f on the API's worker, %.0f on the other",
				applied.Seconds(), n, reloadsA, reloadsW), Value: applied.Seconds(), Unit: "s",
			Target: "< 60 s", Met: applied < time.Minute},
	}
}

// preload stores n subscriptions straight in Redis, a few workers at once.
func (b *bench) preload(prefix string, n int) error {
	opts, err := redis.ParseURL(b.redisURL)
	if err != nil {
		return err
	}
	opts.PoolSize = 32
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	store := subscription.NewStore(rdb, prefix)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 32 {
				if err := store.Create(context.Background(), benchSubscription(i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// benchSubscription is the i-th of many subscriptions: a type of a
// thousand, a level, a source of a hundred, and a predicate.
func benchSubscription(i int) subscription.Subscription {
	return subscription.Subscription{ID: fmt.Sprintf("sub_%07d", i), Name: fmt.Sprintf("bench %d", i),
		URL: fmt.Sprintf("https://hooks.example.com/in/%d", i), Enabled: true, Secret: benchSecret, MaxAttempts: 5,
		Timeout: subscription.Duration(10 * time.Second),
		Filter: subscription.Filter{Types: []string{fmt.Sprintf("type.%d", i%1000)}, Levels: []string{"error"},
			Sources: []string{fmt.Sprintf("svc-%d", i%100)},
			Where:   []subscription.Predicate{{Path: "metadata.amount", Op: subscription.OpGte, Value: float64(i % 500)}}},
	}
}

// apiTimes are p99s of the admin API, and how long a change took to be
// live on another worker.
type apiTimes struct {
	create, update, delete, page, live, liveMax time.Duration
}

// timeAPI times 300 creates, updates and deletes and 200 pages on a's
// API; with w, it also times each create until w has applied it.
func (b *bench) timeAPI(a, w *proc, tag string) apiTimes {
	const ops = 300
	base := "http://" + a.admin + "/v1/subscriptions"
	do := func(method, url, body string) time.Duration {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		check(err)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		check(err)
		var sink bytes.Buffer
		_, _ = sink.ReadFrom(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode >= 300 {
			check(fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, sink.String()))
		}
		return took
	}
	var t apiTimes
	var creates, updates, deletes, pages, live []time.Duration
	var count float64
	if w != nil {
		count = w.metric("hookstream_subscriptions")
	}
	for i := range ops {
		id := fmt.Sprintf("api_%s_%04d", tag, i)
		body, _ := json.Marshal(map[string]any{"id": id, "name": "api", "url": "https://hooks.example.com/api",
			"filter": map[string]any{"types": []string{"order.failed"}, "levels": []string{"error"}}})
		creates = append(creates, do(http.MethodPost, base, string(body)))
		if w != nil {
			answered := time.Now()
			count++
			for w.metric("hookstream_subscriptions") < count {
				if time.Since(answered) > 5*time.Second {
					check(fmt.Errorf("control: a create not live on the other worker after 5s"))
				}
				time.Sleep(time.Millisecond)
			}
			live = append(live, time.Since(answered))
		}
	}
	for i := range ops {
		updates = append(updates, do(http.MethodPatch, fmt.Sprintf("%s/api_%s_%04d", base, tag, i), `{"name":"renamed"}`))
	}
	for i := range 200 {
		pages = append(pages, do(http.MethodGet, fmt.Sprintf("%s?limit=100&cursor=sub_%07d", base, i*397), ""))
	}
	for i := range ops {
		deletes = append(deletes, do(http.MethodDelete, fmt.Sprintf("%s/api_%s_%04d", base, tag, i), ""))
	}
	t.create, t.update, t.delete, t.page = p99(creates), p99(updates), p99(deletes), p99(pages)
	if len(live) > 0 {
		t.live, t.liveMax = p99(live), slices.Max(live)
	}
	return t
}

// timeApplyFile runs hookstream apply -f with a file of n subscriptions
// against a's API.
func (b *bench) timeApplyFile(a *proc, n int) time.Duration {
	var doc strings.Builder
	doc.WriteString("subscriptions:\n")
	for i := range n {
		fmt.Fprintf(&doc, "  - {id: apply_%05d, name: applied %d, url: \"https://hooks.example.com/apply/%d\", filter: {levels: [error], sources: [svc-%d]}}\n",
			i, i, i, i%100)
	}
	path := filepath.Join(b.dir, "apply.yaml")
	check(os.WriteFile(path, []byte(doc.String()), 0o600))
	start := time.Now()
	cmd := exec.Command(b.bin, "apply", "-f", path, "--server", "http://"+a.admin)
	if out, err := cmd.CombinedOutput(); err != nil {
		check(fmt.Errorf("apply -f: %v\n%s", err, out[max(0, len(out)-2000):]))
	}
	return time.Since(start)
}

func p99(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}
