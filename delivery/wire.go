package delivery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// wire posts attempts to plain-HTTP endpoints over fasthttp's HTTP/1.1
// client, which spends much less CPU per request than net/http's (see
// BENCHMARKS.md). HTTPS endpoints keep net/http, which negotiates
// HTTP/2. wire is also the fasthttp.RoundTripper of its client: it holds
// each attempt's connection itself, so that the attempt's context can
// end it, and reads only the start of the answer.
type wire struct {
	client  fasthttp.Client
	maxBody int
	idle    idleConns
}

// Settings of the wire's client.
const (
	// wireIdle is how long a connection may stay idle in the pool, as
	// net/http's IdleConnTimeout in NewSender.
	wireIdle = 90 * time.Second
	// wireTries bounds the tries of one attempt: each try after the
	// first is on another pooled connection, after the one before turned
	// out closed by the endpoint before it answered.
	wireTries = 8
)

// newWire returns a wire that dials through dialer, reads up to maxBody
// bytes of an answer's body, and keeps up to maxIdlePerHost idle
// connections to a host and four times as many in all, as NewSender's
// net/http transport does.
func newWire(dialer *net.Dialer, maxBody int64, maxIdlePerHost int) *wire {
	w := &wire{maxBody: int(maxBody), idle: idleConns{perHost: maxIdlePerHost, total: 4 * maxIdlePerHost}}
	w.client = fasthttp.Client{
		Transport: w,
		DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
			if timeout <= 0 || timeout > dialer.Timeout {
				timeout = dialer.Timeout
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			c, err := dialer.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return &wireConn{Conn: c, host: addr, idle: &w.idle}, nil
		},
		// Attempts in flight to an endpoint are capped by its slots.
		MaxConnsPerHost:     math.MaxInt32,
		MaxIdleConnDuration: wireIdle,
		// The most recently used connection is the least likely to have
		// been closed by the endpoint in the meantime.
		ConnPoolStrategy:          fasthttp.LIFO,
		MaxIdemponentCallAttempts: wireTries,
		// RoundTrip says which failures may be tried again; every one it
		// says may, may.
		RetryIfErr:                    func(*fasthttp.Request, int, error) (bool, bool) { return false, true },
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
		// An error never quotes what was sent or answered.
		ConfigureClient: func(hc *fasthttp.HostClient) error { hc.SecureErrorLogMessage = true; return nil },
	}
	return w
}

// wireAttempt is what one attempt's request carries to RoundTrip: the
// context that ends it, and the start of the answer's body it reads.
type wireAttempt struct {
	ctx     context.Context
	excerpt []byte
}

type wireAttemptKey struct{}

