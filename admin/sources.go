// Inbound sources: create, list, get, replace, delete and rotate-secret.

package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/internal/fields"
)

// sourceRequest is the body of POST /v1/sources and PUT /v1/sources/{id}:
// a source without its timestamps.
type sourceRequest struct {
	gateway.Source
	CreatedAt any   `json:"created_at"` // read-only: accepted and ignored
	UpdatedAt any   `json:"updated_at"`
	Enabled   *bool `json:"enabled"`
}

// withSources answers 404 when this API has no source store.
func (a *API) withSources(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.opts.Sources == nil {
			writeProblem(w, http.StatusNotFound, "inbound sources are not configured on this instance")
			return
		}
		h(w, r)
	}
}

// chosenSecret are the providers whose secret hookstream may make.
var chosenSecret = []string{"standard", "hmac", "api_key"}

func (a *API) createSource(w http.ResponseWriter, r *http.Request) {
	var req sourceRequest
	if !a.decode(w, r, &req) {
		return
	}
	src := req.Source.WithDefaults()
	now := a.opts.Now().UTC()
	src.Enabled = req.Enabled == nil || *req.Enabled
	src.CreatedAt, src.UpdatedAt = now, now
	if src.ID == "" {
		src.ID = gateway.NewID()
	}
	if len(src.Secrets) == 0 && slices.Contains(chosenSecret, src.Provider) {
		src.Secrets = []string{gateway.NewSecret()}
	}
	if _, err := gateway.Compile(src); err != nil {
		a.invalidSource(w, err)
		return
	}
	err := a.opts.Sources.Create(r.Context(), src)
	switch {
	case errors.Is(err, gateway.ErrExists):
		writeProblem(w, http.StatusConflict, fmt.Sprintf("source %q already exists", src.ID))
		return
	case err != nil:
		a.unavailable(w, err)
		return
	}
	a.opts.Logger.Info().Str("source", src.ID).Str("provider", src.Provider).Msg("inbound source created")
	a.reloadSources(r.Context())
	w.Header().Set("Location", "/v1/sources/"+url.PathEscape(src.ID))
	// The secrets are shown this once.
	writeJSON(w, http.StatusCreated, src)
}

func (a *API) listSources(w http.ResponseWriter, r *http.Request) {
	all, err := a.opts.Sources.List(r.Context())
	if err != nil {
		a.unavailable(w, err)
		return
	}
	shown := make([]gateway.Source, len(all))
	for i, s := range all {
		shown[i] = s.Masked()
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": shown})
}

func (a *API) getSource(w http.ResponseWriter, r *http.Request) {
	if src, ok := a.loadSource(w, r); ok {
		writeJSON(w, http.StatusOK, src.Masked())
	}
}

// replaceSource is PUT: the body replaces the source, keeping its id and
// creation time and, unless it gives them (masked secrets count as not
// given), its secrets.
func (a *API) replaceSource(w http.ResponseWriter, r *http.Request) {
	var req sourceRequest
	if !a.decode(w, r, &req) {
		return
	}
	cur, ok := a.loadSource(w, r)
	if !ok {
		return
	}
	next := req.Source
	if next.ID != "" && next.ID != cur.ID {
		writeProblem(w, http.StatusUnprocessableEntity, "the body's id differs from the path's",
			FieldError{Field: "id", Message: fmt.Sprintf("must be %q or left out", cur.ID)})
		return
	}
	next.ID, next.CreatedAt, next.UpdatedAt = cur.ID, cur.CreatedAt, a.opts.Now().UTC()
	next.Enabled = req.Enabled == nil || *req.Enabled
	if len(next.Secrets) == 0 || slices.Equal(next.Secrets, cur.Masked().Secrets) {
		next.Secrets = cur.Secrets
	}
	a.storeSource(w, r, next, http.StatusOK)
}

// rotateSourceSecret puts a new secret in front of the current one: both
// verify until the old one is dropped with PUT, or by the next rotation.
// The new secret is given ({"secret": "…"}, as the provider shows it) or,
// for providers whose secret hookstream may choose, made.
func (a *API) rotateSourceSecret(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Secret string `json:"secret"`
	}
	if r.ContentLength != 0 && !a.decode(w, r, &req) {
		return
	}
	cur, ok := a.loadSource(w, r)
	if !ok {
		return
	}
	if req.Secret == "" {
		if !slices.Contains(chosenSecret, cur.Provider) {
			writeProblem(w, http.StatusUnprocessableEntity, "give the new secret as the provider shows it",
				FieldError{Field: "secret", Message: fmt.Sprintf("is required: %s chooses its own secrets", cur.Provider)})
			return
		}
		req.Secret = gateway.NewSecret()
	}
	cur.Secrets = append([]string{req.Secret}, cur.Secrets...)[:min(len(cur.Secrets)+1, gateway.MaxSecrets)]
	cur.UpdatedAt = a.opts.Now().UTC()
	a.storeSource(w, r, cur, http.StatusOK)
}

