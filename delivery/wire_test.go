package delivery

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestSendReadsOnlyTheStartOfAnAnswer: an answer's body, however large,
// is read for its first MaxResponseBytes and does not change the
// attempt's outcome.
func TestSendReadsOnlyTheStartOfAnAnswer(t *testing.T) {
	big := bytes.Repeat([]byte("a"), 1<<20)
	tests := []struct {
		name   string
		status int
		class  Class
	}{
		{"delivered", http.StatusOK, Delivered},
		{"refused", http.StatusInternalServerError, Retryable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(tt.status)
				_, _ = w.Write(big)
			}))
			t.Cleanup(srv.Close)
			s := loopbackSender(t, SenderOptions{MaxResponseBytes: 100})
			sub := compiled(t, srv.URL, nil)
			out := s.Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`)))
			if out.Class != tt.class || out.Status != tt.status {
				t.Fatalf("Send() = %s %d, want %s %d: %v", out.Class, out.Status, tt.class, tt.status, out.Err)
			}
			if string(out.Body) != string(big[:100]) {
				t.Errorf("body excerpt of %d bytes, want the first 100", len(out.Body))
			}
		})
	}
}

// TestSendOutlivesAnEndpointsIdleTimeout: an endpoint that closes
// connections left idle gets the next attempt on a connection of its
// own, delivered at the first try, not a failure that goes round the
// retry ladder.
func TestSendOutlivesAnEndpointsIdleTimeout(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.IdleTimeout = 50 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s := loopbackSender(t, SenderOptions{})
	sub := compiled(t, srv.URL, nil)
	for i := range 3 {
		if out := s.Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`))); out.Class != Delivered {
			t.Fatalf("attempt %d after the endpoint closed the idle connection: %s %s: %v", i, out.Class, out.Reason, out.Err)
		}
		time.Sleep(200 * time.Millisecond) // past the endpoint's idle timeout
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections for 3 attempts each after the last closed, want 3", n)
	}
}

// TestSendKeepsThePath: the request line carries the subscription's
// path and query as written, dot segments, doubled slashes and escapes
// included. (A subscription's URL carries no user info: Compile refuses
// it.)
func TestSendKeepsThePath(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Store(r.RequestURI) }))
	t.Cleanup(srv.Close)
	tests := []struct{ name, path string }{
		{"dot segments and doubled slashes", "/a/./b/../c//d?x=%2F&y=a+b"},
		{"an escaped slash", "/orders%2F42/"},
		{"an escaped dot segment", "/a/%2e%2e/b"},
	}
	s := loopbackSender(t, SenderOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := compiled(t, srv.URL+tt.path, nil)
			if out := s.Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`))); out.Class != Delivered {
				t.Fatalf("Send() = %+v", out)
			}
			if g := got.Load(); g != tt.path {
				t.Errorf("the endpoint saw %v, want %s", g, tt.path)
			}
		})
	}
}
