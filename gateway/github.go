package gateway

import (
	"crypto/sha256"
	"strings"
)

// gitHub verifies X-Hub-Signature-256, "sha256=<hex>" of the HMAC-SHA256
// of the body under the webhook's secret. The type is X-GitHub-Event,
// with the payload's action when it has one ("pull_request.opened"); the
// id is X-GitHub-Delivery.
type gitHub struct{ macs }

func compileGitHub(s *Source, c *checker) verifier {
	c.requireSecrets(s)
	return &gitHub{macsOf(sha256.New, s.Secrets)}
}

func (v *gitHub) verify(r *Request) (Verified, *Refusal) {
	sig, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")
	if !ok {
		return Verified{}, refuse(ReasonMissingSignature, "no X-Hub-Signature-256: sha256=… header")
	}
	if !v.match([][]byte{decodeHex(sig)}, r.Body) {
		return Verified{}, refuse(ReasonBadSignature, "X-Hub-Signature-256 does not match the body")
	}
	typ := r.Header.Get("X-GitHub-Event")
	if action := jsonString(r.Body, "action"); action != "" && typ != "" {
		typ += "." + action
	}
	return Verified{ID: r.Header.Get("X-GitHub-Delivery"), Type: typ}, nil
}
