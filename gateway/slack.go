package gateway

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"time"
)

// slack verifies X-Slack-Signature, "v0=<hex>" of the HMAC-SHA256 of
// "v0:{X-Slack-Request-Timestamp}:{body}" under the app's signing secret,
// and answers Slack's url_verification challenge itself, publishing
// nothing. The type is the event's (event.type), else the payload's; the
// id is event_id.
type slack struct {
	macs
	tolerance time.Duration
}

func compileSlack(s *Source, c *checker) verifier {
	c.requireSecrets(s)
	return &slack{macs: macsOf(sha256.New, s.Secrets), tolerance: time.Duration(s.Tolerance)}
}

func (v *slack) verify(r *Request) (Verified, *Refusal) {
	ts := r.Header.Get("X-Slack-Request-Timestamp")
	sig, ok := strings.CutPrefix(r.Header.Get("X-Slack-Signature"), "v0=")
	if !ok || ts == "" {
		return Verified{}, refuse(ReasonMissingSignature, "no X-Slack-Signature: v0=… and X-Slack-Request-Timestamp headers")
	}
	if !v.match([][]byte{decodeHex(sig)}, []byte("v0:"+ts+":"), r.Body) {
		return Verified{}, refuse(ReasonBadSignature, "X-Slack-Signature does not match the body")
	}
	if rf := checkTimestamp(ts, r.Now, v.tolerance); rf != nil {
		return Verified{}, rf
	}
	if jsonString(r.Body, "type") == "url_verification" {
		reply, _ := json.Marshal(map[string]string{"challenge": jsonString(r.Body, "challenge")})
		return Verified{Reply: reply}, nil
	}
	typ := jsonString(r.Body, "event", "type")
	if typ == "" {
		typ = jsonString(r.Body, "type")
	}
	return Verified{ID: jsonString(r.Body, "event_id"), Type: typ}, nil
}
