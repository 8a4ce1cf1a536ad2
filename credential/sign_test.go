package credential_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/subscription"
)

// The Standard Webhooks specification's test vector.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func key(t testing.TB, secret string) []byte {
	t.Helper()
	k, err := subscription.DecodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignStandardWebhooksVector(t *testing.T) {
	if got := credential.Sign(key(t, vectorSecret), vectorID, vectorTS, []byte(vectorBody)); got != vectorSig {
		t.Errorf("Sign() = %s, want %s", got, vectorSig)
	}
}

// headers are a delivery's identity headers as a receiver reads them.
func headers(id string, now time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

func TestSignatureVerifiedByReferenceLibrary(t *testing.T) {
	wh, err := standardwebhooks.NewWebhook(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`{"id":"x","data":{"a":"ü\n"}}`)
	if err := wh.Verify(body, headers("msg_1", now, credential.Sign(key(t, vectorSecret), "msg_1", now.Unix(), body))); err != nil {
		t.Fatalf("reference verifier rejects our signature: %v", err)
	}
	other := credential.Sign(key(t, vectorSecret), "msg_1", now.Unix(), append(body, ' '))
	if err := wh.Verify(body, headers("msg_1", now, other)); err == nil {
		t.Fatal("reference verifier accepts a signature of another body")
	}
}

func TestRotatedSecretSignsDuringItsWindow(t *testing.T) {
	now := time.Now()
	const next = "whsec_dGhpcyBpcyB0aGUgbmV4dCBzZWNyZXQgb2YgMzIgYnl0ZXM="
	body := []byte(`{"a":1}`)
	for _, tt := range []struct {
		name    string
		expires time.Time
		sigs    int
	}{
		{"within the window", now.Add(time.Hour), 2},
		{"after the window", now.Add(-time.Second), 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := credential.Signer{Key: key(t, next), Previous: []credential.ExpiringKey{{Key: key(t, vectorSecret), ExpiresAt: tt.expires}}}
			sig := s.Signatures("msg_rot", now, body)
			if n := len(strings.Fields(sig)); n != tt.sigs {
				t.Fatalf("%d signatures, want %d: %s", n, tt.sigs, sig)
			}
			for secret, want := range map[string]bool{next: true, vectorSecret: tt.sigs == 2} {
				wh, _ := standardwebhooks.NewWebhook(secret)
				if err := wh.Verify(body, headers("msg_rot", now, sig)); (err == nil) != want {
					t.Errorf("verify with %s…: %v, want ok=%v", secret[:10], err, want)
				}
			}
		})
	}
}