// post sends body with headers h to url (an http:// URL, written as its
// request line is to carry it) and returns the answer's status, its
// headers and the start of its body.
func (w *wire) post(ctx context.Context, url string, h http.Header, body []byte) (*http.Response, []byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	req.Header.SetMethod(http.MethodPost)
	// Names go out as h has them, and no Content-Type it lacks: as
	// net/http sends them.
	req.Header.DisableNormalizing()
	req.Header.SetNoDefaultContentType(true)
	for k, vs := range h {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.SetBodyRaw(body)
	a := &wireAttempt{ctx: ctx}
	req.SetUserValue(wireAttemptKey{}, a)
	resp.StreamBody = true
	if err := w.client.Do(req, resp); err != nil {
		return nil, nil, err
	}
	return answer(resp), a.excerpt, nil
}

// answer is resp's status and headers as net/http has them.
func answer(resp *fasthttp.Response) *http.Response {
	out := &http.Response{StatusCode: resp.StatusCode(), Header: make(http.Header, resp.Header.Len())}
	for k, v := range resp.Header.All() {
		out.Header.Add(string(k), string(v))
	}
	return out
}

// RoundTrip makes one try of an attempt on a connection of hc's: it
// writes the request, reads the answer's head and the start of its body,
// and pools the connection again if the body was read to its end. The
// attempt's deadline is the connection's, and its cancellation sets a
// deadline past. A try may be made again (retry) only when it was on a
// pooled connection that failed before any of the answer came, as
// net/http's transport does for a request whose body it can send again.
func (w *wire) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (retry bool, err error) {
	a, _ := req.UserValue(wireAttemptKey{}).(*wireAttempt)
	if a == nil {
		return false, errors.New("delivery: a request without its attempt")
	}
	if err := a.ctx.Err(); err != nil {
		return false, err
	}
	deadline, _ := a.ctx.Deadline()
	cc, err := hc.AcquireConn(time.Until(deadline), false)
	if err != nil {
		return false, err
	}
	conn := cc.Conn().(*wireConn) // dialled by the client's DialTimeout
	pooled := !cc.LastUseTime().IsZero()
	w.idle.leave(conn)
	if err := conn.SetDeadline(deadline); err != nil {
		hc.CloseConn(cc)
		return false, err
	}
	stop := context.AfterFunc(a.ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	reuse := false
	defer func() {
		if stop() && reuse && w.idle.keep(conn) {
			hc.ReleaseConn(cc)
		} else {
			hc.CloseConn(cc)
		}
	}()

	bw := hc.AcquireWriter(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		return pooled && again(a.ctx, err), err
	}

	br := hc.AcquireReader(conn)
	defer hc.ReleaseReader(br)
	r := br
	resp.Header.DisableNormalizing()
	err = resp.ReadLimitBody(r, 0)
	if _, small := errors.AsType[*fasthttp.ErrSmallBuffer](err); small {
		r, err = readLargeHead(br, conn, resp)
	}
	if err != nil {
		return pooled && errors.Is(err, io.EOF) && again(a.ctx, err), err
	}
	reuse = true // an answer without a body, such as a 204
	if body := resp.BodyStream(); body != nil {
		n := resp.Header.ContentLength()
		a.excerpt, reuse = readStart(body, int64(n), int64(w.maxBody))
		_ = resp.CloseBodyStream() // the body is only read
		// A body that ends where its connection does (neither a length
		// nor chunks) leaves nothing to reuse.
		reuse = reuse && n != -2
	}
	// Nor does a head read through a buffer of its own.
	reuse = reuse && !resp.ConnectionClose() && r == br
	return false, nil
}

// readLargeHead reads again, through a buffer as large as the cap on
// it, the answer whose head did not fit br: the reader it returns goes
// on with what br had read. The connection goes with that buffer.
func readLargeHead(br *bufio.Reader, conn net.Conn, resp *fasthttp.Response) (*bufio.Reader, error) {
	head, _ := br.Peek(br.Buffered())
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(head), conn), MaxResponseHeaderBytes)
	resp.Header.DisableNormalizing()
	return r, resp.ReadLimitBody(r, 0)
}

// again says whether a try that failed with err, before any of its
// answer came, may be made again on another connection: not when the
// attempt is over, nor when its time is.
func again(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !timedOut(err)
}

// idleConns counts the wire's idle connections, by host and in all, so
// that its pool keeps no more than its caps: fasthttp keeps every
// connection a request hands back until it has been idle for wireIdle.
type idleConns struct {
	perHost, total int

	mu    sync.Mutex
	hosts map[string]int // idle connections by host; a host with none has no entry
	all   int
}

// wireConn is a connection of the wire's, which knows its host and
// whether it is idle in the pool.
type wireConn struct {
	net.Conn
	host string
	idle *idleConns
	in   bool // idle in the pool; under idle.mu
}

// keep says whether c, done with, may go back to the pool, and counts it
// idle when it may.
func (ic *idleConns) keep(c *wireConn) bool {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.hosts[c.host] >= ic.perHost || ic.all >= ic.total {
		return false
	}
	if ic.hosts == nil {
		ic.hosts = make(map[string]int)
	}
	ic.hosts[c.host]++
	ic.all++
	c.in = true
	return true
}

// leave stops counting c idle, if it was: a request took it, or it is
// closed.
func (ic *idleConns) leave(c *wireConn) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if !c.in {
		return
	}
	c.in = false
	ic.all--
	if ic.hosts[c.host]--; ic.hosts[c.host] == 0 {
		delete(ic.hosts, c.host)
	}
}

// Close closes c, which no longer counts as idle if it was: the pool
// closes the connections idle for longer than wireIdle.
func (c *wireConn) Close() error {
	c.idle.leave(c)
	return c.Conn.Close()
}

// aLongTimeAgo is a deadline that has passed: setting it on a connection
// ends what is reading or writing on it.
var aLongTimeAgo = time.Unix(1, 0)
