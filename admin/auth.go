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
	if len(a.opts.Tokens) == 0 {
		return true
	}
	// The scheme is case-insensitive (RFC 9110 §11.1).
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hookstream"`)
		writeProblem(w, http.StatusUnauthorized, "a bearer token is required: Authorization: Bearer <token>")
		return false
	}
	sum := HashToken(token)
	scope := ""
	for h, s := range a.opts.Tokens {
		if subtle.ConstantTimeCompare(h[:], sum[:]) == 1 {
			scope = s
		}
	}
	switch {
	case scope == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="hookstream", error="invalid_token"`)
		writeProblem(w, http.StatusUnauthorized, "the bearer token is not valid")
		return false
	case scope == ScopeRead && r.Method != http.MethodGet && r.Method != http.MethodHead:
		writeProblem(w, http.StatusForbidden, "this token is read-only; "+r.Method+" needs an admin token")
		return false
	}
	return true
}

// protected reports whether a path needs a token: the API and the
// profiler, not the probes and metrics.
func protected(path string) bool {
	return strings.HasPrefix(path, "/v1/") || path == "/v1" || strings.HasPrefix(path, "/debug/")
}
