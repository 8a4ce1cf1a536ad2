package embedded

import (
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/subscription"
)

// Inbox is a webhook receiver for trying hookstream out: it checks each
// delivery's signature with its subscription's secret and logs it.
type Inbox struct {
	// Secret returns the signing key of a subscription.
	Secret func(r *http.Request, subscriptionID string) ([]byte, bool)
	Logger zerolog.Logger
}

func (in *Inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST webhooks here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var env struct {
		Type           string          `json:"type"`
		SubscriptionID string          `json:"subscription_id"`
		Data           json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(body, &env)
	id := r.Header.Get("webhook-id")
	verified := false
	if key, ok := in.Secret(r, env.SubscriptionID); ok {
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		want := credential.Sign(key, id, ts, body)
		for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
			if hmac.Equal([]byte(sig), []byte(want)) {
				verified = true
			}
		}
	}
	in.Logger.Info().Str("webhook_id", id).Str("subscription", env.SubscriptionID).Str("type", env.Type).
		Bool("signature_ok", verified).RawJSON("data", compactOr(env.Data)).Msg("webhook received")
	w.WriteHeader(http.StatusNoContent)
}

func compactOr(b json.RawMessage) []byte {
	if len(b) == 0 || !json.Valid(b) {
		return []byte("null")
	}
	return b
}

// StoreSecrets looks secrets up in a subscription store.
func StoreSecrets(store *subscription.Store) func(*http.Request, string) ([]byte, bool) {
	return func(r *http.Request, id string) ([]byte, bool) {
		sub, err := store.Get(r.Context(), id)
		if err != nil {
			return nil, false
		}
		key, err := subscription.DecodeSecret(sub.Secret)
		return key, err == nil
	}
}
