package gateway_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/gateway"
)

func compile(t *testing.T, s gateway.Source) *gateway.Compiled {
	t.Helper()
	if s.ID == "" {
		s.ID, s.Name = "src", "source"
	}
	s.Enabled = true
	c, err := gateway.Compile(s)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return c
}

// sign returns the HMAC-SHA256 of parts under key.
func sign(key string, parts ...string) []byte {
	h := hmac.New(sha256.New, []byte(key))
	for _, p := range parts {
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

// TestProviders verifies each provider's requests, as the provider's own
// library or documentation signs them, and refuses tampered ones.
func TestProviders(t *testing.T) {
	now := time.Now()
	stripeBody := []byte(`{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","type":"payment_intent.succeeded","data":{"object":{}}}`)
	stripeSigned := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: stripeBody, Secret: "whsec_stripe_test_secret", Timestamp: now})
	stripeOld := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: stripeBody, Secret: "whsec_stripe_test_secret", Timestamp: now.Add(-10 * time.Minute)})

	slackTS := strconv.FormatInt(now.Unix(), 10)
	slackBody := `{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention","text":"hi"}}`
	slackSig := "v0=" + hex.EncodeToString(sign("8f742231b10e8888abcd99yyyzzz85a5", "v0:"+slackTS+":"+slackBody))
	slackHeader := http.Header{"X-Slack-Request-Timestamp": {slackTS}, "X-Slack-Signature": {slackSig}}
	// Slack's own library accepts the signature the test made, so the
	// test signs as Slack does.
	sv, err := slack.NewSecretsVerifier(slackHeader, "8f742231b10e8888abcd99yyyzzz85a5")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = sv.Write([]byte(slackBody))
	if err := sv.Ensure(); err != nil {
		t.Fatalf("slack-go refuses the test's signature: %v", err)
	}
	challenge := `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	challengeSig := "v0=" + hex.EncodeToString(sign("8f742231b10e8888abcd99yyyzzz85a5", "v0:"+slackTS+":"+challenge))

	shopifyBody := `{"id":820982911946154508,"email":"jon@example.com"}`
	shopifySig := base64.StdEncoding.EncodeToString(sign("shpss_secret", shopifyBody))

	stdKey, _ := credential.ParseKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	stdSigner := credential.Signer{Key: stdKey}
	stdBody := `{"type":"invoice.paid","data":{}}`
	edSecret := credential.NewSigningKey()
	edKey, _ := credential.ParseKey(edSecret)
	edSigner := credential.Signer{Key: edKey}

	hmacTS := strconv.FormatInt(now.Unix(), 10)
	sha1Sig := func(body string) string {
		h := hmac.New(sha1.New, []byte("k"))
		h.Write([]byte(body))
		return hex.EncodeToString(h.Sum(nil))
	}

	tests := []struct {
		name     string
		source   gateway.Source
		header   http.Header
		query    string
		body     string
		at       time.Time
		want     gateway.Verified
		refusal  gateway.Reason
		replyHas string
	}{
		{name: "stripe, signed by stripe-go", source: gateway.Source{Provider: "stripe", Secrets: []string{"whsec_stripe_test_secret"}},
			header: http.Header{"Stripe-Signature": {stripeSigned.Header}}, body: string(stripeBody),
			want: gateway.Verified{ID: "evt_1NG8Du2eZvKYlo2CUI79vXWy", Type: "payment_intent.succeeded"}},
		{name: "stripe, rotated secret", source: gateway.Source{Provider: "stripe", Secrets: []string{"whsec_new", "whsec_stripe_test_secret"}},
			header: http.Header{"Stripe-Signature": {stripeSigned.Header}}, body: string(stripeBody),
			want: gateway.Verified{ID: "evt_1NG8Du2eZvKYlo2CUI79vXWy", Type: "payment_intent.succeeded"}},
		{name: "stripe, tampered body", source: gateway.Source{Provider: "stripe", Secrets: []string{"whsec_stripe_test_secret"}},
			header: http.Header{"Stripe-Signature": {stripeSigned.Header}}, body: string(stripeBody) + " ", refusal: gateway.ReasonBadSignature},
		{name: "stripe, old timestamp", source: gateway.Source{Provider: "stripe", Secrets: []string{"whsec_stripe_test_secret"}},
			header: http.Header{"Stripe-Signature": {stripeOld.Header}}, body: string(stripeBody), refusal: gateway.ReasonTimestamp},
		{name: "stripe, no header", source: gateway.Source{Provider: "stripe", Secrets: []string{"whsec_x"}},
			body: string(stripeBody), refusal: gateway.ReasonMissingSignature},
		// GitHub's documented example: secret, payload and signature from
		// "Validating webhook deliveries".
		{name: "github, documented vector", source: gateway.Source{Provider: "github", Secrets: []string{"It's a Secret to Everybody"}},
			header: http.Header{"X-Hub-Signature-256": {"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
				"X-Github-Event": {"ping"}, "X-Github-Delivery": {"72d3162e-cc78-11e3-81ab-4c9367dc0958"}},
			body: "Hello, World!", want: gateway.Verified{ID: "72d3162e-cc78-11e3-81ab-4c9367dc0958", Type: "ping"}},
		{name: "github, tampered signature", source: gateway.Source{Provider: "github", Secrets: []string{"It's a Secret to Everybody"}},
			header: http.Header{"X-Hub-Signature-256": {"sha256=657107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}},
			body:   "Hello, World!", refusal: gateway.ReasonBadSignature},
		{name: "github, action in the type", source: gateway.Source{Provider: "github", Secrets: []string{"s"}},
			header: http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(sign("s", `{"action":"opened"}`))},
				"X-Github-Event": {"pull_request"}, "X-Github-Delivery": {"d1"}},
			body: `{"action":"opened"}`, want: gateway.Verified{ID: "d1", Type: "pull_request.opened"}},
		{name: "slack, checked by slack-go too", source: gateway.Source{Provider: "slack", Secrets: []string{"8f742231b10e8888abcd99yyyzzz85a5"}},
			header: slackHeader, body: slackBody, want: gateway.Verified{ID: "Ev08MFMKH6", Type: "app_mention"}},
		{name: "slack, url_verification answered", source: gateway.Source{Provider: "slack", Secrets: []string{"8f742231b10e8888abcd99yyyzzz85a5"}},
			header: http.Header{"X-Slack-Request-Timestamp": {slackTS}, "X-Slack-Signature": {challengeSig}}, body: challenge,
			replyHas: `{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}`},
		{name: "slack, replayed an hour later", source: gateway.Source{Provider: "slack", Secrets: []string{"8f742231b10e8888abcd99yyyzzz85a5"}},
			header: slackHeader, body: slackBody, at: now.Add(time.Hour), refusal: gateway.ReasonTimestamp},
		{name: "shopify", source: gateway.Source{Provider: "shopify", Secrets: []string{"shpss_secret"}},
			header: http.Header{"X-Shopify-Hmac-Sha256": {shopifySig}, "X-Shopify-Topic": {"orders/create"}, "X-Shopify-Webhook-Id": {"b54557e4"}},
			body:   shopifyBody, want: gateway.Verified{ID: "b54557e4", Type: "orders/create"}},
		{name: "shopify, tampered", source: gateway.Source{Provider: "shopify", Secrets: []string{"shpss_secret"}},
			header: http.Header{"X-Shopify-Hmac-Sha256": {shopifySig}}, body: shopifyBody + "x", refusal: gateway.ReasonBadSignature},
		// The Standard Webhooks specification's test vector.
		{name: "standard, specification vector", source: gateway.Source{Provider: "standard", Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
			header: http.Header{"Webhook-Id": {"msg_p5jXN8AQM9LWM0D4loKWxJek"}, "Webhook-Timestamp": {"1614265330"},
				"Webhook-Signature": {"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}},
			body: `{"test": 2432232314}`, at: time.Unix(1614265330, 0), want: gateway.Verified{ID: "msg_p5jXN8AQM9LWM0D4loKWxJek"}},
		{name: "standard, svix headers", source: gateway.Source{Provider: "standard", Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
			header: http.Header{"Svix-Id": {"msg_2"}, "Svix-Timestamp": {hmacTS}, "Svix-Signature": {stdSigner.Signatures("msg_2", now, []byte(stdBody))}},
			body:   stdBody, want: gateway.Verified{ID: "msg_2", Type: "invoice.paid"}},
		{name: "standard, v1a with the public key", source: gateway.Source{Provider: "standard", Secrets: []string{edKey.PublicKey()}},
			header: http.Header{"Webhook-Id": {"msg_3"}, "Webhook-Timestamp": {hmacTS}, "Webhook-Signature": {edSigner.Signatures("msg_3", now, []byte(stdBody))}},
			body:   stdBody, want: gateway.Verified{ID: "msg_3", Type: "invoice.paid"}},
		{name: "standard, tampered", source: gateway.Source{Provider: "standard", Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
			header: http.Header{"Webhook-Id": {"msg_2"}, "Webhook-Timestamp": {hmacTS}, "Webhook-Signature": {stdSigner.Signatures("msg_2", now, []byte(stdBody))}},
			body:   stdBody + " ", refusal: gateway.ReasonBadSignature},
		{name: "hmac, sha1 hex with a prefix", source: gateway.Source{Provider: "hmac", Secrets: []string{"k"}, SignatureHeader: "X-Signature", Algorithm: "sha1", Prefix: "sha1="},
			header: http.Header{"X-Signature": {"sha1=" + sha1Sig(`{"type":"t"}`)}}, body: `{"type":"t"}`, want: gateway.Verified{Type: "t"}},
		{name: "hmac, timestamped", source: gateway.Source{Provider: "hmac", Secrets: []string{"k"}, SignatureHeader: "X-Sig", Encoding: "base64", TimestampHeader: "X-Ts", Separator: ":"},
			header: http.Header{"X-Sig": {base64.StdEncoding.EncodeToString(sign("k", hmacTS+":"+"{}"))}, "X-Ts": {hmacTS}}, body: "{}"},
		{name: "basic", source: gateway.Source{Provider: "basic", Secrets: []string{"acme:s3cret"}},
			header: http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("acme:s3cret"))}}, body: "{}"},
		{name: "basic, wrong password", source: gateway.Source{Provider: "basic", Secrets: []string{"acme:s3cret"}},
			header: http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("acme:guess"))}}, body: "{}", refusal: gateway.ReasonBadCredential},
		{name: "api key in the query", source: gateway.Source{Provider: "api_key", Secrets: []string{"k3y"}, KeyQuery: "key"},
			query: "key=k3y", body: "{}"},
		{name: "api key missing", source: gateway.Source{Provider: "api_key", Secrets: []string{"k3y"}}, body: "{}", refusal: gateway.ReasonMissingCredential},
		{name: "none", source: gateway.Source{Provider: "none", AllowIPs: []string{"10.0.0.0/8"}}, body: `{"type":"x"}`, want: gateway.Verified{Type: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.at
			if at.IsZero() {
				at = now
			}
			q, _ := url.ParseQuery(tt.query)
			header := tt.header
			if header == nil {
				header = http.Header{}
			}
			got, rf := compile(t, tt.source).Verify(&gateway.Request{Header: header, Query: q, Body: []byte(tt.body), Now: at})
			switch {
			case tt.refusal != "":
				if rf == nil || rf.Reason != tt.refusal {
					t.Fatalf("Verify() = %+v, %v; want refusal %s", got, rf, tt.refusal)
				}
				for _, secret := range tt.source.Secrets {
					if len(secret) > 3 && containsStr(rf.Detail, secret) {
						t.Errorf("the refusal shows the secret: %s", rf.Detail)
					}
				}
			case rf != nil:
				t.Fatalf("Verify() refused: %v", rf)
			case tt.replyHas != "":
				if string(got.Reply) != tt.replyHas {
					t.Errorf("reply %s, want %s", got.Reply, tt.replyHas)
				}
			case got.ID != tt.want.ID || got.Type != tt.want.Type || got.Reply != nil:
				t.Errorf("Verify() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func containsStr(s, sub string) bool { return strings.Contains(s, sub) }
