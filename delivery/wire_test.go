package delivery

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream/subscription"
)

// schemes are the two ways an attempt reaches its endpoint: plain HTTP
// over the wire's fasthttp client, HTTPS over net/http. Each test of what
// an attempt does on the wire runs over both.
var schemes = []string{"http", "https"}

// serve starts a test server of scheme with handler h, set up by setup
// first when it is not nil.
func serve(t *testing.T, scheme string, h http.HandlerFunc, setup func(*httptest.Server)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if setup != nil {
		setup(srv)
	}
	if scheme == "https" {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv
}

// senderFor is a loopback sender that trusts srv's certificate.
func senderFor(t *testing.T, srv *httptest.Server, opts SenderOptions) *Sender {
	t.Helper()
	s := loopbackSender(t, opts)
	if srv.TLS != nil {
		s.transport.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
	}
	return s
}

// countConns makes srv count the connections it opens, and those open.
func countConns(opened, open *atomic.Int32) func(*httptest.Server) {
	return func(srv *httptest.Server) {
		srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				opened.Add(1)
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		}
	}
}

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
	for _, scheme := range schemes {
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				srv := serve(t, scheme, func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					w.WriteHeader(tt.status)
					_, _ = w.Write(big)
				}, nil)
				s := senderFor(t, srv, SenderOptions{MaxResponseBytes: 100})
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
}

// TestSendOutlivesAnEndpointsIdleTimeout: an endpoint that closes
// connections left idle gets the next attempt on a connection of its
// own, delivered at the first try, not a failure that goes round the
// retry ladder.
func TestSendOutlivesAnEndpointsIdleTimeout(t *testing.T) {
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			var opened, open atomic.Int32
			count := countConns(&opened, &open)
			srv := serve(t, scheme, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusNoContent)
			}, func(srv *httptest.Server) {
				srv.Config.IdleTimeout = 50 * time.Millisecond
				count(srv)
			})
			s := senderFor(t, srv, SenderOptions{})
			sub := compiled(t, srv.URL, nil)
			for i := range 3 {
				if out := s.Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`))); out.Class != Delivered {
					t.Fatalf("attempt %d after the endpoint closed the idle connection: %s %s: %v", i, out.Class, out.Reason, out.Err)
				}
				time.Sleep(200 * time.Millisecond) // past the endpoint's idle timeout
			}
			if n := opened.Load(); n != 3 {
				t.Errorf("%d connections for 3 attempts each after the last closed, want 3", n)
			}
		})
	}
}

// TestSendKeepsThePath: the request line carries the subscription's
// path and query as written, dot segments, doubled slashes and escapes
// included, as net/url writes them. (A subscription's URL carries no user info: Compile refuses
// it.)
func TestSendKeepsThePath(t *testing.T) {
	tests := []struct{ name, path, want string }{
		{"dot segments and doubled slashes", "/a/./b/../c//d?x=%2F&y=a+b", "/a/./b/../c//d?x=%2F&y=a+b"},
		{"an escaped slash", "/orders%2F42/", "/orders%2F42/"},
		{"an escaped dot segment", "/a/%2e%2e/b", "/a/%2e%2e/b"},
		{"a fragment, which stays home", "/hook?x=1#part", "/hook?x=1"},
		{"a letter beyond ASCII, escaped", "/café?q=é", "/caf%C3%A9?q=é"},
		{"no path", "", "/"},
	}
	for _, scheme := range schemes {
		var got atomic.Value
		srv := serve(t, scheme, func(w http.ResponseWriter, r *http.Request) { got.Store(r.RequestURI) }, nil)
		s := senderFor(t, srv, SenderOptions{})
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				sub := compiled(t, srv.URL+tt.path, nil)
				if out := s.Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`))); out.Class != Delivered {
					t.Fatalf("Send() = %+v", out)
				}
				if g := got.Load(); g != tt.want {
					t.Errorf("the endpoint saw %v, want %s", g, tt.want)
				}
			})
		}
	}
}

