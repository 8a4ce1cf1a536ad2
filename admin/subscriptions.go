// Subscriptions: create, list, get, replace, patch and delete.

package admin

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/payload"
	"github.com/hookstream/hookstream/subscription"
)

// createRequest is the body of POST /v1/subscriptions.
type createRequest struct {
	ID      string              `json:"id" validate:"omitempty,max=64,subid"`
	Name    string              `json:"name" validate:"required,max=200"`
	URL     string              `json:"url" validate:"required,max=2048,url"`
	Enabled *bool               `json:"enabled"`
	Filter  subscription.Filter `json:"filter"`
	Secret  string              `json:"secret"`
	// Signing, when the secret is left out, picks the scheme of the one
	// made: v1 (HMAC, the default) or v1a (ed25519).
	Signing string `json:"signing" validate:"omitempty,oneof=v1 v1a"`
	// PublicKey is read-only: a subscription written back as it was shown
	// may carry it.
	PublicKey   string                  `json:"public_key"`
	Headers     map[string]string       `json:"headers" validate:"omitempty,max=32"`
	MaxAttempts *int                    `json:"max_attempts" validate:"omitempty,min=1,max=100"`
	Timeout     *subscription.Duration  `json:"timeout"`
	RateLimit   *subscription.RateLimit `json:"rate_limit"`
	Payload     payload.Spec            `json:"payload"`
	Auth        *credential.Spec        `json:"auth"`
}

func (a *API) createSubscription(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !a.decode(w, r, &req) {
		return
	}
	sub := a.fromCreate(req)
	if _, err := subscription.Compile(sub); err != nil {
		a.invalid(w, err)
		return
	}
	if fe, ok := a.checkDestinations(sub); !ok {
		writeProblem(w, http.StatusUnprocessableEntity, "the subscription's destination is not allowed", fe)
		return
	}
	err := a.opts.Store.Create(r.Context(), sub)
	switch {
	case errors.Is(err, subscription.ErrExists):
		writeProblem(w, http.StatusConflict, fmt.Sprintf("subscription %q already exists", sub.ID))
		return
	case err != nil:
		a.unavailable(w, err)
		return
	}
	a.opts.Logger.Info().Str("subscription", sub.ID).Str("url", delivery.RedactURL(sub.URL)).Msg("subscription created")
	a.applyLocally(r.Context(), sub.ID)
	w.Header().Set("Location", "/v1/subscriptions/"+url.PathEscape(sub.ID))
	// The secret is shown this once; what the caller sent stays masked.
	shown := sub.Masked()
	shown.Secret = sub.Secret
	writeJSON(w, http.StatusCreated, shown)
}

