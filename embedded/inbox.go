package embedded

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/subscription"
)

// Inbox is a webhook receiver for trying hookstream out: it logs each
// delivery it gets, whatever its format, and checks its signature, when
// it has one, with the keys of the subscriptions posting to it.
type Inbox struct {
	// Keys returns the signing keys of the subscriptions that may have
	// sent r.
	Keys   func(r *http.Request) []credential.Key
	Logger zerolog.Logger
}

// maxShown bounds the body a log line shows.
const maxShown = 2048

func (in *Inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
		http.Error(w, "POST webhooks here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	id := r.Header.Get("webhook-id")
	line := in.Logger.Info().Str("method", r.Method).Str("path", r.URL.Path).Str("webhook_id", id).
		Str("content_type", r.Header.Get("Content-Type"))
	if sig := r.Header.Get("webhook-signature"); sig == "" {
		line = line.Str("signature", "none")
	} else {
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		verdict := "unknown key"
		for _, k := range in.Keys(r) {
			if k.Verify(id, ts, body, sig) {
				verdict = "ok"
				break
			}
		}
		line = line.Str("signature", verdict)
	}
	if auth := r.Header.Get("Authorization"); auth != "" {
		line = line.Bool("authorization", true)
	}
	if ce := r.Header.Get("Ce-Type"); ce != "" {
		line = line.Str("ce_type", ce).Str("ce_source", r.Header.Get("Ce-Source"))
	}
	var compact bytes.Buffer
	if len(body) <= maxShown && json.Compact(&compact, body) == nil {
		line = line.RawJSON("body", compact.Bytes())
	} else {
		line = line.Bytes("body", body[:min(len(body), maxShown)])
	}
	line.Msg("webhook received")
	w.WriteHeader(http.StatusNoContent)
}

// StoreKeys gives the signing keys, current and rotated-out, of every
// subscription in a store: the demo has few.
func StoreKeys(store *subscription.Store) func(*http.Request) []credential.Key {
	return func(r *http.Request) []credential.Key {
		var keys []credential.Key
		after := ""
		for {
			page, next, err := store.Page(r.Context(), after, 500, 500, nil)
			if err != nil {
				return keys
			}
			for _, s := range page {
				for _, secret := range append([]string{s.Secret}, previous(s)...) {
					if k, err := credential.ParseKey(secret); err == nil {
						keys = append(keys, k)
					}
				}
			}
			if next == "" {
				return keys
			}
			after = next
		}
	}
}

func previous(s subscription.Subscription) []string {
	out := make([]string, len(s.PreviousSecrets))
	for i, p := range s.PreviousSecrets {
		out[i] = p.Secret
	}
	return out
}
