// Package delivery sends webhooks: it renders the payload, signs it per
// the Standard Webhooks specification, posts it through one pooled
// transport behind a network guard and a per-endpoint circuit breaker, and
// classifies the outcome. Where a failed delivery goes next is package
// retry's.
package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
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