// fromCreate is the subscription a create body describes, with the
// defaults filled in and, when it names none, a new ID and secret.
func (a *API) fromCreate(req createRequest) subscription.Subscription {
	now := a.opts.Now().UTC()
	sub := subscription.Subscription{
		ID:          req.ID,
		Name:        req.Name,
		URL:         req.URL,
		Enabled:     req.Enabled == nil || *req.Enabled,
		Filter:      req.Filter,
		Secret:      req.Secret,
		Headers:     req.Headers,
		MaxAttempts: a.opts.DefaultMaxAttempts,
		Timeout:     subscription.Duration(a.opts.DefaultTimeout),
		RateLimit:   req.RateLimit,
		Payload:     req.Payload,
		Auth:        req.Auth,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if sub.ID == "" {
		sub.ID = subscription.NewID()
	}
	if sub.Secret == "" {
		sub.Secret = subscription.NewSecret()
		if req.Signing == "v1a" {
			sub.Secret = credential.NewSigningKey()
		}
	}
	if req.MaxAttempts != nil {
		sub.MaxAttempts = *req.MaxAttempts
	}
	if req.Timeout != nil {
		sub.Timeout = *req.Timeout
	}
	return sub
}

// listScan is the fewest subscriptions a filtered page reads before it
// answers.
const listScan = 2000

// listSubscriptions pages through subscriptions in ID order:
// ?limit (1–1000, default 100), ?cursor (the next_cursor of the previous
// page), ?name (substring, case-insensitive), ?enabled (true or false).
func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	var fields []FieldError
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > 1000 {
			fields = append(fields, FieldError{Field: "limit", Message: "must be a whole number from 1 to 1000"})
		}
		limit = n
	}
	var enabled *bool
	if q.Has("enabled") {
		b, err := strconv.ParseBool(q.Get("enabled"))
		if err != nil {
			fields = append(fields, FieldError{Field: "enabled", Message: "must be true or false"})
		}
		enabled = &b
	}
	if len(fields) > 0 {
		writeProblem(w, http.StatusBadRequest, "invalid query parameters", fields...)
		return
	}
	cursor, name := q.Get("cursor"), strings.ToLower(q.Get("name"))
	var keep func(subscription.Subscription) bool
	if name != "" || enabled != nil {
		keep = func(s subscription.Subscription) bool {
			return (name == "" || strings.Contains(strings.ToLower(s.Name), name)) && (enabled == nil || s.Enabled == *enabled)
		}
	}
	// A filtered page reads a bounded number of subscriptions, and may
	// come back short with a cursor to go on from.
	subs, next, err := a.opts.Store.Page(r.Context(), cursor, limit, max(listScan, 10*limit), keep)
	if err != nil {
		a.unavailable(w, err)
		return
	}
	for i := range subs {
		subs[i] = subs[i].Masked()
	}
	resp := map[string]any{"data": subs}
	if next != "" {
		resp["next_cursor"] = next
	}
	writeJSON(w, http.StatusOK, resp)
}

// replaceSubscription is PUT: the body replaces the subscription as a
// create request would make it, keeping its ID, creation time and, unless
// the body gives one, its secret.
func (a *API) replaceSubscription(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if !a.decode(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if req.ID != "" && req.ID != id {
		writeProblem(w, http.StatusUnprocessableEntity, "the body's id differs from the path's",
			FieldError{Field: "id", Message: fmt.Sprintf("must be %q or left out", id)})
		return
	}
	a.update(w, r, id, func(cur subscription.Subscription) subscription.Subscription {
		next := subscription.Subscription{
			ID: id, Name: req.Name, URL: req.URL, Enabled: req.Enabled == nil || *req.Enabled, Filter: req.Filter,
			Secret: cur.Secret, PreviousSecrets: cur.PreviousSecrets, Headers: req.Headers,
			MaxAttempts: a.opts.DefaultMaxAttempts, Timeout: subscription.Duration(a.opts.DefaultTimeout),
			RateLimit: req.RateLimit, Payload: req.Payload, Auth: req.Auth, CreatedAt: cur.CreatedAt,
		}
		if req.Secret != "" {
			next.Secret = req.Secret
		}
		if req.MaxAttempts != nil {
			next.MaxAttempts = *req.MaxAttempts
		}
		if req.Timeout != nil {
			next.Timeout = *req.Timeout
		}
		return next
	})
}

// patchRequest is a JSON merge patch (RFC 7396) of a subscription: the
// fields present replace the stored ones, whole. The secret changes only
// through rotate-secret.
type patchRequest struct {
	Name        *string                 `json:"name" validate:"omitempty,min=1,max=200"`
	URL         *string                 `json:"url" validate:"omitempty,max=2048,url"`
	Enabled     *bool                   `json:"enabled"`
	Filter      *subscription.Filter    `json:"filter"`
	Headers     map[string]string       `json:"headers" validate:"omitempty,max=32"`
	MaxAttempts *int                    `json:"max_attempts" validate:"omitempty,min=1,max=100"`
	Timeout     *subscription.Duration  `json:"timeout"`
	RateLimit   *subscription.RateLimit `json:"rate_limit"`
	Payload     *payload.Spec           `json:"payload"`
	// Auth replaces the stored auth; null removes it.
	Auth json.RawMessage `json:"auth"`
}

func (a *API) patchSubscription(w http.ResponseWriter, r *http.Request) {
	var req patchRequest
	if !a.decode(w, r, &req) {
		return
	}
	var auth *credential.Spec
	if len(req.Auth) > 0 && string(req.Auth) != "null" {
		auth = new(credential.Spec)
		dec := json.NewDecoder(bytes.NewReader(req.Auth))
		dec.DisallowUnknownFields()
		if err := dec.Decode(auth); err != nil {
			writeProblem(w, http.StatusBadRequest, "the body is not valid JSON: auth: "+err.Error())
			return
		}
	}
	a.update(w, r, r.PathValue("id"), func(s subscription.Subscription) subscription.Subscription {
		if req.Name != nil {
			s.Name = *req.Name
		}
		if req.URL != nil {
			s.URL = *req.URL
		}
		if req.Enabled != nil {
			s.Enabled = *req.Enabled
		}
		if req.Filter != nil {
			s.Filter = *req.Filter
		}
		if req.Headers != nil {
			s.Headers = req.Headers
		}
		if req.MaxAttempts != nil {
			s.MaxAttempts = *req.MaxAttempts
		}
		if req.Timeout != nil {
			s.Timeout = *req.Timeout
		}
		if req.RateLimit != nil {
			s.RateLimit = req.RateLimit
		}
		if req.Payload != nil {
			s.Payload = *req.Payload
		}
		if len(req.Auth) > 0 {
			s.Auth = auth
		}
		return s
	})
}

// load reads a subscription, answering 404 or 503 and returning false
// when it cannot.
func (a *API) load(w http.ResponseWriter, r *http.Request, id string) (subscription.Subscription, bool) {
	sub, err := a.opts.Store.Get(r.Context(), id)
	switch {
	case errors.Is(err, subscription.ErrNotFound):
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("subscription %q not found", id))
		return sub, false
	case err != nil:
		a.unavailable(w, err)
		return sub, false
	}
	return sub, true
}

