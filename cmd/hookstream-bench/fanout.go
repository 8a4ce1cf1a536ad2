package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/hookstream/hookstream/subscription"
)

// fanOut: n pre-loaded events, each matching 10 subscriptions on 10
// endpoints of their own (10n deliveries), against the raw ceiling
// measured in the same run.
func (b *bench) fanOut(n int) []row {
	const subs = 10
	ceiling := b.rawCeiling(5*n, 128)
	var rcs []*receiver
	var list []subscription.Subscription
	for i := range subs {
		rc := newReceiver(false)
		defer rc.close()
		rcs = append(rcs, rc)
		list = append(list, subscription.Subscription{ID: fmt.Sprintf("fan-%d", i), Name: "fan-out", URL: rc.srv.URL})
	}
	p, _ := b.run("fanout", list, func(topic string) {
		check(b.produce(topic, n, 0, func(i int) []byte { return event(i, "info", i, 0) }))
	}, 6)
	defer p.stop()
	if b.profile != "" && rcs[0].waitCount(int64(n/2), 10*time.Minute) {
		p.heapProfile(filepath.Join(b.profile, "fanout.heap"))
	}
	var first, last int64
	for _, rc := range rcs {
		if !rc.waitCount(int64(n), 10*time.Minute) {
			check(fmt.Errorf("fan-out: an endpoint got %d of %d", rc.count.Load(), n))
		}
		if f := rc.first.Load(); first == 0 || f < first {
			first = f
		}
		last = max(last, rc.last.Load())
	}
	cpu, rss := p.usage()
	retried := p.metric("hookstream_retries_scheduled_total")
	total := int64(n * subs)
	rate := float64(total) / time.Duration(last-first).Seconds()
	return []row{{Scenario: fmt.Sprintf("fan-out: %d events × %d subscriptions on %d endpoints", n, subs, subs),
		Result: fmt.Sprintf("%.0f deliveries/s = %.0f%% of the ceiling (%.0f requests/s, one endpoint, 128 concurrent, same run; %.0f sent round the retry ladder)", rate, 100*rate/ceiling, ceiling, retried),
		Value:  rate / ceiling, Unit: "ratio", Target: "report, RSS < 150 MB", Met: rss < rssLimit,
		Deliveries: total, CPUSeconds: cpu, PeakRSS: rss}}
}
