package gateway

import (
	"fmt"
	"strings"
	"time"

	"github.com/hookstream/hookstream/credential"
)

// standard verifies Standard Webhooks v1 (webhook-id, webhook-timestamp,
// webhook-signature, or their svix-* aliases) with "whsec_" secrets, and
// v1a with "whpk_" public keys. The id is webhook-id, the type the
// payload's.
type standard struct {
	keys      []credential.Key
	tolerance time.Duration
}

func compileStandard(s *Source, c *checker) verifier {
	c.requireSecrets(s)
	v := &standard{tolerance: time.Duration(s.Tolerance)}
	for i, secret := range s.Secrets {
		k, err := credential.ParseVerifyingKey(secret)
		if err != nil {
			c.fail(fmt.Sprintf("secrets[%d]", i), "%v", err)
			continue
		}
		v.keys = append(v.keys, k)
	}
	return v
}

func (v *standard) verify(r *Request) (Verified, *Refusal) {
	get := func(name string) string {
		if s := r.Header.Get("webhook-" + name); s != "" {
			return s
		}
		return r.Header.Get("svix-" + name)
	}
	id, ts, sig := get("id"), get("timestamp"), get("signature")
	if id == "" || ts == "" || sig == "" {
		return Verified{}, refuse(ReasonMissingSignature, "webhook-id, webhook-timestamp and webhook-signature (or svix-*) are required")
	}
	if rf := checkTimestamp(ts, r.Now, v.tolerance); rf != nil {
		return Verified{}, rf
	}
	unix, _ := parseUnix(ts)
	for _, k := range v.keys {
		if k.Verify(id, unix, r.Body, sig) {
			return Verified{ID: id, Type: jsonString(r.Body, "type")}, nil
		}
	}
	return Verified{}, refuse(ReasonBadSignature, "no signature in webhook-signature matches the body")
}

func parseUnix(s string) (int64, bool) {
	var n int64
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