// update applies change to a subscription, validates the result and
// stores it with a compare-and-set (a concurrent update makes change run
// again on the newer value), and answers with it masked.
func (a *API) update(w http.ResponseWriter, r *http.Request, id string, change func(subscription.Subscription) subscription.Subscription) {
	next, ok := a.store(w, r, id, func(cur subscription.Subscription) subscription.Subscription {
		// A value written back as it was shown, masked, keeps what it hides.
		next := change(cur).Unmasked(cur)
		next.ID, next.CreatedAt, next.UpdatedAt = cur.ID, cur.CreatedAt, a.opts.Now().UTC()
		// Why hookstream disabled it stays until it is enabled again.
		if next.Enabled {
			next.DisabledReason, next.DisabledAt = "", nil
		} else if !cur.Enabled {
			next.DisabledReason, next.DisabledAt = cur.DisabledReason, cur.DisabledAt
		}
		return next
	})
	if ok {
		a.opts.Logger.Info().Str("subscription", id).Str("url", delivery.RedactURL(next.URL)).Msg("subscription updated")
		writeJSON(w, http.StatusOK, next.Masked())
	}
}

// requestError is a change a request asked for that is not allowed.
type requestError struct {
	status int
	detail string
	fields []FieldError
	err    error // a validation error for a.invalid
}

func (e *requestError) Error() string { return e.detail }

// store runs change under Store.Update with validation, writing the
// problem and returning false when it fails.
func (a *API) store(w http.ResponseWriter, r *http.Request, id string, change func(subscription.Subscription) subscription.Subscription) (subscription.Subscription, bool) {
	next, err := a.opts.Store.Update(r.Context(), id, func(cur subscription.Subscription) (subscription.Subscription, error) {
		next := change(cur)
		if _, err := subscription.Compile(next); err != nil {
			return next, &requestError{err: err}
		}
		if fe, ok := a.checkDestinations(next); !ok {
			return next, &requestError{status: http.StatusUnprocessableEntity, detail: "the subscription's destination is not allowed", fields: []FieldError{fe}}
		}
		return next, nil
	})
	var re *requestError
	switch {
	case err == nil:
		a.applyLocally(r.Context(), id)
		return next, true
	case errors.As(err, &re) && re.err != nil:
		a.invalid(w, re.err)
	case errors.As(err, &re):
		writeProblem(w, re.status, re.detail, re.fields...)
	case errors.Is(err, subscription.ErrNotFound):
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("subscription %q not found", id))
	case errors.Is(err, subscription.ErrConflict):
		writeProblem(w, http.StatusConflict, err.Error())
	default:
		a.unavailable(w, err)
	}
	return next, false
}

