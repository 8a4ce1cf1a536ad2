// Package delivery sends webhooks over HTTP: it posts a rendered, signed
// request through pooled connections behind a network guard, per-endpoint
// circuit breakers, slots and rate limits, and classifies the outcome.
// What a delivery looks like is package payload's; where a failed one
// goes next is package retry's.
package delivery

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/internal/deadline"
	"github.com/hookstream/hookstream/subscription"
)

// SenderOptions configure a Sender.
type SenderOptions struct {
	// UserAgent is sent with every request. Default "hookstream".
	UserAgent string
	// Guard decides which addresses may be reached. Default: only publicly
	// routable ones.
	Guard *Guard
	// MaxResponseBytes is how much of a response body is read. Default 4096.
	MaxResponseBytes int64
	// KeepDelivered makes delivered attempts carry what they sent
	// (Outcome.Sent) as failed ones always do, for a history that keeps
	// every request.
	KeepDelivered bool
	// MaxIdleConnsPerHost sizes the keep-alive pool per host. Default 64.
	MaxIdleConnsPerHost int
	// BreakerFailures consecutive failures open an endpoint's breaker; 0
	// disables breakers.
	BreakerFailures int
	// BreakerCooldown is how long a breaker that opens refuses attempts
	// before it lets one probe through; each failed probe doubles it, up
	// to BreakerMaxCooldown. A hookstream sets them to its first and last
	// rung's delays. Defaults 1s and 8s.
	BreakerCooldown    time.Duration
	BreakerMaxCooldown time.Duration
	// MaxPerEndpoint caps the attempts in flight to one endpoint URL, so a
	// slow endpoint cannot hold every worker; 0 means no cap.
	MaxPerEndpoint int
	// EndpointWait is how long an attempt waits for a slot of a capped
	// endpoint whose latency is not known yet before it is put off without
	// being made. An endpoint whose recent latency is under twice this is
	// waited for up to a second; a slower one is put off at once. Default
	// 50ms.
	EndpointWait time.Duration
	// Limiter, when set, paces attempts: to a subscription's endpoint at
	// its rate limit, else to a host at HostRateLimit, and after an
	// endpoint's 429 with a Retry-After.
	Limiter *Limiter
	// HostRateLimit paces the attempts to each destination host whose
	// subscriptions set no rate limit of their own. Default none.
	HostRateLimit RateLimit
	// SlowdownFor is how long a 429 lowers an endpoint's pace on this
	// worker, to half what it was sent. Default 1m.
	SlowdownFor time.Duration
	// RateWait is the longest an attempt waits for its turn before it is
	// put off without being made. A hookstream sets it to its first
	// rung's delay. Default 1s.
	RateWait time.Duration
	// Tokens caches OAuth2 tokens. Default: a cache of this Sender's,
	// fetching through its guarded transport.
	Tokens *credential.Tokens
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Sender posts signed webhooks. It is safe for concurrent use; one Sender
// and its connection pools serve every subscription.
type Sender struct {
	// wire sends the POSTs of attempts to plain-HTTP endpoints' own URLs.
	wire *wire
	// transport sends the other attempts: to HTTPS endpoints, and those
	// whose payload set a method or URL of its own. They go to it, not
	// through an http.Client: redirects are answered, not followed, so a
	// client would only copy every request's headers for redirects it
	// never makes, and wrap its errors with the URL, which may hold a
	// secret.
	transport *http.Transport
	client    *http.Client // token requests
	ua        string
	maxBody   int64
	breakers  *breakers
	inFlight  *endpointSlots
	limiter   *Limiter
	hostRate  RateLimit
	rateWait  time.Duration
	// slowdownFor is how long a 429 lowers an endpoint's pace.
	slowdownFor time.Duration
	tokens      *credential.Tokens
	now         func() time.Time
	// keepDelivered: delivered attempts carry what they sent too.
	keepDelivered bool
}

// NewSender returns a Sender with its own pooled transport.
func NewSender(opts SenderOptions) *Sender {
	if opts.UserAgent == "" {
		opts.UserAgent = "hookstream"
	}
	if opts.Guard == nil {
		opts.Guard = &Guard{}
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 4096
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = 64
	}
	if opts.BreakerCooldown <= 0 {
		opts.BreakerCooldown = time.Second
	}
	if opts.BreakerMaxCooldown <= 0 {
		opts.BreakerMaxCooldown = 8 * time.Second
	}
	if opts.EndpointWait <= 0 {
		opts.EndpointWait = 50 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RateWait <= 0 {
		opts.RateWait = time.Second
	}
	if opts.SlowdownFor <= 0 {
		opts.SlowdownFor = defaultSlowdownFor
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: opts.Guard.Control}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would hide the real destination from the guard
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * opts.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   opts.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0, // bounded by each attempt's context
		// An endpoint's answer is read for its status and the start of
		// its body; headers beyond this fail the attempt, not the worker.
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		// Only the start of an answer is read: asking for gzip would
		// cost every attempt a header map and a header line, for bodies
		// that are mostly empty.
		DisableCompression: true,
	}
	client := &http.Client{
		Transport: transport,
		// Redirects are answered, not followed: a 3xx is a permanent
		// failure, and following one could lead past the guard's intent.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if opts.Tokens == nil {
		opts.Tokens = &credential.Tokens{Client: client, Now: opts.Now}
	}
	return &Sender{
		keepDelivered: opts.KeepDelivered,
		transport:     transport,
		wire:          newWire(dialer, opts.MaxResponseBytes, opts.MaxIdleConnsPerHost),
		client:        client,
		tokens:        opts.Tokens,
		ua:            opts.UserAgent,
		maxBody:       opts.MaxResponseBytes,
		// As many attempts may wait for a probe as may be in flight to
		// one endpoint.
		breakers: newBreakers(opts.BreakerFailures, opts.BreakerCooldown, opts.BreakerMaxCooldown,
			cmp.Or(opts.MaxPerEndpoint, defaultProbeWaiters), 4*opts.EndpointWait),
		inFlight:    newEndpointSlots(opts.MaxPerEndpoint, opts.EndpointWait),
		limiter:     opts.Limiter,
		hostRate:    opts.HostRateLimit,
		rateWait:    opts.RateWait,
		slowdownFor: opts.SlowdownFor,
		now:         opts.Now,
	}
}

// Close releases idle connections.
func (s *Sender) Close() {
	s.client.CloseIdleConnections()
	s.wire.client.CloseIdleConnections()
}

// BreakerState says how the breaker of endpoint (a subscription's URL)
// stands on this instance now: BreakerClosed, BreakerOpen or
// BreakerHalfOpen.
func (s *Sender) BreakerState(endpoint string) string { return s.breakers.stateOf(endpoint, s.now()) }

// OpenBreakers counts endpoints whose breaker is open now.
func (s *Sender) OpenBreakers() int { return s.breakers.open(s.now()) }

// defaultProbeWaiters is how many attempts may wait for an open
// breaker's probe when attempts per endpoint are not capped.
const defaultProbeWaiters = 128

// Refused returns the outcome Send would give at once because sub's
// endpoint has its circuit breaker open, or has its cap of attempts in
// flight and is stuck or slow (the attempt is put off), so that a caller
// can skip rendering a body that would not be sent. It changes nothing.
func (s *Sender) Refused(sub *subscription.Compiled) (Outcome, bool) {
	now := s.now()
	if s.breakers.blocked(sub.URL, now) {
		return s.circuitOpen(sub.URL), true
	}
	if ep := s.inFlight.get(sub.URL); s.inFlight.stuckAtCap(ep, now) {
		return Outcome{Class: Retryable, Reason: ReasonSaturated, NotAttempted: true, Err: ep.saturated}, true
	}
	return Outcome{}, false
}

// circuitOpen is the outcome of an attempt refused by an open breaker: a
// failed attempt, retried on the ladder's schedule like any other. The
// breaker's cooldown follows the ladder, so the next rung finds it ready
// to let a probe through.
func (s *Sender) circuitOpen(endpoint string) Outcome {
	return Outcome{Class: Retryable, Reason: ReasonCircuitOpen, Err: s.inFlight.get(endpoint).open}
}

// Send makes one attempt to deliver req to sub's endpoint and classifies
// it. It never returns a nil-class outcome: every error is folded into the
// Outcome.
func (s *Sender) Send(ctx context.Context, sub *subscription.Compiled, req *Request) Outcome {
	v, out, refused := s.admit(ctx, sub)
	if refused {
		return out
	}
	key, limit := s.pace(sub)
	if s.limiter != nil && !s.limiter.Wait(ctx, key, limit, s.rateWait) {
		s.breakers.cancelProbe(sub.URL)
		if ctx.Err() != nil {
			return Outcome{Class: Retryable, Reason: ReasonCanceled, NotAttempted: true, Err: ctx.Err()}
		}
		return Outcome{Class: Retryable, Reason: ReasonRateLimited, NotAttempted: true, Err: errRateLimited}
	}
	ep := s.inFlight.get(sub.URL)
	if !ep.await(ctx, s.now, s.rateWait) {
		s.breakers.cancelProbe(sub.URL)
		if ctx.Err() != nil {
			return Outcome{Class: Retryable, Reason: ReasonCanceled, NotAttempted: true, Err: ctx.Err()}
		}
		return Outcome{Class: Retryable, Reason: ReasonRateLimited, NotAttempted: true, Err: errSlowedDown}
	}
	// The attempt starts once it has its slot: the latency is the
	// endpoint's, not the queue's.
	start, ok := s.inFlight.acquire(ctx, ep)
	if !ok {
		s.breakers.cancelProbe(sub.URL)
		return Outcome{Class: Retryable, Reason: ReasonSaturated, NotAttempted: true, Err: ep.saturated}
	}
	ep.sent.add(start)
	out = s.send(ctx, sub, req, start)
	end := s.now()
	out.Latency = end.Sub(start)
	s.inFlight.release(ep, out.Latency, end)
	if out.Reason == ReasonCanceled {
		// Shutting down: the endpoint said nothing.
		s.breakers.cancelProbe(sub.URL)
	} else {
		s.breakers.record(sub.URL, v, out.Class != Retryable, start.Add(out.Latency))
	}
	if out.Reason == ReasonHTTP429 {
		// The endpoint asked to be sent less: this worker lowers its pace,
		// and a Retry-After pauses it on every worker.
		ep.slowDown(s.now(), s.slowdownFor)
		if out.RetryAfter > 0 && s.limiter != nil {
			s.limiter.Pause(ctx, key, limit, start.Add(min(out.RetryAfter, maxPause)))
		}
	}
	return out
}

// maxPause bounds how long one 429 pauses an endpoint.
const maxPause = time.Hour

var errRateLimited = errors.New("waiting for the endpoint's rate limit")

// pace returns the key and limit that pace attempts to sub's endpoint:
// its own rate limit, or its host's, or none (its URL, a key that only a
// 429 pauses). Only limited keys are made per attempt.
func (s *Sender) pace(sub *subscription.Compiled) (string, RateLimit) {
	if r := sub.RateLimit; r != nil {
		return "sub:" + sub.ID, RateLimit{PerSecond: r.PerSecond, Burst: r.Burst}
	}
	if s.hostRate.PerSecond > 0 {
		return "host:" + sub.Host, s.hostRate
	}
	return sub.URL, RateLimit{}
}

// admit asks sub's endpoint's breaker whether an attempt may go out,
// waiting for the answer of a probe that is out, at most until it has
// been out for four base waits (an endpoint that answers slower than that
// is stuck, as the slot cap sees it) and never past the subscription's
// timeout. When the attempt may not go out it returns the
// outcome to give.
func (s *Sender) admit(ctx context.Context, sub *subscription.Compiled) (verdict, Outcome, bool) {
	var timer *time.Timer
	for {
		now := s.now()
		v, probeDone, until := s.breakers.allow(sub.URL, now)
		switch v {
		case pass, probe:
			if timer != nil {
				timer.Stop()
			}
			return v, Outcome{}, false
		case refuse:
			if timer != nil {
				timer.Stop()
			}
			return v, s.circuitOpen(sub.URL), true
		}
		if timer == nil {
			timer = time.NewTimer(min(sub.Timeout(), until.Sub(now)))
		}
		var out Outcome
		select {
		case <-probeDone:
			continue
		case <-timer.C:
			out = s.circuitOpen(sub.URL)
		case <-ctx.Done():
			timer.Stop()
			out = Outcome{Class: Retryable, Reason: ReasonCanceled, NotAttempted: true, Err: ctx.Err()}
		}
		s.breakers.unwait(sub.URL, probeDone)
		return refuse, out, true
	}
}

// header is the header of an attempt of r to sub, before its credential
// is applied.
func (s *Sender) header(sub *subscription.Compiled, r *Request) http.Header {
	h := make(http.Header, len(sub.Header)+len(r.Header)+7)
	for k, v := range sub.Header {
		h[k] = v
	}
	for k, v := range r.Header {
		h[k] = v
	}
	// One backing array for the values set here; each header gets its
	// own capped slice of it, so that appending to one cannot write
	// into another.
	vals := [...]string{r.WebhookID, strconv.FormatInt(r.Timestamp.Unix(), 10), r.Signature, s.ua, r.Traceparent, r.Tracestate}
	v := vals[:]
	h["Webhook-Id"] = v[0:1:1]
	h["Webhook-Timestamp"] = v[1:2:2]
	if r.Signature != "" {
		h["Webhook-Signature"] = v[2:3:3]
	}
	h["User-Agent"] = v[3:4:4]
	if r.Traceparent != "" {
		h["Traceparent"] = v[4:5:5]
		if r.Tracestate != "" {
			h["Tracestate"] = v[5:6:6]
		}
	}
	return h
}

// Prepared is the request an attempt of r to sub sends, without sending
// it; its credential is fetched or set only when it is sent.
func (s *Sender) Prepared(sub *subscription.Compiled, r *Request) *Sent {
	return &Sent{Method: method(r), URL: target(sub, r), Header: s.header(sub, r), Body: r.Body}
}

func method(r *Request) string { return cmp.Or(r.Method, http.MethodPost) }

func target(sub *subscription.Compiled, r *Request) string { return cmp.Or(r.URL, sub.URL) }

func (s *Sender) send(parent context.Context, sub *subscription.Compiled, r *Request, start time.Time) Outcome {
	timeout := deadline.Start(parent, sub.Timeout())
	defer timeout.Stop()
	ctx := timeout.Context()
	h := s.header(sub, r)
	var cred credential.Credential
	if sub.Credential != nil {
		var err error
		if cred, err = sub.Credential.Apply(ctx, h, s.tokens); err != nil {
			return s.authFailed(parent, err)
		}
	}
	resp, body, err := s.post(ctx, sub, r, h)
	if resp != nil && resp.StatusCode == http.StatusUnauthorized && sub.Credential != nil {
		// The endpoint refused the token: fetch a fresh one and try once
		// more, within the same attempt.
		if _, refreshed, rerr := sub.Credential.Refresh(ctx, h, s.tokens, cred); rerr != nil {
			return s.authFailed(parent, rerr)
		} else if refreshed {
			resp, body, err = s.post(ctx, sub, r, h)
		}
	}
	return s.answered(parent, sub, r, h, resp, body, err, start)
}

// answered is the outcome of an attempt of r to sub with headers h that
// got resp and the start of its body, or err. (It is a function of its
// own, and post returns no Outcome, so that no Outcome is on the stack
// while the request is out: the deepest a delivery worker's stack goes
// decides whether it needs 8 KiB or 16.)
func (s *Sender) answered(parent context.Context, sub *subscription.Compiled, r *Request, h http.Header,
	resp *http.Response, body []byte, err error, start time.Time) Outcome {
	sent := func() *Sent { return &Sent{Method: method(r), URL: target(sub, r), Header: h, Body: r.Body} }
	if err != nil {
		if errors.As(err, new(*requestError)) {
			return Outcome{Class: Permanent, Reason: ReasonBadRequest, Err: err}
		}
		class, reason := ClassifyError(parent, err)
		return Outcome{Class: class, Reason: reason, Err: err, Sent: sent()}
	}
	class, reason := Classify(resp.StatusCode)
	out := Outcome{Class: class, Reason: reason, Status: resp.StatusCode, Header: resp.Header, Body: body}
	if class != Delivered {
		out.Err = fmt.Errorf("endpoint answered %d: %s", resp.StatusCode, printable(body))
	}
	if class != Delivered || s.keepDelivered {
		out.Sent = sent()
	}
	if class == Retryable {
		out.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), start)
	}
	return out
}

