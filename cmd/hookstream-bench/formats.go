package main

import (
	"fmt"
	"time"

	"github.com/hookstream/hookstream/payload"
	"github.com/hookstream/hookstream/subscription"
)

// formats: the drain of n events in the standard envelope, as a Slack
// message and through a JSON template, one after the other, with standard
// run first and last so that its mean brackets the others: rendering a
// format must cost at most 10% of the deliveries per second.
func (b *bench) formats(n int) []row {
	type run struct {
		name string
		spec payload.Spec
	}
	runs := []run{
		{"standard", payload.Spec{}},
		{"slack", payload.Spec{Format: payload.Slack, Summary: "{{ .type }} on {{ .source }}: {{ .message }}"}},
		{"template", payload.Spec{Format: payload.Template,
			Body: `{"alert":"{{ .message }}","order":{{ .id }},"amount":{{ .metadata.amount }},"customer":"{{ .metadata.customer }}","tags":{{ json .tags }}}`}},
		{"standard", payload.Spec{}},
	}
	rates := make([]float64, len(runs))
	var rows []row
	for i, r := range runs {
		rc := newReceiver(false)
		rc.unsigned = !payload.Signed(r.spec.Format)
		p, _ := b.run("formats-"+r.name, []subscription.Subscription{{ID: "all", Name: "all", URL: rc.srv.URL, Payload: r.spec}}, func(topic string) {
			check(b.produce(topic, n, 0, func(i int) []byte { return event(i, "info", i, 0) }))
		}, 6)
		if !rc.waitCount(int64(n), 10*time.Minute) {
			check(fmt.Errorf("formats %s: %d of %d delivered", r.name, rc.count.Load(), n))
		}
		cpu, rss := p.usage()
		p.stop()
		rc.close()
		if rc.badSigs.Load() > 0 {
			check(fmt.Errorf("formats %s: %d sampled requests failed their signature check", r.name, rc.badSigs.Load()))
		}
		rates[i] = float64(n) / time.Duration(rc.last.Load()-rc.first.Load()).Seconds()
		if i == 0 || i == len(runs)-1 {
			continue
		}
		rows = append(rows, row{Scenario: fmt.Sprintf("drain as %s: %d events", r.name, n), Deliveries: int64(n), CPUSeconds: cpu, PeakRSS: rss,
			Value: rates[i], Unit: "deliveries/s"})
	}
	standard := (rates[0] + rates[len(rates)-1]) / 2
	for i := range rows {
		rate := rows[i].Value
		ratio := rate / standard
		rows[i].Result = fmt.Sprintf("%.0f deliveries/s = %.1f%% of standard's %.0f (runs %.0f and %.0f)", rate, 100*ratio, standard, rates[0], rates[len(rates)-1])
		rows[i].Value, rows[i].Unit = ratio, "ratio"
		rows[i].Target, rows[i].Met = "≥ 90% of standard", ratio >= 0.9
	}
	return rows
}
