// The probes: liveness and readiness.

package admin

import (
	"context"
	_ "embed"
	"net/http"
	"time"
)

func (a *API) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]Check{}
	if a.opts.Cache != nil {
		if since, err := a.opts.Cache.Health(); err != nil {
			checks["redis"] = Check{Status: "down", Error: "matching with cached subscriptions: " + err.Error(), Since: since}
		} else {
			checks["redis"] = Check{Status: "up"}
		}
	}
	if a.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		for k, v := range a.opts.Ready(ctx) {
			checks[k] = v
		}
		cancel()
	}
	status, code := "ready", http.StatusOK
	for _, c := range checks {
		if c.Status != "up" {
			status, code = "degraded", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, map[string]any{"status": status, "checks": checks})
}
