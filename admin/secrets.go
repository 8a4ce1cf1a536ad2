// POST /v1/subscriptions/{id}/rotate-secret.

package admin

import (
	_ "embed"
	"net/http"

	"github.com/hookstream/hookstream/subscription"
)

// rotateRequest is the optional body of POST …/rotate-secret.
type rotateRequest struct {
	Secret string `json:"secret" validate:"omitempty,startswith=whsec_"`
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
	next := req.Secret
	if next == "" {
		next = subscription.NewSecret()
	}
	sub, ok := a.store(w, r, id, func(cur subscription.Subscription) subscription.Subscription {
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