// authFailed is the outcome of an attempt whose credential could not be
// had: retryable, as a token endpoint that fails now may answer later.
func (s *Sender) authFailed(parent context.Context, err error) Outcome {
	if parent.Err() != nil {
		return Outcome{Class: Retryable, Reason: ReasonCanceled, NotAttempted: true, Err: parent.Err()}
	}
	return Outcome{Class: Retryable, Reason: ReasonAuthFailed, Err: err}
}

// post sends r with headers h and returns the answer (its body closed)
// and the start of its body, or the error of a request that got none.
func (s *Sender) post(ctx context.Context, sub *subscription.Compiled, r *Request, h http.Header) (*http.Response, []byte, error) {
	if ownPost(sub, r.URL, method(r)) && sub.Endpoint.Scheme == "http" {
		return s.wire.post(ctx, sub.WireURL, h, r.Body)
	}
	req, err := newRequest(ctx, method(r), sub, r.URL, r.Body)
	if err != nil {
		return nil, nil, &requestError{err}
	}
	req.Header = h
	resp, err := s.transport.RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	var excerpt []byte
	if resp.Body != http.NoBody {
		excerpt, _ = readStart(resp.Body, resp.ContentLength, s.maxBody)
	}
	resp.Body.Close()
	return resp, excerpt, nil
}

