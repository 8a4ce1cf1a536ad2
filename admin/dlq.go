// The dead-letter topic: list and replay.

package admin

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/hookstream/hookstream/dlq"
)

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
