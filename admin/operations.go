package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookstream/hookstream/dlq"
	"github.com/hookstream/hookstream/history"
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
	history.Totals
}

type totalStats struct {
	SuccessRate float64 `json:"success_rate"`
	history.Totals
}

// attempts lists a subscription's recent delivery attempts, newest first:
// ?limit (1–1000, default 50).
func (a *API) attempts(w http.ResponseWriter, r *http.Request) {
	if a.opts.History == nil {
		writeProblem(w, http.StatusNotFound, "delivery history is off (history.attempts is 0)")
		return
	}
	limit, ok := intParam(w, r, "limit", 50, 1, 1000)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if _, ok := a.load(w, r, id); !ok {
		return
	}
	list, err := a.opts.History.Attempts(r.Context(), id, limit)
	if err != nil {
		a.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
}

// stats answers totals and per-subscription success rates from the
// delivery history, and the queues from Kafka.
func (a *API) stats(w http.ResponseWriter, r *http.Request) {
	snap, err := a.opts.Store.Load(r.Context())
	if err != nil {
		a.unavailable(w, err)
		return
	}
	sortByID(snap.Subs)
	ids := make([]string, len(snap.Subs))
	for i, s := range snap.Subs {
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
	subs := make([]subscriptionStats, 0, len(snap.Subs))
	for _, s := range snap.Subs {
		t := totals[s.ID]
		all = all.Add(t)
		subs = append(subs, subscriptionStats{ID: s.ID, Name: s.Name, Enabled: s.Enabled, SuccessRate: t.SuccessRate(), Totals: t})
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

// dlqFilter reads the selection of GET /v1/dlq from the query.
func dlqFilter(r *http.Request) (dlq.Filter, []FieldError) {
	q := r.URL.Query()
	f := dlq.Filter{Subscription: q.Get("subscription")}
	var fields []FieldError
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if q.Has(p.name) {
			t, err := time.Parse(time.RFC3339Nano, q.Get(p.name))
			if err != nil {
				fields = append(fields, FieldError{Field: p.name, Message: "must be an RFC 3339 time"})
			}
			*p.to = t
		}
	}
	return f, fields
}

// listDLQ pages through the DLQ: ?subscription, ?since, ?until (RFC 3339),
// ?limit (1–1000, default 100), ?cursor.
func (a *API) listDLQ(w http.ResponseWriter, r *http.Request) {
	if a.opts.DLQ == nil {
		writeProblem(w, http.StatusNotFound, "no DLQ reader is configured")
		return
	}
	f, fields := dlqFilter(r)
	limit, ok := intParam(w, r, "limit", 100, 1, 1000)
	if !ok {
		return
	}
	if len(fields) > 0 {
		writeProblem(w, http.StatusBadRequest, "invalid query parameters", fields...)
		return
	}
	page, err := a.opts.DLQ.List(r.Context(), f, limit, r.URL.Query().Get("cursor"))
	if a.dlqError(w, err) {
		return
	}
	if page.Records == nil {
		page.Records = []dlq.Record{}
	}
	writeJSON(w, http.StatusOK, page)
}

// replayRequest is the body of POST /v1/dlq/replay.
type replayRequest struct {
	Subscription string   `json:"subscription" validate:"omitempty,max=64"`
	Since        string   `json:"since"`
	Until        string   `json:"until"`
	IDs          []string `json:"ids" validate:"omitempty,max=1000,dive,max=40"`
	// All must be true to replay the whole DLQ, so that an empty body
	// cannot do it by accident.
	All    bool   `json:"all"`
	DryRun bool   `json:"dry_run"`
	Cursor string `json:"cursor" validate:"omitempty,max=200"`
}

// replayDLQ re-enqueues the selected DLQ deliveries on the first rung.
func (a *API) replayDLQ(w http.ResponseWriter, r *http.Request) {
	if a.opts.DLQ == nil {
		writeProblem(w, http.StatusNotFound, "no DLQ reader is configured")
		return
	}
	var req replayRequest
	if !a.decode(w, r, &req) {
		return
	}
	f := dlq.Filter{Subscription: req.Subscription, IDs: req.IDs}
	var fields []FieldError
	for _, p := range []struct {
		name, value string
		to          *time.Time
	}{{"since", req.Since, &f.Since}, {"until", req.Until, &f.Until}} {
		if p.value == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, p.value)
		if err != nil {
			fields = append(fields, FieldError{Field: p.name, Message: "must be an RFC 3339 time"})
		}
		*p.to = t
	}
	for i, id := range req.IDs {
		if _, _, err := dlq.ParseID(id); err != nil {
			fields = append(fields, FieldError{Field: "ids[" + strconv.Itoa(i) + "]", Message: err.Error()})
		}
	}
	if f.Subscription == "" && f.Since.IsZero() && f.Until.IsZero() && len(f.IDs) == 0 && !req.All {
		fields = append(fields, FieldError{Field: "all",
			Message: "must be true to replay the whole DLQ; otherwise give subscription, since, until or ids"})
	}
	if len(fields) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "the request has invalid fields", fields...)
		return
	}
	res, err := a.opts.DLQ.Replay(r.Context(), f, req.Cursor, req.DryRun)
	if a.dlqError(w, err) {
		return
	}
	a.opts.Logger.Info().Str("subscription", req.Subscription).Int("replayed", res.Replayed).
		Int("matched", res.Matched).Bool("dry_run", req.DryRun).Msg("dlq replayed")
	writeJSON(w, http.StatusOK, res)
}

func (a *API) dlqError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, dlq.ErrBadCursor):
		writeProblem(w, http.StatusBadRequest, "invalid query parameters", FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
	default:
		a.unavailable(w, err)
	}
	return true
}

// intParam reads an optional whole-number query parameter in [lo, hi],
// writing a 400 and returning false when it is bad.
func intParam(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int) (int, bool) {
	q := r.URL.Query()
	if !q.Has(name) {
		return def, true
	}
	n, err := strconv.Atoi(q.Get(name))
	if err != nil || n < lo || n > hi {
		writeProblem(w, http.StatusBadRequest, "invalid query parameters",
			FieldError{Field: name, Message: fmt.Sprintf("must be a whole number from %d to %d", lo, hi)})
		return 0, false
	}
	return n, true
}
