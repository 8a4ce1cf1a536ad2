// GET /v1/stats/stream: the live figures of this instance, once a
// second, as Server-Sent Events.

package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hookstream/hookstream/subscription"
)

// Live is one second of an instance, as GET /v1/stats/stream sends it.
// Rates are per second over the last tick; totals count since the
// instance started.
type Live struct {
	Time               time.Time `json:"time"`
	EventsPerSecond    float64   `json:"events_per_s"`
	AttemptsPerSecond  float64   `json:"attempts_per_s"`
	DeliveredPerSecond float64   `json:"delivered_per_s"`
	// SuccessRatio is delivered / attempts over the last tick; null when
	// no attempt was made.
	SuccessRatio     *float64 `json:"success_ratio"`
	InboundPerSecond float64  `json:"inbound_per_s"`
	// InFlight counts the records this instance is working on.
	InFlight int `json:"in_flight"`
	// Rungs and DLQ are read from Kafka every queuesEvery, not each tick.
	Rungs                 []RungBacklog `json:"rungs"`
	DLQ                   int64         `json:"dlq"`
	OpenBreakers          int           `json:"open_breakers"`
	Subscriptions         int           `json:"subscriptions"`
	DisabledSubscriptions int           `json:"disabled_subscriptions"`
	Totals                LiveTotals    `json:"totals"`
}

// LiveTotals are the counters Live's rates are made of.
type LiveTotals struct {
	Events    float64 `json:"events"`
	Attempts  float64 `json:"attempts"`
	Delivered float64 `json:"delivered"`
	Inbound   float64 `json:"inbound"`
}

const (
	// liveTick is how often a snapshot is sent.
	liveTick = time.Second
	// queuesEvery is how often the rung backlogs and DLQ size are read
	// from Kafka (they cost a request to the brokers).
	queuesEvery = 5 * time.Second
	// maxStreams bounds the streams served at once by an instance.
	maxStreams = 256
)

// liveHub makes one snapshot a tick, while anyone listens, and hands the
// same bytes to every stream: the cost does not grow with the streams.
type liveHub struct {
	api *API

	mu      sync.Mutex
	streams map[chan []byte]struct{}
	stop    context.CancelFunc
}

// liveState is what one run of the loop carries from a snapshot to the
// next: a loop stopped by its last stream leaving may still be finishing
// one when a new stream starts the next loop.
type liveState struct {
	prev       LiveTotals
	prevAt     time.Time
	queues     Queues
	queuesAt   time.Time
	disabledOf *subscription.Set
	disabled   int
}

// join adds a stream; the first one starts the loop. It fails when
// maxStreams are open.
func (h *liveHub) join() (chan []byte, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.streams) >= maxStreams {
		return nil, fmt.Errorf("%d streams are open, the most an instance serves", maxStreams)
	}
	if h.streams == nil {
		h.streams = map[chan []byte]struct{}{}
	}
	ch := make(chan []byte, 1)
	h.streams[ch] = struct{}{}
	if h.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.stop = cancel
		go h.loop(ctx)
	}
	return ch, nil
}

// leave removes a stream; the last one stops the loop.
func (h *liveHub) leave(ch chan []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.streams, ch)
	if len(h.streams) == 0 && h.stop != nil {
		h.stop()
		h.stop = nil
	}
}

