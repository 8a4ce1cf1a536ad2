// POST /v1/subscriptions/{id}/rotate-secret.

package admin

import (
	_ "embed"
	"net/http"
	"strings"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/subscription"
)

// rotateRequest is the optional body of POST …/rotate-secret.
type rotateRequest struct {
	// Secret is the next key; default a fresh one of the current scheme.
	Secret string `json:"secret"`
}

// rotateSecret gives a subscription a new secret; the old one keeps
// signing beside it for the rotation window. The response shows the new
// secret, once.
func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request) {
	var req rotateRequest
	if r.ContentLength != 0 && !a.decode(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	sub, ok := a.store(w, r, id, func(cur subscription.Subscription) subscription.Subscription {
		next := req.Secret
		switch {
		case next != "":
		case strings.HasPrefix(cur.Secret, credential.SigningKeyPrefix):
			next = credential.NewSigningKey()
		default:
			next = subscription.NewSecret()
		}
		cur.Rotate(next, a.opts.Now().UTC(), a.opts.RotationWindow)
		return cur
	})
	if !ok {
		return
	}
	a.opts.Logger.Info().Str("subscription", id).Dur("window", a.opts.RotationWindow).Msg("subscription secret rotated")
	out := sub.Masked()
	out.Secret = sub.Secret
	writeJSON(w, http.StatusOK, out)
}
