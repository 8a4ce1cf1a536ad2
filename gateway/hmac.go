package gateway

import (
	"cmp"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// hmacSig verifies any sender that signs with an HMAC: the signature in
// signature_header (after prefix, encoded as hex or base64) is the HMAC,
// with algorithm, of the body, or of "{timestamp}{separator}{body}" when
// timestamp_header is set, which is then checked against tolerance.
type hmacSig struct {
	macs
	header, prefix, tsHeader, separator string
	base64                              bool
	tolerance                           time.Duration
}

func compileHMAC(s *Source, c *checker) verifier {
	c.requireSecrets(s)
	v := &hmacSig{header: http.CanonicalHeaderKey(s.SignatureHeader), prefix: s.Prefix,
		tsHeader: s.TimestampHeader, separator: cmp.Or(s.Separator, "."), tolerance: time.Duration(s.Tolerance)}
	if !httpguts.ValidHeaderFieldName(s.SignatureHeader) {
		c.fail("signature_header", "is required for provider hmac: the header carrying the signature")
	}
	if s.TimestampHeader != "" && !httpguts.ValidHeaderFieldName(s.TimestampHeader) {
		c.fail("timestamp_header", "is not a valid HTTP header name")
	}
	h, ok := hashes[cmp.Or(s.Algorithm, "sha256")]
	if !ok {
		c.fail("algorithm", "must be sha1, sha256 or sha512 (got %q)", s.Algorithm)
	}
	switch s.Encoding {
	case "", "hex":
	case "base64":
		v.base64 = true
	default:
		c.fail("encoding", "must be hex or base64 (got %q)", s.Encoding)
	}
	v.macs = macsOf(h, s.Secrets)
	return v
}

func (v *hmacSig) verify(r *Request) (Verified, *Refusal) {
	raw, ok := strings.CutPrefix(r.Header.Get(v.header), v.prefix)
	if !ok || raw == "" {
		return Verified{}, refuse(ReasonMissingSignature, "no %s header starting with %q", v.header, v.prefix)
	}
	var sigs [][]byte
	for _, s := range strings.Split(raw, ",") {
		if v.base64 {
			sigs = append(sigs, decodeBase64(s))
		} else {
			sigs = append(sigs, decodeHex(s))
		}
	}
	parts := [][]byte{r.Body}
	if v.tsHeader != "" {
		ts := r.Header.Get(v.tsHeader)
		if ts == "" {
			return Verified{}, refuse(ReasonMissingSignature, "no %s header", v.tsHeader)
		}
		if rf := checkTimestamp(ts, r.Now, v.tolerance); rf != nil {
			return Verified{}, rf
		}
		parts = [][]byte{[]byte(ts), []byte(v.separator), r.Body}
	}
	if !v.match(sigs, parts...) {
		return Verified{}, refuse(ReasonBadSignature, "%s does not match the body", v.header)
	}
	return Verified{Type: jsonString(r.Body, "type")}, nil
}
