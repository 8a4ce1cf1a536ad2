// Package httpserve runs hookstream's HTTP listeners with bounded work per
// connection: a request's headers and body must arrive within a deadline
// and its response leave within another, however slowly a client sends or
// reads, and no more than a set number of connections are served at once.
// Beyond that number a connection is still accepted, briefly, to answer
// the probes (liveness, readiness, metrics), so that a flood of slow
// clients cannot make an orchestrator think the process is dead.
package httpserve

import (
	"context"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound the work of a listener.
type Limits struct {
	// MaxConns is how many connections are served at once. Default 1024.
	MaxConns int
	// ReadTimeout bounds the time to read a request, headers and body.
	// Default 15s.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time to write a response; a handler that
	// needs longer extends its own (http.ResponseController). Default 60s.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection idle that long. Default
	// 60s.
	IdleTimeout time.Duration
	// Probes are the paths a connection beyond MaxConns may ask for; it
	// is answered within ProbeTimeout and closed.
	Probes []string
	// ProbeTimeout bounds a connection beyond MaxConns. Default 2s.
	ProbeTimeout time.Duration
}

func (l *Limits) defaults() {
	if l.MaxConns <= 0 {
		l.MaxConns = 1024
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = 15 * time.Second
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = time.Minute
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = time.Minute
	}
	if l.ProbeTimeout <= 0 {
		l.ProbeTimeout = 2 * time.Second
	}
}

// Server is an http.Server that serves within Limits.
type Server struct {
	*http.Server
	limits Limits
	open   atomic.Int64 // connections served
	over   atomic.Int64 // connections beyond MaxConns, answering probes

	mu     sync.Mutex
	beyond []*conn // connections beyond MaxConns, oldest first
}

// New returns a Server of h.
func New(h http.Handler, limits Limits) *Server {
	limits.defaults()
	s := &Server{limits: limits}
	s.Server = &http.Server{
		Handler:           s.guard(h),
		ReadHeaderTimeout: min(limits.ReadTimeout, 10*time.Second),
		ReadTimeout:       limits.ReadTimeout,
		WriteTimeout:      limits.WriteTimeout,
		IdleTimeout:       limits.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if oc, ok := c.(*conn); ok && oc.overflow {
				return context.WithValue(ctx, overflowKey{}, true)
			}
			return ctx
		},
	}
	return s
}

// Serve accepts connections on ln until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(&listener{Listener: ln, s: s})
}

// Conns returns the connections open now: served, and beyond MaxConns.
func (s *Server) Conns() (served, over int) {
	return int(s.open.Load()), int(s.over.Load())
}

type overflowKey struct{}

// guard answers only probes on a connection beyond MaxConns, and closes
// it after the answer.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(overflowKey{}) == nil {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Connection", "close")
		if !slices.Contains(s.limits.Probes, r.URL.Path) {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"too many connections; try again"}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// listener counts the connections it hands out and marks those beyond
// MaxConns.
type listener struct {
	net.Listener
	s *Server
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	s := l.s
	if s.open.Add(1) <= int64(s.limits.MaxConns) {
		return &conn{Conn: c, count: &s.open}, nil
	}
	s.open.Add(-1)
	return s.admitBeyond(c), nil
}

// admitBeyond takes c beyond the cap, to answer a probe within
// ProbeTimeout. Room beyond the cap is small; when it is full the oldest
// connection there is closed for c, so that clients holding connections
// open cannot keep a probe out.
func (s *Server) admitBeyond(c net.Conn) *conn {
	limit := time.Now().Add(s.limits.ProbeTimeout)
	_ = c.SetDeadline(limit)
	oc := &conn{Conn: c, count: &s.over, overflow: true, limit: limit, s: s}
	s.mu.Lock()
	var oldest *conn
	if len(s.beyond) >= max(16, s.limits.MaxConns/8) {
		oldest = s.beyond[0]
		s.beyond = s.beyond[1:]
	}
	s.beyond = append(s.beyond, oc)
	s.mu.Unlock()
	if oldest != nil {
		oldest.Close()
	}
	s.over.Add(1)
	return oc
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.beyond, c); i >= 0 {
		s.beyond = slices.Delete(s.beyond, i, i+1)
	}
}

// conn is a connection counted until it is closed. One beyond MaxConns
// never gets a deadline later than its limit.
type conn struct {
	net.Conn
	count    *atomic.Int64
	once     sync.Once
	overflow bool
	limit    time.Time
	s        *Server // of a connection beyond the cap
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.count.Add(-1)
		if c.s != nil {
			c.s.forget(c)
		}
	})
	return c.Conn.Close()
}

func (c *conn) clamp(t time.Time) time.Time {
	if c.overflow && (t.IsZero() || t.After(c.limit)) {
		return c.limit
	}
	return t
}

func (c *conn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.clamp(t)) }
