// GET /v1/subscriptions/{id}/attempts: recent delivery attempts.

package admin

import (
	"net/http"
)

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
