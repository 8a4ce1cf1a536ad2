// GET /v1/stats: totals from the delivery history, and the queues.

package admin

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hookstream/hookstream/history"
	"github.com/hookstream/hookstream/subscription"
)

// Queues are the Kafka-side figures of GET /v1/stats.
type Queues struct {
	// InFlight counts records this instance is working on.
	InFlight int           `json:"in_flight"`
	Rungs    []RungBacklog `json:"rungs"`
	DLQ      DLQSize       `json:"dlq"`
}

// RungBacklog is how many records wait on one retry rung, across every
// instance: its consumer group's lag.
type RungBacklog struct {
	Rung    string `json:"rung"`
	Topic   string `json:"topic"`
	Backlog int64  `json:"backlog"`
}

// DLQSize counts the records the DLQ topic holds.
type DLQSize struct {
	Topic   string `json:"topic"`
	Records int64  `json:"records"`
}

// subscriptionStats is one subscription's line of GET /v1/stats.
type subscriptionStats struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	Enabled     bool    `json:"enabled"`
	SuccessRate float64 `json:"success_rate"`
	// Breaker is the state of the endpoint's circuit breaker on the
	// answering instance: closed, open or half-open.
	Breaker string `json:"breaker,omitempty"`
	history.Totals
}

type totalStats struct {
	SuccessRate float64 `json:"success_rate"`
	history.Totals
}

// stats answers totals and per-subscription success rates from the
// delivery history, and the queues from Kafka.
func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	// Each subscription's line and its URL, for its breaker: the rest of
	// a stored subscription is not kept.
	var subs []subscriptionStats
	var urls []string
	_, err := a.opts.Store.Load(r.Context(), func(s subscription.Subscription) {
		subs = append(subs, subscriptionStats{ID: s.ID, Name: s.Name, Enabled: s.Enabled})
		urls = append(urls, s.URL)
	})
	if err != nil {
		a.unavailable(w, err)
		return
	}
	ids := make([]string, len(subs))
	for i, s := range subs {
		ids[i] = s.ID
	}
	totals := map[string]history.Totals{}
	if a.opts.History != nil {
		if totals, err = a.opts.History.Totals(r.Context(), ids); err != nil {
			a.unavailable(w, err)
			return
		}
	}
	var all history.Totals
	for i := range subs {
		t := totals[subs[i].ID]
		all = all.Add(t)
		subs[i].SuccessRate, subs[i].Totals = t.SuccessRate(), t
		if a.opts.Sender != nil {
			subs[i].Breaker = a.opts.Sender.BreakerState(urls[i])
		}
	}
	slices.SortFunc(subs, func(a, b subscriptionStats) int { return strings.Compare(a.ID, b.ID) })
	if subs == nil {
		subs = []subscriptionStats{}
	}
	resp := map[string]any{
		"totals":        totalStats{SuccessRate: all.SuccessRate(), Totals: all},
		"subscriptions": subs,
	}
	if a.opts.Queues != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		q, err := a.opts.Queues(ctx)
		cancel()
		if err != nil {
			a.unavailable(w, err)
			return
		}
		resp["in_flight"], resp["rungs"], resp["dlq"] = q.InFlight, q.Rungs, q.DLQ
	}
	writeJSON(w, http.StatusOK, resp)
}
