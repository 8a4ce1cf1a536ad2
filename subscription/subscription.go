// Package subscription holds webhook subscriptions: their model and
// validation, their compiled filters, the indexed matcher that finds the
// subscriptions of an event, the Redis store and the in-memory cache every
// worker matches against.
package subscription

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/internal/fields"
	"github.com/hookstream/hookstream/payload"
)

// Subscription is one webhook endpoint and the events it wants.
type Subscription struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	URL     string `json:"url"`
	Enabled bool   `json:"enabled"`
	Filter  Filter `json:"filter"`
	// Secret is the Standard Webhooks signing key: "whsec_" followed by
	// the base64 of 24 to 64 random bytes (HMAC, "v1" signatures), or
	// "whsk_" followed by the base64 of an ed25519 seed ("v1a").
	Secret string `json:"secret,omitempty"`
	// PublicKey is the "whpk_" key receivers verify "v1a" signatures
	// with; only shown, derived from Secret.
	PublicKey string `json:"public_key,omitempty"`
	// PreviousSecrets are rotated-out secrets still signing deliveries
	// until they expire, so receivers can switch over.
	PreviousSecrets []PreviousSecret  `json:"previous_secrets,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
	// MaxAttempts counts the first try and every retry; after the last one
	// fails the delivery goes to the DLQ.
	MaxAttempts int `json:"max_attempts"`
	// Timeout bounds each attempt. Attempts that start within a thousandth
	// of it of each other share one timer, so one may end up to that much
	// sooner; none later.
	Timeout Duration `json:"timeout"`
	// Payload is what the endpoint receives; by default hookstream's
	// signed envelope.
	Payload payload.Spec `json:"payload,omitzero"`
	// Auth is how the endpoint authenticates hookstream, when it asks to.
	Auth *credential.Spec `json:"auth,omitempty"`
	// RateLimit paces the attempts to the endpoint across every worker;
	// nil takes delivery.rate_limit of the endpoint's host, if any.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// DisabledReason says why hookstream disabled the subscription, and
	// DisabledAt when; both are empty unless it did. Enabling the
	// subscription clears them.
	DisabledReason DisabledReason `json:"disabled_reason,omitempty"`
	DisabledAt     *time.Time     `json:"disabled_at,omitempty"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

// RateLimit is a pace: PerSecond attempts on average, at most Burst at
// once.
type RateLimit struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst"`
}

// DisabledReason says why hookstream disabled a subscription.
type DisabledReason string

// The reasons hookstream disables a subscription for.
const (
	// DisabledGone: its endpoint answered 410 Gone.
	DisabledGone DisabledReason = "gone"
	// DisabledFailing: every attempt to it failed for
	// delivery.disable_after.
	DisabledFailing DisabledReason = "failing"
)

// Filter selects events. Every non-empty part must hold; an empty filter
// matches every event.
type Filter struct {
	// Types are exact event types.
	Types []string `json:"types,omitempty"`
	// Levels are compared case-insensitively.
	Levels []string `json:"levels,omitempty"`
	// Sources are exact names or globs with * and ?, such as "payment-*".
	Sources []string `json:"sources,omitempty"`
	// Where are predicates over any JSON path of the event.
	Where []Predicate `json:"where,omitempty"`
}

// Predicate tests the value at Path with Op against Value.
type Predicate struct {
	Path  string `json:"path"`
	Op    Op     `json:"op"`
	Value any    `json:"value,omitempty"`
}

// Op is a predicate operator.
type Op string

// The predicate operators.
const (
	OpEq       Op = "eq"
	OpNe       Op = "ne"
	OpIn       Op = "in"
	OpNotIn    Op = "not_in"
	OpRegex    Op = "regex"
	OpContains Op = "contains"
	OpPrefix   Op = "prefix"
	OpGt       Op = "gt"
	OpGte      Op = "gte"
	OpLt       Op = "lt"
	OpLte      Op = "lte"
	OpExists   Op = "exists"
)

// Ops lists every operator, in documentation order.
var Ops = []Op{OpEq, OpNe, OpIn, OpNotIn, OpRegex, OpContains, OpPrefix, OpGt, OpGte, OpLt, OpLte, OpExists}