func (a *API) deleteSource(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := a.opts.Sources.Delete(r.Context(), id)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("source %q not found", id))
	case err != nil:
		a.unavailable(w, err)
	default:
		if a.opts.Receipts != nil {
			_ = a.opts.Receipts.Delete(r.Context(), id)
		}
		a.reloadSources(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}
}

// sourceReceipts lists a source's recent requests, newest first:
// ?limit= (1–100, default 50).
func (a *API) sourceReceipts(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > gateway.DefaultReceipts {
			writeProblem(w, http.StatusBadRequest, "invalid query parameters",
				FieldError{Field: "limit", Message: fmt.Sprintf("must be a whole number from 1 to %d", gateway.DefaultReceipts)})
			return
		}
		limit = n
	}
	src, ok := a.loadSource(w, r)
	if !ok {
		return
	}
	receipts := []gateway.Receipt{}
	if a.opts.Receipts != nil {
		var err error
		if receipts, err = a.opts.Receipts.Recent(r.Context(), src.ID, limit); err != nil {
			a.unavailable(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": receipts})
}

// storeSource validates and stores src, answering it with status; a
// secret just given or made is shown, the others masked.
func (a *API) storeSource(w http.ResponseWriter, r *http.Request, src gateway.Source, status int) {
	src = src.WithDefaults()
	if _, err := gateway.Compile(src); err != nil {
		a.invalidSource(w, err)
		return
	}
	if err := a.opts.Sources.Put(r.Context(), src); err != nil {
		a.unavailable(w, err)
		return
	}
	a.reloadSources(r.Context())
	shown := src.Masked()
	if len(src.Secrets) > 0 {
		shown.Secrets[0] = src.Secrets[0]
	}
	writeJSON(w, status, shown)
}

func (a *API) loadSource(w http.ResponseWriter, r *http.Request) (gateway.Source, bool) {
	id := r.PathValue("id")
	src, err := a.opts.Sources.Get(r.Context(), id)
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("source %q not found", id))
		return src, false
	case err != nil:
		a.unavailable(w, err)
		return src, false
	}
	return src, true
}

func (a *API) invalidSource(w http.ResponseWriter, err error) {
	var verr *fields.Errors
	if !errors.As(err, &verr) {
		a.invalid(w, err)
		return
	}
	list := make([]FieldError, len(verr.List))
	for i, fe := range verr.List {
		list[i] = FieldError{Field: fe.Field, Message: fe.Message}
	}
	writeProblem(w, http.StatusUnprocessableEntity, "the source is not valid", list...)
}

// UseSources makes sources, the running gateway's, reload after each
// change made through the API, answers its receipts and tells the
// console it listens at url.
func (a *API) UseSources(sources *gateway.Sources, receipts *gateway.Receipts, url string) {
	a.opts.SourceCache, a.opts.Receipts, a.opts.GatewayURL = sources, receipts, url
}

// reloadSources makes a change live on this instance at once; the others
// see it within a second.
func (a *API) reloadSources(ctx context.Context) {
	if a.opts.SourceCache == nil {
		return
	}
	if err := a.opts.SourceCache.Reload(ctx); err != nil {
		a.opts.Logger.Warn().Err(err).Msg("source stored; this instance applies it at its next refresh")
	}
}
