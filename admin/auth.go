package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Token scopes.
const (
	ScopeAdmin = "admin" // every route
	ScopeRead  = "read"  // GET routes only
)

// TokenHash is the SHA-256 of a bearer token; only hashes are kept.
type TokenHash [32]byte

// HashToken returns the hash under which a token is configured.
func HashToken(token string) TokenHash { return sha256.Sum256([]byte(token)) }

// authorize checks the bearer token of a request to a protected route and
// writes the 401 or 403 when it fails. With no tokens configured every
// request passes (the config allows that on loopback only).
func (a *API) authorize(w http.ResponseWriter, r *http.Request) bool {
	scope, err := a.scope(r)
	switch {
	case err != nil:
		w.Header().Set("WWW-Authenticate", err.challenge)
		writeProblem(w, http.StatusUnauthorized, err.detail)
		return false
	case scope == ScopeRead && r.Method != http.MethodGet && r.Method != http.MethodHead:
		writeProblem(w, http.StatusForbidden, "this token is read-only; "+r.Method+" needs an admin token")
		return false
	}
	return true
}

// authError is why a request's token is refused.
type authError struct{ challenge, detail string }

// scope is the scope of r's bearer token: ScopeAdmin when no tokens are
// configured.
func (a *API) scope(r *http.Request) (string, *authError) {
	if len(a.opts.Tokens) == 0 {
		return ScopeAdmin, nil
	}
	// The scheme is case-insensitive (RFC 9110 §11.1).
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", &authError{`Bearer realm="hookstream"`, "a bearer token is required: Authorization: Bearer <token>"}
	}
	sum := HashToken(token)
	scope := ""
	for h, s := range a.opts.Tokens {
		if subtle.ConstantTimeCompare(h[:], sum[:]) == 1 {
			scope = s
		}
	}
	if scope == "" {
		return "", &authError{`Bearer realm="hookstream", error="invalid_token"`, "the bearer token is not valid"}
	}
	return scope, nil
}

// session answers GET /v1/session: the scope of the caller's token
// (admin when the API is open), so a client shows only what it may do.
func (a *API) session(w http.ResponseWriter, r *http.Request) {
	scope, _ := a.scope(r) // authorize has checked it
	resp := map[string]any{"scope": scope, "open": len(a.opts.Tokens) == 0}
	if a.opts.GatewayURL != "" {
		resp["gateway"] = a.opts.GatewayURL
	}
	writeJSON(w, http.StatusOK, resp)
}

// protected reports whether a path needs a token: the API and the
// profiler, not the probes and metrics.
func protected(path string) bool {
	return strings.HasPrefix(path, "/v1/") || path == "/v1" || strings.HasPrefix(path, "/debug/")
}