// applyLocally applies a write of subscription id to this instance's
// cache, so that once the API has answered, this instance matches with
// the change; other instances learn of it from Redis within moments. A
// failure only delays that: the write itself is stored.
func (a *API) applyLocally(ctx context.Context, id string) {
	if a.opts.Cache == nil {
		return
	}
	if err := a.opts.Cache.Apply(ctx, id); err != nil {
		a.opts.Logger.Warn().Err(err).Msg("subscription stored; this instance applies it at its next refresh")
	}
}

func (a *API) getSubscription(w http.ResponseWriter, r *http.Request) {
	if sub, ok := a.load(w, r, r.PathValue("id")); ok {
		writeJSON(w, http.StatusOK, sub.Masked())
	}
}

func (a *API) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	err := a.opts.Store.Delete(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, subscription.ErrNotFound):
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("subscription %q not found", r.PathValue("id")))
	case err != nil:
		a.unavailable(w, err)
	default:
		a.opts.Logger.Info().Str("subscription", r.PathValue("id")).Msg("subscription deleted")
		a.applyLocally(r.Context(), r.PathValue("id"))
		if a.opts.History != nil {
			if err := a.opts.History.Forget(r.Context(), r.PathValue("id")); err != nil {
				a.opts.Logger.Warn().Err(err).Msg("history of a deleted subscription kept")
			}
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// checkDestinations refuses a subscription whose URL or OAuth2 token URL
// has a host that is a literal address the guard blocks, and a token URL
// that is plain http outside delivery.allow_networks: a client secret
// never travels in the clear to a public host.
func (a *API) checkDestinations(sub subscription.Subscription) (FieldError, bool) {
	if fe, ok := a.checkDestination("url", sub.URL); !ok {
		return fe, false
	}
	if sub.Auth == nil || sub.Auth.TokenURL == "" {
		return FieldError{}, true
	}
	if fe, ok := a.checkDestination("auth.token_url", sub.Auth.TokenURL); !ok {
		return fe, false
	}
	u, err := url.Parse(sub.Auth.TokenURL)
	if err != nil || u.Scheme == "https" {
		return FieldError{}, true
	}
	if addr, err := netip.ParseAddr(u.Hostname()); err == nil && a.opts.Guard != nil && a.opts.Guard.Allows(addr) {
		return FieldError{}, true
	}
	return FieldError{Field: "auth.token_url", Message: "must be https; plain http is accepted only for an address in delivery.allow_networks"}, false
}

// checkDestination refuses a URL, at field, whose host is a literal
// address the guard blocks (names are checked when connecting).
func (a *API) checkDestination(field, raw string) (FieldError, bool) {
	if a.opts.Guard == nil {
		return FieldError{}, true
	}
	u, err := url.Parse(raw)
	if err != nil {
		return FieldError{Field: field, Message: err.Error()}, false
	}
	host := strings.TrimSuffix(u.Hostname(), ".")
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		if numericHost(host) {
			return FieldError{Field: field, Message: fmt.Sprintf("host %q is an address in a numeric form other than dotted IPv4; write it as a.b.c.d", u.Hostname())}, false
		}
		return FieldError{}, true
	}
	if err := a.opts.Guard.Check(addr); err != nil {
		return FieldError{Field: field, Message: err.Error()}, false
	}
	return FieldError{}, true
}

// numericHost reports whether host is not a name but an IPv4 address in
// one of the forms resolvers still read (2130706433, 0x7f.1, 127.1,
// 0177.0.0.1): its last label is a number, which no top-level domain is.
func numericHost(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	digits := strings.TrimPrefix(strings.ToLower(last), "0x")
	if digits == "" {
		return true // "0x"
	}
	hex := len(digits) < len(last)
	for _, c := range digits {
		if !(c >= '0' && c <= '9' || hex && c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