// TestSendEndsACanceledAttemptsConnection: an attempt canceled while its
// endpoint has not answered ends at once, and so does its request at the
// endpoint: nothing is left running on the connection until the
// attempt's timeout.
func TestSendEndsACanceledAttemptsConnection(t *testing.T) {
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			arrived, ended := make(chan struct{}), make(chan time.Time, 1)
			srv := serve(t, scheme, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				close(arrived)
				<-r.Context().Done()
				ended <- time.Now()
			}, nil)
			s := senderFor(t, srv, SenderOptions{})
			sub := compiled(t, srv.URL, func(s *subscription.Subscription) { s.Timeout = subscription.Duration(time.Minute) })
			ctx, cancel := context.WithCancel(context.Background())
			outs := make(chan Outcome, 1)
			go func() { outs <- s.Send(ctx, sub, request(sub, "msg_1", []byte(`{}`))) }()
			<-arrived
			canceled := time.Now()
			cancel()
			select {
			case out := <-outs:
				if out.Class != Retryable || out.Reason != ReasonCanceled {
					t.Errorf("Send() = %+v, want retryable canceled", out)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Send() still running 5s after its attempt was canceled")
			}
			select {
			case at := <-ended:
				if d := at.Sub(canceled); d > time.Second {
					t.Errorf("the endpoint saw the request end %s after the cancel", d)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the endpoint's request still open 5s after its attempt was canceled")
			}
		})
	}
}

// TestSendReadsALargeHead: an answer's head up to MaxResponseHeaderBytes
// is read whole, however it compares with the buffer connections are
// read through, and its headers come back as the endpoint sent them.
func TestSendReadsALargeHead(t *testing.T) {
	tests := []struct {
		name string
		pad  int // bytes of headers besides the usual
	}{
		{"small", 0},
		{"beyond a read buffer", 20 << 10},
		{"just under the cap", MaxResponseHeaderBytes - 1<<10},
	}
	for _, scheme := range schemes {
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				srv := serve(t, scheme, func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					for i := range tt.pad / 1000 {
						w.Header().Set(fmt.Sprint("x-pad-", i), strings.Repeat("p", 980))
					}
					w.Header().Set("retry-after", "7")
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = io.WriteString(w, "busy")
				}, nil)
				s := senderFor(t, srv, SenderOptions{})
				sub := compiled(t, srv.URL, nil)
				out := s.Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`)))
				if out.Status != http.StatusServiceUnavailable || out.RetryAfter != 7*time.Second || string(out.Body) != "busy" {
					t.Fatalf("Send() = %d, retry after %s, body %q: %v; want 503, 7s, busy", out.Status, out.RetryAfter, out.Body, out.Err)
				}
				if got := len(out.Header); got != tt.pad/1000+4 { // and Retry-After, Content-Type, Content-Length, Date
					t.Errorf("%d headers, want %d: %v", got, tt.pad/1000+4, slices.Collect(maps.Keys(out.Header)))
				}
			})
		}
	}
}

// TestSendReusesConnections: a connection is used again once its answer
// was read to the end, whatever its framing, and not when the endpoint
// closes it or its body is too long to read to the end.
func TestSendReusesConnections(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		conns   int32 // for 3 attempts
	}{
		{"no body", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }, 1},
		{"a body of known length", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }, 1},
		{"a body longer than the excerpt", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte("a"), 10<<10))
		}, 1},
		{"chunks", func(w http.ResponseWriter, _ *http.Request) {
			for range 3 {
				_, _ = io.WriteString(w, strings.Repeat("c", 3000))
				w.(http.Flusher).Flush()
			}
		}, 1},
		{"connection: close", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		}, 3},
		{"connection: close, the body ending with it", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "b")
			w.(http.Flusher).Flush() // no length: the body ends where the connection does
			_, _ = io.WriteString(w, "ye")
		}, 3},
		{"a body too long to drain", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(bytes.Repeat([]byte("a"), 1<<20))
		}, 3},
	}
	for _, scheme := range schemes {
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				var opened, open atomic.Int32
				srv := serve(t, scheme, func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					tt.handler(w, r)
				}, countConns(&opened, &open))
				s := senderFor(t, srv, SenderOptions{MaxResponseBytes: 100})
				sub := compiled(t, srv.URL, nil)
				for i := range 3 {
					if out := s.Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`))); out.Class != Delivered || len(out.Body) > 100 {
						t.Fatalf("attempt %d: %s %s, %d bytes of body: %v", i, out.Class, out.Reason, len(out.Body), out.Err)
					}
				}
				if n := opened.Load(); n != tt.conns {
					t.Errorf("%d connections for 3 attempts, want %d", n, tt.conns)
				}
			})
		}
	}
}