// requestError is an attempt's request that could not be made, such as
// one to a URL a template rendered that does not parse.
type requestError struct{ err error }

func (e *requestError) Error() string { return "build request: " + e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// newRequest is the request of an attempt to rawURL, or to sub's URL when
// rawURL is empty. Sub's URL is parsed once, when sub is compiled: a POST
// there is made as NewRequestWithContext makes one with a body in memory,
// without parsing the URL again.
func newRequest(ctx context.Context, method string, sub *subscription.Compiled, rawURL string, body []byte) (*http.Request, error) {
	if !ownPost(sub, rawURL, method) {
		return http.NewRequestWithContext(ctx, method, cmp.Or(rawURL, sub.URL), bytes.NewReader(body))
	}
	r := http.Request{Method: method, URL: sub.Endpoint, Host: sub.Endpoint.Host,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Body: http.NoBody, GetBody: noBody}
	if len(body) > 0 {
		r.ContentLength = int64(len(body))
		r.Body = io.NopCloser(bytes.NewReader(body))
		// The transport reads the body again when a reused connection
		// turns out closed before the request went out.
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return r.WithContext(ctx), nil
}

func noBody() (io.ReadCloser, error) { return http.NoBody, nil }

// ownPost says whether an attempt with method to rawURL is a POST to
// sub's own URL, parsed when sub was compiled: the attempts either client
// makes without parsing a URL again.
func ownPost(sub *subscription.Compiled, rawURL, method string) bool {
	return (rawURL == "" || rawURL == sub.URL) && sub.Endpoint != nil && method == http.MethodPost
}

// readStart reads up to limit bytes of body, whose length is n (negative
// when not known), and drains up to 64 KiB more so that its connection
// can be used again; whole says it was read to its end. Nothing is
// allocated for a body known to be empty, and a body of a length not
// known grows its excerpt as it comes, from 512 bytes: most such answers
// are short, and limit may be large.
func readStart(body io.Reader, n, limit int64) (excerpt []byte, whole bool) {
	if n == 0 {
		return nil, true
	}
	want, first := int(limit), int(limit)
	switch {
	case n < 0:
		first = min(want, 512)
	case n < limit:
		want, first = int(n), int(n)
	}
	b := make([]byte, 0, first)
	var err error
	for len(b) < want && err == nil { // not io.ReadFull, which reads a body cut short as one that ended
		if len(b) == cap(b) {
			b = append(make([]byte, 0, min(2*cap(b), want)), b...)
		}
		var k int
		k, err = body.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
	}
	if err == nil {
		_, err = io.CopyN(io.Discard, body, drainBytes)
	}
	// A body ends with io.EOF only where it ends.
	return b, err == io.EOF
}

// drainBytes is how much of an answer's body beyond its excerpt is read
// so that its connection can be used again.
const drainBytes = 64 << 10

// printable keeps a body excerpt safe for logs and headers: valid UTF-8,
// no control characters, at most 256 bytes.
func printable(b []byte) string {
	const limit = 256
	out := make([]byte, 0, min(len(b), limit))
	for len(b) > 0 && len(out) < limit {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == utf8.RuneError && size == 1:
			out = append(out, '?')
		case r < 0x20 || r == 0x7f:
			out = append(out, ' ')
		default:
			out = utf8.AppendRune(out, r)
		}
	}
	if len(b) > 0 {
		out = append(out, "…"...)
	}
	return string(out)
}

// MaxResponseHeaderBytes caps the headers of an endpoint's answer.
const MaxResponseHeaderBytes = 64 << 10

// RedactURL keeps a URL's scheme and host, for logs, error messages and
// system events: its credentials, query and fragment may hold secrets,
// and so may its path (Slack, Teams and Discord webhook URLs carry theirs
// there). "https://hooks.slack.com/services/T0/B0/x" is
// "https://hooks.slack.com/…".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparseable URL)"
	}
	out := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		out += "/…"
	}
	return out
}
