package httpserve

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
)

// start serves a handler that reads the body and answers 204, with
// limits, on a loopback port.
func start(t *testing.T, limits Limits) (*Server, string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := New(mux, limits)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return s, ln.Addr().String()
}

// TestSlowClientsAreCutOff: a client that sends its body slower than the
// read deadline allows loses its connection at the deadline.
func TestSlowClientsAreCutOff(t *testing.T) {
	s, addr := start(t, Limits{ReadTimeout: 300 * time.Millisecond})
	conns := testenv.SlowClients(t, addr, 50)
	testenv.Eventually(t, 2*time.Second, func() bool { served, _ := s.Conns(); return served == 50 }, "50 connections not open")
	start := time.Now()
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			t.Fatalf("a slow client's connection still open 3s on: %v", err)
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("slow clients held their connections %s with a 300ms read deadline", took)
	}
	testenv.Eventually(t, 2*time.Second, func() bool { served, over := s.Conns(); return served+over == 0 }, "connections still counted")
}

// TestProbesAnswerBeyondTheCap: with every connection taken by slow
// clients, a probe is still answered at once, and anything else is told
// to come back.
func TestProbesAnswerBeyondTheCap(t *testing.T) {
	s, addr := start(t, Limits{MaxConns: 10, ReadTimeout: 10 * time.Second, Probes: []string{"/healthz"}})
	testenv.SlowClients(t, addr, 30)
	testenv.Eventually(t, 2*time.Second, func() bool { served, _ := s.Conns(); return served == 10 }, "the cap not reached")
	tests := []struct {
		path   string
		status int
	}{
		{"/healthz", http.StatusNoContent},
		{"/v1/subscriptions", http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			_ = c.SetDeadline(start.Add(3 * time.Second))
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", tt.path)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer with every connection taken: %v", err)
			}
			resp.Body.Close()
			if took := time.Since(start); resp.StatusCode != tt.status || took > time.Second {
				t.Errorf("%s: %d in %s, want %d at once", tt.path, resp.StatusCode, took, tt.status)
			}
			if !resp.Close {
				t.Error("a connection beyond the cap is kept alive")
			}
		})
	}
}

// TestConnectionsBeyondTheCapAreBrief: a connection beyond the cap that
// says nothing is closed after ProbeTimeout, and of a flood of them only
// the newest few are kept.
func TestConnectionsBeyondTheCapAreBrief(t *testing.T) {
	s, addr := start(t, Limits{MaxConns: 4, ReadTimeout: 10 * time.Second, ProbeTimeout: 200 * time.Millisecond})
	testenv.SlowClients(t, addr, 4)
	testenv.Eventually(t, 2*time.Second, func() bool { served, _ := s.Conns(); return served == 4 }, "the cap not reached")
	var idle []net.Conn
	for range 100 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		idle = append(idle, c)
	}
	_, over := s.Conns()
	if over > 16 {
		t.Errorf("%d connections beyond the cap kept, want at most 16", over)
	}
	for _, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("a silent connection beyond the cap still open: %v", err)
		}
	}
	testenv.Eventually(t, time.Second, func() bool { _, over := s.Conns(); return over == 0 }, "connections beyond the cap still counted")
}
