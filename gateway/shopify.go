package gateway

import "crypto/sha256"

// shopify verifies X-Shopify-Hmac-Sha256, the base64 HMAC-SHA256 of the
// body under the app's client secret. The type is X-Shopify-Topic
// ("orders/create"), the id X-Shopify-Webhook-Id.
type shopify struct{ macs }

func compileShopify(s *Source, c *checker) verifier {
	c.requireSecrets(s)
	return &shopify{macsOf(sha256.New, s.Secrets)}
}

func (v *shopify) verify(r *Request) (Verified, *Refusal) {
	sig := r.Header.Get("X-Shopify-Hmac-Sha256")
	if sig == "" {
		return Verified{}, refuse(ReasonMissingSignature, "no X-Shopify-Hmac-Sha256 header")
	}
	if !v.match([][]byte{decodeBase64(sig)}, r.Body) {
		return Verified{}, refuse(ReasonBadSignature, "X-Shopify-Hmac-Sha256 does not match the body")
	}
	return Verified{ID: r.Header.Get("X-Shopify-Webhook-Id"), Type: r.Header.Get("X-Shopify-Topic")}, nil
}
