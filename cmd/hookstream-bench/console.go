package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookstream/hookstream/subscription"
)

// consoleCost: what open operator consoles cost a hookstream delivering
// a steady load. The same instance delivers perSecond events/s for d
// without streams and with streams consoles reading /v1/stats/stream,
// in alternating pairs; the cost is the extra CPU of each pair.
func (b *bench) consoleCost(perSecond, streams int, d time.Duration) row {
	rc := newReceiver(false)
	defer rc.close()
	p, topic := b.run("console", []subscription.Subscription{{ID: "all", Name: "all", URL: rc.srv.URL}}, nil, 6)
	defer p.stop()
	time.Sleep(2 * time.Second) // let the group settle
	n := perSecond * int(d.Seconds())
	var sent int64
	window := func(open int) (cpu float64, events int64) {
		ctx, cancel := context.WithCancel(context.Background())
		var got atomic.Int64
		var wg sync.WaitGroup
		for range open {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+p.admin+"/v1/stats/stream", nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				defer resp.Body.Close()
				sc := bufio.NewScanner(resp.Body)
				sc.Buffer(make([]byte, 64<<10), 1<<20)
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "event: stats") {
						got.Add(1)
					}
				}
			}()
		}
		time.Sleep(1500 * time.Millisecond) // the streams are open and the first snapshots sent
		cpu0, _ := p.usage()
		base := int(sent)
		check(b.produce(topic, n, perSecond, func(i int) []byte { return event(base+i, "info", i, time.Now().UnixNano()) }))
		sent += int64(n)
		rc.waitCount(sent, 2*time.Minute)
		cpu1, _ := p.usage()
		cancel()
		wg.Wait()
		return cpu1 - cpu0, got.Load()
	}
	var costs []float64
	var parts []string
	for range 2 {
		without, _ := window(0)
		with, events := window(streams)
		cost := (with - without) / without
		costs = append(costs, cost)
		parts = append(parts, fmt.Sprintf("%.2f vs %.2f CPU s = %+.1f%% (%d snapshots read)", with, without, 100*cost, events))
	}
	slices.Sort(costs)
	mean := (costs[0] + costs[1]) / 2
	cpu, rss := p.usage()
	return row{
		Scenario: fmt.Sprintf("console: %d open streams beside %d events/s for %s", streams, perSecond, d),
		Result:   fmt.Sprintf("extra CPU, mean of 2 alternating pairs = **%+.1f%%** (%s)", 100*mean, strings.Join(parts, "; ")),
		Value:    100 * mean, Unit: "% CPU", Target: "< 5% CPU", Met: mean < 0.05,
		Deliveries: rc.count.Load(), CPUSeconds: cpu, PeakRSS: rss,
	}
}
