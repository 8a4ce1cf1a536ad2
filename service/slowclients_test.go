package service

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
)

// TestSlowClientsCannotHoldTheAdminAPI: clients that declare a body and
// send it a byte at a time take every connection the admin API serves;
// the probes still answer at once, other routes say to come back, and
// each slow client is cut off at the read deadline.
func TestSlowClientsCannotHoldTheAdminAPI(t *testing.T) {
	e := newEnv(t)
	e.cfg.Admin.MaxConnections = 8
	e.cfg.Admin.ReadTimeout = 500 * time.Millisecond
	in := e.start()
	addr := strings.TrimPrefix(in.base, "http://")

	slow := testenv.SlowClients(t, addr, 40)
	time.Sleep(100 * time.Millisecond)
	client := &http.Client{Timeout: 2 * time.Second}
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/healthz", http.StatusOK},
		{"/readyz", http.StatusOK},
		{"/metrics", http.StatusOK},
		{"/v1/subscriptions", http.StatusServiceUnavailable},
	} {
		start := time.Now()
		resp, err := client.Get(in.base + tt.path)
		if err != nil {
			t.Fatalf("%s with every connection taken: %v", tt.path, err)
		}
		resp.Body.Close()
		if took := time.Since(start); resp.StatusCode != tt.status || took > time.Second {
			t.Errorf("%s: %d in %s, want %d at once", tt.path, resp.StatusCode, took, tt.status)
		}
	}
	start := time.Now()
	for _, c := range slow {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("a slow client still connected 3s on: %v", err)
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("slow clients held on for %s with a 500ms read deadline", took)
	}
	if status, body := in.do(t, http.MethodGet, "/v1/subscriptions", nil); status != http.StatusOK {
		t.Errorf("after the slow clients: %d %s", status, body)
	}
}
