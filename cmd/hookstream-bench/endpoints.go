package main

import (
	"fmt"
	"time"

	"github.com/hookstream/hookstream/subscription"
)

// manyEndpoints: subs subscriptions, each matching its own share of n
// events by an eq predicate, posting to 50 local receivers, run twice one
// after the other: every subscription with the same URL, then each with
// a URL of its own (a path per subscription on one of the 50 ports).
// Deliveries/s, and the heap in use after a collection once every
// delivery is made, side by side.
func (b *bench) manyEndpoints(subs, n int) []row {
	const ports = 50
	type result struct {
		rate      float64
		heap, rss int64
		cpu       float64
	}
	measure := func(distinct bool) result {
		var rcs []*receiver
		for range ports {
			rc := newReceiver(false)
			defer rc.close()
			rcs = append(rcs, rc)
		}
		list := make([]subscription.Subscription, subs)
		for j := range list {
			url := rcs[0].srv.URL + "/hook"
			if distinct {
				url = fmt.Sprintf("%s/e/%d", rcs[j%ports].srv.URL, j)
			}
			list[j] = subscription.Subscription{ID: fmt.Sprintf("ep_%05d", j), Name: "e", URL: url,
				Filter: subscription.Filter{Where: []subscription.Predicate{{Path: "metadata.bucket", Op: subscription.OpEq, Value: float64(j)}}}}
		}
		b.pprof = true
		defer func() { b.pprof = false }()
		p, _ := b.run("endpoints", list, func(topic string) {
			check(b.produce(topic, n, 0, func(i int) []byte { return event(i, "info", i%subs, 0) }))
		}, 6)
		defer p.stop()
		deadline := time.Now().Add(10 * time.Minute)
		var first, last int64
		for {
			var total int64
			first, last = 0, 0
			for _, rc := range rcs {
				total += rc.count.Load()
				if f := rc.first.Load(); f != 0 && (first == 0 || f < first) {
					first = f
				}
				last = max(last, rc.last.Load())
			}
			if total >= int64(n) {
				break
			}
			if time.Now().After(deadline) {
				check(fmt.Errorf("endpoints: %d of %d delivered", total, n))
			}
			time.Sleep(50 * time.Millisecond)
		}
		heap, err := p.liveHeap()
		check(err)
		cpu, rss := p.usage()
		return result{rate: float64(n) / time.Duration(last-first).Seconds(), heap: heap, rss: rss, cpu: cpu}
	}
	same := measure(false)
	own := measure(true)
	rows := []row{
		{Scenario: fmt.Sprintf("endpoints: %d events to %d subscriptions sharing one URL", n, subs),
			Result: fmt.Sprintf("%.0f deliveries/s; heap in use after GC %.1f MB", same.rate, float64(same.heap)/(1<<20)),
			Value:  same.rate, Unit: "deliveries/s", Target: "report", Met: same.rss < rssLimit, Deliveries: int64(n), CPUSeconds: same.cpu, PeakRSS: same.rss},
		{Scenario: fmt.Sprintf("endpoints: the same, each subscription with a URL of its own on %d ports", ports),
			Result: fmt.Sprintf("%.0f deliveries/s; heap in use after GC %.1f MB", own.rate, float64(own.heap)/(1<<20)),
			Value:  own.rate, Unit: "deliveries/s", Target: "report, RSS < 150 MB", Met: own.rss < rssLimit, Deliveries: int64(n), CPUSeconds: own.cpu, PeakRSS: own.rss},
	}
	return rows
}