// TestSendKeepsMaxIdleConnsPerHost: once a burst of attempts to a host
// is answered, the host keeps MaxIdleConnsPerHost connections open and
// the rest are closed.
func TestSendKeepsMaxIdleConnsPerHost(t *testing.T) {
	const burst, keep = 5, 2
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			var opened, open atomic.Int32
			srv := serve(t, scheme, burstServer(burst), countConns(&opened, &open))
			s := senderFor(t, srv, SenderOptions{MaxIdleConnsPerHost: keep})
			sub := compiled(t, srv.URL, nil)
			sendBurst(t, s, sub, burst)
			if n := settled(&open, keep); n != keep {
				t.Errorf("%d connections open after a burst of %d, want %d", n, burst, keep)
			}
			// The connections kept are used again, and kept again.
			for i := range 3 {
				if out := s.Send(context.Background(), sub, request(sub, fmt.Sprint("msg_again_", i), []byte(`{}`))); out.Class != Delivered {
					t.Fatalf("Send() = %+v", out)
				}
			}
			if n, m := open.Load(), opened.Load(); n != keep || m != burst {
				t.Errorf("after 3 more attempts: %d connections open, %d opened in all; want %d and %d", n, m, keep, burst)
			}
			// The wire's count of idle connections follows those the pool
			// closes.
			s.Close()
			s.wire.idle.mu.Lock()
			idle := s.wire.idle.all
			s.wire.idle.mu.Unlock()
			if idle != 0 {
				t.Errorf("%d connections counted idle after the pool closed them all", idle)
			}
		})
	}
}

// TestSendKeepsMaxIdleConnsInAll: the idle connections of every host
// together are capped too (at four times the cap of one, which this test
// lowers to 3).
func TestSendKeepsMaxIdleConnsInAll(t *testing.T) {
	const burst, perHost, total = 5, 2, 3
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			var opened, open atomic.Int32
			srvs := []*httptest.Server{
				serve(t, scheme, burstServer(burst), countConns(&opened, &open)),
				serve(t, scheme, burstServer(burst), countConns(&opened, &open)),
			}
			s := senderFor(t, srvs[0], SenderOptions{MaxIdleConnsPerHost: perHost})
			s.wire.idle.total, s.transport.MaxIdleConns = total, total // the test servers share one certificate
			for _, srv := range srvs {
				sendBurst(t, s, compiled(t, srv.URL, nil), burst)
			}
			if n := settled(&open, total); n != total {
				t.Errorf("%d connections open after bursts of %d to 2 hosts, want %d", n, burst, total)
			}
		})
	}
}

// burstServer answers 204, holding its first n requests until all n have
// come, so that each is on a connection of its own.
func burstServer(n int32) http.HandlerFunc {
	var arrived sync.WaitGroup
	arrived.Add(int(n))
	var requests atomic.Int32
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if requests.Add(1) <= n {
			arrived.Done()
			arrived.Wait()
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// sendBurst sends n attempts to sub at once, each of which must be
// delivered.
func sendBurst(t *testing.T, s *Sender, sub *subscription.Compiled, n int) {
	t.Helper()
	var sent sync.WaitGroup
	for i := range n {
		sent.Go(func() {
			if out := s.Send(context.Background(), sub, request(sub, fmt.Sprint("msg_", i), []byte(`{}`))); out.Class != Delivered {
				t.Errorf("Send() = %+v", out)
			}
		})
	}
	sent.Wait()
}

// settled waits up to 5s for open to read want, as connections close
// behind their answers, and returns what it reads then.
func settled(open *atomic.Int32, want int32) int32 {
	for deadline := time.Now().Add(5 * time.Second); open.Load() != want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	return open.Load()
}

// TestReadStart: the start of an answer's body, whole or cut at the
// limit, and whether the body was read to its end; an answer of a length
// not known is read into an excerpt that grows as it comes, not one of
// the limit's size.
func TestReadStart(t *testing.T) {
	const limit = 1 << 20
	long := strings.Repeat("x", limit+10)
	tests := []struct {
		name   string
		body   string
		n      int64 // the length the answer gives; -1 for none
		want   string
		whole  bool
		maxCap int
	}{
		{"empty, known", "", 0, "", true, 0},
		{"short, known", "ok", 2, "ok", true, 2},
		{"short, not known", "ok", -1, "ok", true, 512},
		{"longer than 512, not known", strings.Repeat("y", 3000), -1, strings.Repeat("y", 3000), true, 4096},
		{"over the limit, known", long, int64(len(long)), long[:limit], true, limit},
		{"over the limit and the drain", long + strings.Repeat("z", drainBytes), -1, long[:limit], false, limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, whole := readStart(strings.NewReader(tt.body), tt.n, limit)
			if string(got) != tt.want || whole != tt.whole {
				t.Errorf("got %d bytes, whole %v; want %d bytes, whole %v", len(got), whole, len(tt.want), tt.whole)
			}
			if cap(got) > tt.maxCap {
				t.Errorf("excerpt of %d bytes holds %d", len(got), cap(got))
			}
		})
	}
}