func (h *liveHub) loop(ctx context.Context) {
	t := time.NewTicker(liveTick)
	defer t.Stop()
	var st liveState
	for {
		b, err := json.Marshal(h.snapshot(ctx, &st))
		if err == nil {
			h.broadcast(b)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// broadcast gives b to every stream; one that has not taken the last
// snapshot yet gets this one instead.
func (h *liveHub) broadcast(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.streams {
		select {
		case <-ch:
		default:
		}
		ch <- b
	}
}

// snapshot reads the instance's figures now; st is the loop's.
func (h *liveHub) snapshot(ctx context.Context, st *liveState) Live {
	o := h.api.opts
	now := o.Now()
	l := Live{Time: now.UTC().Truncate(time.Millisecond)}
	l.Totals, l.InFlight = h.counters()
	if !st.prevAt.IsZero() {
		if secs := now.Sub(st.prevAt).Seconds(); secs > 0 {
			d := func(cur, prev float64) float64 { return max(cur-prev, 0) / secs }
			l.EventsPerSecond = d(l.Totals.Events, st.prev.Events)
			l.AttemptsPerSecond = d(l.Totals.Attempts, st.prev.Attempts)
			l.DeliveredPerSecond = d(l.Totals.Delivered, st.prev.Delivered)
			l.InboundPerSecond = d(l.Totals.Inbound, st.prev.Inbound)
			if l.AttemptsPerSecond > 0 {
				r := min(l.DeliveredPerSecond/l.AttemptsPerSecond, 1)
				l.SuccessRatio = &r
			}
		}
	}
	st.prev, st.prevAt = l.Totals, now
	if o.Queues != nil && now.Sub(st.queuesAt) >= queuesEvery {
		qctx, cancel := context.WithTimeout(ctx, queuesEvery)
		if q, err := o.Queues(qctx); err == nil {
			st.queues = q
		}
		cancel()
		st.queuesAt = now
	}
	l.Rungs, l.DLQ = st.queues.Rungs, st.queues.DLQ.Records
	if l.Rungs == nil {
		l.Rungs = []RungBacklog{}
	}
	if o.Sender != nil {
		l.OpenBreakers = o.Sender.OpenBreakers()
	}
	if o.Cache != nil {
		set := o.Cache.Current()
		if set != st.disabledOf {
			st.disabledOf, st.disabled = set, 0
			for _, s := range set.All() {
				if !s.Enabled {
					st.disabled++
				}
			}
		}
		l.Subscriptions, l.DisabledSubscriptions = set.Len(), st.disabled
	}
	return l
}

// counters reads from the metrics registry the counters Live is made of
// and the records in flight.
func (h *liveHub) counters() (t LiveTotals, inFlight int) {
	if h.api.opts.Gatherer == nil {
		return t, 0
	}
	families, err := h.api.opts.Gatherer.Gather()
	if err != nil {
		return t, 0
	}
	for _, f := range families {
		switch f.GetName() {
		case "hookstream_in_flight_records":
			for _, m := range f.GetMetric() {
				inFlight += int(m.GetGauge().GetValue())
			}
		case "hookstream_events_consumed_total":
			t.Events = sum(f, nil)
		case "hookstream_delivery_attempts_total":
			t.Attempts = sum(f, nil)
			t.Delivered = sum(f, func(m *dto.Metric) bool { return label(m, "outcome") == "delivered" })
		case "hookstream_inbound_requests_total":
			t.Inbound = sum(f, func(m *dto.Metric) bool {
				o := label(m, "outcome")
				return o == "published" || o == "duplicate" || o == "answered"
			})
		}
	}
	return t, inFlight
}

// sum adds the counters of f that keep passes (all when nil).
func sum(f *dto.MetricFamily, keep func(*dto.Metric) bool) float64 {
	var n float64
	for _, m := range f.GetMetric() {
		if keep == nil || keep(m) {
			n += m.GetCounter().GetValue()
		}
	}
	return n
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// statsStream serves the live figures as text/event-stream: an event
// "stats" each second with a Live as its data, until the client leaves.
func (a *API) statsStream(w http.ResponseWriter, r *http.Request) {
	ch, err := a.live.join()
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer a.live.leave(ch)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// Reconnect after 2 s when the connection drops.
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	_ = rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case b := <-ch:
			// Each write gets its own deadline: the stream lives longer
			// than the listener's write timeout.
			_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := fmt.Fprintf(w, "event: stats\ndata: %s\n\n", b); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}