// PreviousSecret is a rotated-out secret and when it stops signing.
type PreviousSecret struct {
	Secret    string    `json:"secret"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Rotate replaces the secret with next, keeping the current one valid
// until now+window and dropping previous ones that have expired.
func (s *Subscription) Rotate(next string, now time.Time, window time.Duration) {
	kept := s.PreviousSecrets[:0:0]
	for _, p := range s.PreviousSecrets {
		if p.ExpiresAt.After(now) {
			kept = append(kept, p)
		}
	}
	if window > 0 {
		kept = append(kept, PreviousSecret{Secret: s.Secret, ExpiresAt: now.Add(window)})
	}
	s.Secret, s.PreviousSecrets, s.UpdatedAt = next, kept, now
}

// Duration is a time.Duration written in JSON as a Go duration string
// such as "10s".
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"10s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// SecretPrefix starts every Standard Webhooks HMAC secret.
const SecretPrefix = credential.SecretPrefix

// NewSecret returns a fresh signing secret of 32 random bytes.
func NewSecret() string { return credential.NewSecret() }

// NewID returns a fresh subscription id.
func NewID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "sub_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// DecodeSecret returns the HMAC key of a "whsec_" secret.
func DecodeSecret(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("must start with %q", SecretPrefix)
	}
	if _, err := credential.ParseKey(secret); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(raw)
}

// FieldError is one invalid field of a subscription.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of a subscription.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Field + ": " + fe.Message
	}
	return "invalid subscription: " + strings.Join(parts, "; ")
}

func (e *ValidationError) add(field, format string, args ...any) {
	e.Errors = append(e.Errors, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// addAll adds the fields of err, a *fields.Errors, when it is one.
func (e *ValidationError) addAll(err error) {
	var fe *fields.Errors
	if errors.As(err, &fe) {
		for _, f := range fe.List {
			e.Errors = append(e.Errors, FieldError{Field: f.Field, Message: f.Message})
		}
	}
}

// reservedHeaders are set by hookstream on every delivery and cannot be
// overridden by a subscription.
var reservedHeaders = map[string]bool{
	"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
	"content-type": true, "content-length": true, "host": true,
	"transfer-encoding": true, "connection": true, "user-agent": true,
}

// validateBasics checks the parts of a subscription that Compile does not.
func validateBasics(s *Subscription, verr *ValidationError) {
	if s.ID == "" {
		verr.add("id", "is required")
	}
	if strings.TrimSpace(s.Name) == "" {
		verr.add("name", "is required")
	} else if len(s.Name) > 200 {
		verr.add("name", "must be at most 200 characters")
	}
	if s.URL == "" {
		verr.add("url", "is required")
	} else if u, err := url.Parse(s.URL); err != nil {
		verr.add("url", "does not parse: %v", err)
	} else if u.Scheme != "http" && u.Scheme != "https" {
		verr.add("url", "scheme must be http or https (got %q)", u.Scheme)
	} else if u.Host == "" {
		verr.add("url", "has no host")
	} else if u.User != nil {
		verr.add("url", "must not carry credentials; use headers")
	}
	if _, err := credential.ParseKey(s.Secret); err != nil {
		verr.add("secret", "%v", err)
	}
	for i, p := range s.PreviousSecrets {
		if _, err := credential.ParseKey(p.Secret); err != nil {
			verr.add(fmt.Sprintf("previous_secrets[%d].secret", i), "%v", err)
		}
	}
	for name, value := range s.Headers {
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			verr.add("headers."+name, "is not a valid HTTP header name")
		case reservedHeaders[strings.ToLower(name)]:
			verr.add("headers."+name, "is set by hookstream and cannot be overridden")
		case strings.ContainsFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }):
			verr.add("headers."+name, "value must not contain control characters")
		}
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > 100 {
		verr.add("max_attempts", "must be 1 to 100 (got %d)", s.MaxAttempts)
	}
	if d := time.Duration(s.Timeout); d < 100*time.Millisecond || d > 5*time.Minute {
		verr.add("timeout", "must be 100ms to 5m (got %s)", d)
	}
	if r := s.RateLimit; r != nil {
		if !(r.PerSecond > 0 && r.PerSecond <= 100000) {
			verr.add("rate_limit.per_second", "must be above 0 and at most 100000 (got %v)", r.PerSecond)
		}
		if r.Burst < 1 || r.Burst > 100000 {
			verr.add("rate_limit.burst", "must be 1 to 100000 (got %d)", r.Burst)
		}
	}
}
