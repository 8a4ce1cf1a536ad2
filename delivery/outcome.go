package delivery

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/subscription"
)

// Class is what an attempt's outcome means for the delivery.
type Class uint8

// The classes of outcome.
const (
	// Delivered: the endpoint answered 2xx.
	Delivered Class = iota
	// Retryable: try again later on the next rung.
	Retryable
	// Permanent: retrying cannot help; straight to the DLQ.
	Permanent
)

func (c Class) String() string {
	switch c {
	case Delivered:
		return "delivered"
	case Retryable:
		return "retryable"
	default:
		return "permanent"
	}
}

// Reason says why an attempt ended as it did: a short, bounded label used
// alike as the metric label, the history's reason and the prefix of a
// retry or DLQ record's error header.
type Reason string

// The reasons of outcomes.
const (
	ReasonOK                 Reason = "ok"       // 2xx
	ReasonHTTP408            Reason = "http_408" // request timeout
	ReasonHTTP425            Reason = "http_425" // too early
	ReasonHTTP429            Reason = "http_429" // too many requests
	ReasonHTTP5xx            Reason = "http_5xx"
	ReasonGone               Reason = "gone"     // 410: the endpoint is gone for good
	ReasonHTTP4xx            Reason = "http_4xx" // other 4xx
	ReasonHTTP3xx            Reason = "http_3xx" // redirects are not followed
	ReasonHTTPOther          Reason = "http_other"
	ReasonTimeout            Reason = "timeout"
	ReasonConnection         Reason = "connection"
	ReasonDestinationBlocked Reason = "destination_blocked" // the guard refused the address
	ReasonBadRequest         Reason = "bad_request"         // no request could be built
	ReasonRenderFailed       Reason = "render_failed"       // the payload could not be rendered from the event
	ReasonAuthFailed         Reason = "auth_failed"         // no credential could be had (an OAuth2 token endpoint failed)
	ReasonCanceled           Reason = "canceled"            // shutting down; the attempt does not count
	// ReasonCircuitOpen: the endpoint's breaker is open, so no request was
	// made; the attempt counts as failed.
	ReasonCircuitOpen Reason = "circuit_open"
	// ReasonSaturated: the endpoint has its cap of attempts in flight, so
	// no request was made; the attempt does not count.
	ReasonSaturated Reason = "endpoint_saturated"
	// ReasonRateLimited: the endpoint's rate limit gave no turn in time,
	// so no request was made; the attempt does not count.
	ReasonRateLimited Reason = "rate_limited"
)

// Outcome is the classified result of one attempt.
type Outcome struct {
	Class Class
	// Reason says why.
	Reason Reason
	// Status is the HTTP status, 0 when there was no response.
	Status int
	// Err describes a failure, with a capped excerpt of the response body.
	Err error
	// RetryAfter is the delay the endpoint asked for, 0 when none.
	RetryAfter time.Duration
	// Latency is how long the attempt took.
	Latency time.Duration
	// Header and Body are the response's headers and the start of its
	// body (at most the sender's MaxResponseBytes), when there was one.
	Header http.Header
	Body   []byte
	// Sent is the request of an attempt that failed after it was sent
	// (headers as sent, credentials included): for the attempt history,
	// which masks its secrets. Nil when the attempt was delivered or no
	// request went out.
	Sent *Sent
	// NotAttempted is set when no request was made because the endpoint
	// already has its cap of attempts in flight; the delivery waits on the
	// ladder without spending an attempt.
	NotAttempted bool
}

// Sent is a request as it went out.
type Sent struct {
	Method, URL string
	Header      http.Header
	Body        []byte
}

// Shown is a request as it may be shown: secrets masked, the body cut.
type Shown struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	// BodyBytes is the whole body's size.
	BodyBytes int `json:"body_bytes"`
}

// Show is s as it may be shown: every one of secrets masked (see
// SentSecrets), custom header values masked, the credential named by its
// type, and the body cut at maxBody bytes (0: whole).
func (s *Sent) Show(sub *subscription.Compiled, secrets []string, maxBody int) Shown {
	v := Shown{Method: s.Method, URL: subscription.MaskURL(subscription.MaskIn(s.URL, secrets)),
		Headers: make(map[string]string, len(s.Header)+1), BodyBytes: len(s.Body)}
	for k, vals := range s.Header {
		v.Headers[k] = sub.MaskHeader(k, strings.Join(vals, ", "), secrets)
	}
	if c := sub.Credential; c != nil {
		// Named even before it is applied: it is fetched or set when sent.
		v.Headers[c.Header()] = sub.MaskHeader(c.Header(), "", nil)
	}
	body := s.Body
	if maxBody > 0 {
		body = body[:min(len(body), maxBody)]
	}
	v.Body = ShowText(body, secrets)
	return v
}

// ShowText is b as text that may be shown: valid UTF-8, secrets masked.
func ShowText(b []byte, secrets []string) string {
	return subscription.MaskIn(strings.ToValidUTF8(string(b), "\uFFFD"), secrets)
}

// SentSecrets are what must not be shown of a request sent to sub: the
// subscription's secrets and the credential the request carried (an
// OAuth2 access token is fetched, not configured), longest first. A
// response that echoes the request is masked with them too.
func SentSecrets(sub *subscription.Compiled, sent *Sent) []string {
	secrets := sub.Secrets()
	if c := sub.Credential; c != nil && sent != nil {
		v := sent.Header.Get(c.Header())
		if _, token, ok := strings.Cut(v, " "); ok && len(token) >= 4 {
			v = token // "Bearer <token>": the token alone, wherever it is echoed
		}
		if len(v) >= 4 {
			secrets = append(secrets, v)
			slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
		}
	}
	return secrets
}

// Classify maps an HTTP status to its class and reason label. It is the
// one place that decides what is retried:
//
//	2xx                       delivered
//	408, 425, 429, 5xx        retryable
//	410                       permanent, gone
//	other 1xx, 3xx, 4xx, ≥600 permanent
func Classify(status int) (Class, Reason) {
	switch {
	case status >= 200 && status < 300:
		return Delivered, ReasonOK
	case status == http.StatusRequestTimeout:
		return Retryable, ReasonHTTP408
	case status == http.StatusTooEarly:
		return Retryable, ReasonHTTP425
	case status == http.StatusTooManyRequests:
		return Retryable, ReasonHTTP429
	case status >= 500 && status < 600:
		return Retryable, ReasonHTTP5xx
	case status == http.StatusGone:
		return Permanent, ReasonGone
	case status >= 400 && status < 500:
		return Permanent, ReasonHTTP4xx
	case status >= 300 && status < 400:
		return Permanent, ReasonHTTP3xx
	default:
		return Permanent, ReasonHTTPOther
	}
}

// ClassifyError maps a transport error to its class and reason label.
// parent is the context the attempt ran under, before its own timeout.
func ClassifyError(parent context.Context, err error) (Class, Reason) {
	var blocked *BlockedError
	switch {
	case errors.As(err, &blocked):
		return Permanent, ReasonDestinationBlocked
	case parent.Err() != nil:
		return Retryable, ReasonCanceled
	case timedOut(err):
		return Retryable, ReasonTimeout
	default:
		return Retryable, ReasonConnection
	}
}

// timedOut says whether err is a timeout: a context's deadline, or an
// error that says it is one, as net's and fasthttp's do.
func timedOut(err error) bool {
	var timeout interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &timeout) && timeout.Timeout()
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. It returns 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(365*24*3600))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
