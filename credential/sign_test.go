package credential_test

import (
	"crypto/ed25519"
	"encoding/base64"
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

func hmacKey(t testing.TB, secret string) []byte {
	t.Helper()
	k, err := subscription.DecodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func key(t testing.TB, secret string) credential.Key {
	t.Helper()
	k, err := credential.ParseKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignStandardWebhooksVector(t *testing.T) {
	if got := credential.Sign(hmacKey(t, vectorSecret), vectorID, vectorTS, []byte(vectorBody)); got != vectorSig {
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
	if err := wh.Verify(body, headers("msg_1", now, credential.Sign(hmacKey(t, vectorSecret), "msg_1", now.Unix(), body))); err != nil {
		t.Fatalf("reference verifier rejects our signature: %v", err)
	}
	other := credential.Sign(hmacKey(t, vectorSecret), "msg_1", now.Unix(), append(body, ' '))
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

// The Standard Webhooks specification's ed25519 test vector.
const (
	vectorSigningKey = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
	vectorV1aSig     = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="
)

func TestSignV1aVector(t *testing.T) {
	k := key(t, vectorSigningKey)
	s := credential.Signer{Key: k}
	if got := s.Signatures(vectorID, time.Unix(vectorTS, 0), []byte(vectorBody)); got != vectorV1aSig {
		t.Errorf("Signatures() = %s, want %s", got, vectorV1aSig)
	}
	pub, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(k.PublicKey(), credential.PublicKeyPrefix))
	if err != nil || !strings.HasPrefix(k.PublicKey(), "whpk_") || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("public key %q", k.PublicKey())
	}
	sig, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(vectorV1aSig, "v1a,"))
	msg := []byte(vectorID + "." + strconv.Itoa(vectorTS) + "." + vectorBody)
	if !ed25519.Verify(pub, msg, sig) {
		t.Error("the public key does not verify the vector's signature")
	}
	if key(t, vectorSecret).PublicKey() != "" {
		t.Error("an HMAC secret has a public key")
	}
}

func TestParseKeyRefuses(t *testing.T) {
	for _, secret := range []string{"", "abc", "whsec_!!!", "whsec_c2hvcnQ=", "whsk_!!!", "whsk_c2hvcnQ=", "whpk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="} {
		if _, err := credential.ParseKey(secret); err == nil {
			t.Errorf("ParseKey(%q) accepted", secret)
		}
	}
	for _, secret := range []string{credential.NewSecret(), credential.NewSigningKey()} {
		if _, err := credential.ParseKey(secret); err != nil {
			t.Errorf("ParseKey(%q): %v", secret, err)
		}
	}
}

// TestRotationAcrossSchemes: a subscription moving from an HMAC secret to
// an ed25519 key signs with both during the window.
func TestRotationAcrossSchemes(t *testing.T) {
	now := time.Now()
	s := credential.Signer{Key: key(t, vectorSigningKey), Previous: []credential.ExpiringKey{{Key: key(t, vectorSecret), ExpiresAt: now.Add(time.Hour)}}}
	sig := s.Signatures("msg_1", now, []byte(`{}`))
	parts := strings.Fields(sig)
	if len(parts) != 2 || !strings.HasPrefix(parts[0], "v1a,") || !strings.HasPrefix(parts[1], "v1,") {
		t.Fatalf("signatures %q", sig)
	}
	wh, _ := standardwebhooks.NewWebhook(vectorSecret)
	if err := wh.Verify([]byte(`{}`), headers("msg_1", now, sig)); err != nil {
		t.Errorf("the reference library rejects the v1 signature beside a v1a one: %v", err)
	}
}
