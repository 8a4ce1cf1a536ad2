// Package gateway receives webhooks that third parties send to hookstream
// (Stripe, GitHub, Slack, Shopify, Standard Webhooks senders and any HMAC
// signer), verifies them over the bytes received, deduplicates them and
// publishes each as a log event to Kafka before answering 2xx, so that
// hookstream's subscriptions and any other consumer can read them.
package gateway

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Request is what a verifier sees of a received webhook: the exact bytes
// of its body, never a re-serialised copy.
type Request struct {
	Header http.Header
	Query  url.Values
	Body   []byte
	Now    time.Time
}

// Verified is what a verifier learned of a webhook it accepted.
type Verified struct {
	// ID identifies the delivery for deduplication; empty when the
	// provider sends none.
	ID string
	// Type is the provider's event type; empty when it has none.
	Type string
	// Reply, when set, is answered instead of publishing the request:
	// Slack's url_verification challenge.
	Reply []byte
}

// Reason says why a request was refused: a metric label and the problem's
// "reason".
type Reason string

// The reasons a request is refused.
const (
	ReasonUnknownSource     Reason = "unknown_source"
	ReasonDisabled          Reason = "disabled"
	ReasonIPNotAllowed      Reason = "ip_not_allowed"
	ReasonTooLarge          Reason = "too_large"
	ReasonRateLimited       Reason = "rate_limited"
	ReasonMethod            Reason = "method_not_allowed"
	ReasonMissingSignature  Reason = "missing_signature"
	ReasonBadSignature      Reason = "bad_signature"
	ReasonTimestamp         Reason = "timestamp_out_of_tolerance"
	ReasonMissingCredential Reason = "missing_credential"
	ReasonBadCredential     Reason = "bad_credential"
	ReasonInProgress        Reason = "in_progress"
	ReasonUnavailable       Reason = "unavailable"
)

// Refusal is a verifier's answer to a request it does not accept. Its
// Detail never holds a secret or an expected signature.
type Refusal struct {
	Reason Reason
	Detail string
}

func (r *Refusal) Error() string { return string(r.Reason) + ": " + r.Detail }

func refuse(reason Reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// verifier checks a request for one source.
type verifier interface {
	verify(r *Request) (Verified, *Refusal)
}

// provider is one entry of the provider table: how a source of it is
// checked when written and how its requests are verified.
type provider struct {
	// timestamped providers take tolerance.
	timestamped bool
	// options are the Source fields it takes beyond the common ones.
	options []string
	compile func(s *Source, c *checker) verifier
}

// providers lists every provider by name; adding one is a file and a
// line here.
var providers = map[string]provider{
	"stripe":   {timestamped: true, compile: compileStripe},
	"github":   {compile: compileGitHub},
	"slack":    {timestamped: true, compile: compileSlack},
	"shopify":  {compile: compileShopify},
	"standard": {timestamped: true, compile: compileStandard},
	"hmac": {timestamped: true, compile: compileHMAC,
		options: []string{"signature_header", "algorithm", "encoding", "prefix", "timestamp_header", "separator"}},
	"basic":   {compile: compileBasic},
	"api_key": {options: []string{"key_header", "key_query"}, compile: compileAPIKey},
	"none":    {compile: compileNone},
}

// Providers lists the providers' names, sorted.
func Providers() []string {
	out := make([]string, 0, len(providers))
	for p := range providers {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// macs computes HMACs of one algorithm under each of a source's secrets.
type macs struct {
	newHash func() hash.Hash
	keys    [][]byte
}

// sum returns the MAC of the parts, joined, under key.
func (m macs) sum(key []byte, parts ...[]byte) []byte {
	h := hmac.New(m.newHash, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// match reports whether any of got, decoded signatures, is the MAC of the
// parts under any key; comparisons take constant time.
func (m macs) match(got [][]byte, parts ...[]byte) bool {
	ok := false
	for _, key := range m.keys {
		want := m.sum(key, parts...)
		for _, g := range got {
			ok = hmac.Equal(g, want) || ok
		}
	}
	return ok
}

var hashes = map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}

// decodeHex and decodeBase64 read a signature, nil when it is not one.
func decodeHex(s string) []byte {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil
	}
	return b
}

func decodeBase64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil
	}
	return b
}

// checkTimestamp refuses a unix-seconds timestamp outside tolerance of
// now.
func checkTimestamp(raw string, now time.Time, tolerance time.Duration) *Refusal {
	ts, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil {
		return refuse(ReasonTimestamp, "timestamp %q is not unix seconds", raw)
	}
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > tolerance || d < -tolerance {
		return refuse(ReasonTimestamp, "timestamp %s is more than %s from now", at.UTC().Format(time.RFC3339), tolerance)
	}
	return nil
}

// jsonString reads a string at a path of object keys in body, empty when
// body is not JSON or holds none.
func jsonString(body []byte, keys ...string) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	s, _ := v.(string)
	return s
}
