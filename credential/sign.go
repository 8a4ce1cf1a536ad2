// Package credential holds what a delivery proves itself and its sender
// with: the Standard Webhooks signing keys a receiver verifies, and the
// credentials an endpoint asks for.
package credential

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"time"
)

// Sign returns the Standard Webhooks signature of body, "v1," followed by
// the base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under key.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	return string(AppendSignature(nil, key, id, timestamp, body))
}

// AppendSignature appends the signature of body to dst.
func AppendSignature(dst, key []byte, id string, timestamp int64, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	var buf [20]byte
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(buf[:0], timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	var sum [sha256.Size]byte
	dst = append(dst, "v1,"...)
	return base64.StdEncoding.AppendEncode(dst, mac.Sum(sum[:0]))
}

// Signer signs deliveries with a subscription's current key and with the
// rotated-out keys that have not expired.
type Signer struct {
	// Key is the current HMAC key.
	Key []byte
	// Previous are rotated-out keys, each signing until it expires.
	Previous []ExpiringKey
}

// ExpiringKey is a signing key valid until ExpiresAt.
type ExpiringKey struct {
	Key       []byte
	ExpiresAt time.Time
}

// Signatures returns the webhook-signature header of body sent at now:
// the current key's signature and every unexpired previous key's,
// space-separated as Standard Webhooks allows, so that a receiver holding
// either secret can verify during a rotation.
func (s *Signer) Signatures(id string, now time.Time, body []byte) string {
	ts := now.Unix()
	sig := AppendSignature(make([]byte, 0, 48*(1+len(s.Previous))), s.Key, id, ts, body)
	for _, p := range s.Previous {
		if p.ExpiresAt.After(now) {
			sig = append(sig, ' ')
			sig = AppendSignature(sig, p.Key, id, ts, body)
		}
	}
	return string(sig)
}
