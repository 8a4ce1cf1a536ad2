package gateway

import (
	"crypto/sha256"
	"hash"
	"strings"
	"time"
)

// stripe verifies Stripe's Stripe-Signature header,
// "t=<unix seconds>,v1=<hex>[,v1=<hex>…]": each v1 is the HMAC-SHA256 of
// "{t}.{body}" under the endpoint's signing secret (whsec_…, used as it
// is). The id and type are the event's.
type stripe struct {
	macs
	tolerance time.Duration
}

func compileStripe(s *Source, c *checker) verifier {
	c.requireSecrets(s)
	return &stripe{macs: macsOf(sha256.New, s.Secrets), tolerance: time.Duration(s.Tolerance)}
}

// macsOf keys a MAC with each secret as its bytes.
func macsOf(h func() hash.Hash, secrets []string) macs {
	m := macs{newHash: h}
	for _, s := range secrets {
		m.keys = append(m.keys, []byte(s))
	}
	return m
}

func (v *stripe) verify(r *Request) (Verified, *Refusal) {
	header := r.Header.Get("Stripe-Signature")
	if header == "" {
		return Verified{}, refuse(ReasonMissingSignature, "no Stripe-Signature header")
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = val
		case "v1":
			if b := decodeHex(val); b != nil {
				sigs = append(sigs, b)
			}
		}
	}
	if ts == "" || len(sigs) == 0 {
		return Verified{}, refuse(ReasonMissingSignature, "Stripe-Signature holds no t and v1")
	}
	if !v.match(sigs, []byte(ts), []byte{'.'}, r.Body) {
		return Verified{}, refuse(ReasonBadSignature, "no v1 signature matches the body")
	}
	if rf := checkTimestamp(ts, r.Now, v.tolerance); rf != nil {
		return Verified{}, rf
	}
	return Verified{ID: jsonString(r.Body, "id"), Type: jsonString(r.Body, "type")}, nil
}
