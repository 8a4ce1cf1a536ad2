package gateway

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// basic checks HTTP basic credentials against secrets of the form
// "user:password".
type basic struct{ creds []string }

func compileBasic(s *Source, c *checker) verifier {
	c.requireSecrets(s)
	for i, sec := range s.Secrets {
		if !strings.Contains(sec, ":") {
			c.fail("secrets", "secret %d of provider basic must be user:password", i)
		}
	}
	return &basic{creds: s.Secrets}
}

func (v *basic) verify(r *Request) (Verified, *Refusal) {
	user, pass, ok := (&http.Request{Header: r.Header}).BasicAuth()
	if !ok {
		return Verified{}, refuse(ReasonMissingCredential, "no basic Authorization header")
	}
	if !anyEqual(v.creds, user+":"+pass) {
		return Verified{}, refuse(ReasonBadCredential, "the credentials are not accepted")
	}
	return Verified{Type: jsonString(r.Body, "type")}, nil
}

// apiKey checks a key sent in a header (default X-API-Key) or a query
// parameter.
type apiKey struct {
	keys          []string
	header, query string
}

func compileAPIKey(s *Source, c *checker) verifier {
	c.requireSecrets(s)
	v := &apiKey{keys: s.Secrets, header: s.KeyHeader, query: s.KeyQuery}
	switch {
	case s.KeyHeader != "" && s.KeyQuery != "":
		c.fail("key_query", "give key_header or key_query, not both")
	case s.KeyHeader == "" && s.KeyQuery == "":
		v.header = "X-API-Key"
	case s.KeyHeader != "" && !httpguts.ValidHeaderFieldName(s.KeyHeader):
		c.fail("key_header", "is not a valid HTTP header name")
	}
	return v
}

func (v *apiKey) verify(r *Request) (Verified, *Refusal) {
	got := r.Header.Get(v.header)
	if v.query != "" {
		got = r.Query.Get(v.query)
	}
	if got == "" {
		return Verified{}, refuse(ReasonMissingCredential, "no API key")
	}
	if !anyEqual(v.keys, got) {
		return Verified{}, refuse(ReasonBadCredential, "the API key is not accepted")
	}
	return Verified{Type: jsonString(r.Body, "type")}, nil
}

// none accepts every request of a source that allows only some networks.
type none struct{}

func compileNone(s *Source, c *checker) verifier {
	if len(s.AllowIPs) == 0 {
		c.fail("allow_ips", "is required for provider none: a source without a secret must be limited to known networks")
	}
	return none{}
}

func (none) verify(r *Request) (Verified, *Refusal) {
	return Verified{Type: jsonString(r.Body, "type")}, nil
}

// anyEqual compares got with each of want in constant time.
func anyEqual(want []string, got string) bool {
	ok := false
	for _, w := range want {
		ok = subtle.ConstantTimeCompare([]byte(w), []byte(got)) == 1 || ok
	}
	return ok
}
