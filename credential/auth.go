package credential

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/hookstream/hookstream/internal/fields"
)

// Spec is how a subscription's endpoint authenticates hookstream, as
// stored and written through the admin API. Its secrets (token, password,
// key, client_secret) are shown masked in every answer.
type Spec struct {
	// Type is bearer, basic, api_key or oauth2.
	Type Type `json:"type"`
	// Token is a bearer token.
	Token string `json:"token,omitempty"`
	// Username and Password are basic credentials.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Header carries an API key. Default X-API-Key.
	Header string `json:"header,omitempty"`
	// Key is an API key.
	Key string `json:"key,omitempty"`
	// TokenURL is an OAuth2 token endpoint (client credentials grant);
	// https unless its host is in delivery.allow_networks.
	TokenURL string `json:"token_url,omitempty"`
	// ClientID and ClientSecret identify hookstream to it.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// Scopes are asked for; Audience is sent as the audience parameter
	// when set.
	Scopes   []string `json:"scopes,omitempty"`
	Audience string   `json:"audience,omitempty"`
	// AuthStyle says where the client credentials go: "header" (HTTP
	// basic, the default) or "body" (form fields).
	AuthStyle string `json:"auth_style,omitempty"`
}

// Type names a kind of endpoint credential.
type Type string

// The kinds of endpoint credential.
const (
	Bearer Type = "bearer"
	Basic  Type = "basic"
	APIKey Type = "api_key"
	OAuth2 Type = "oauth2"
)

// DefaultAPIKeyHeader carries an API key unless the spec names another.
const DefaultAPIKeyHeader = "X-API-Key"

// types lists, for each kind, the fields it takes; every other field
// must be empty.
var types = map[Type][]string{
	Bearer: {"token"},
	Basic:  {"username", "password"},
	APIKey: {"header", "key"},
	OAuth2: {"token_url", "client_id", "client_secret", "scopes", "audience", "auth_style"},
}

// Auth is a compiled Spec: it sets the header an endpoint checks. It is
// safe for concurrent use.
type Auth struct {
	spec   Spec
	header string // the header set
	value  string // its value, for all but oauth2
	oauth  *oauthConfig
}

// reserved are headers a credential may not be carried in.
var reserved = map[string]bool{
	"Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true, "Content-Type": true,
	"Content-Length": true, "Host": true, "Transfer-Encoding": true, "Connection": true, "User-Agent": true,
}

// Compile checks spec and prepares it. The error, a *fields.Errors, names
// every bad field.
func Compile(spec Spec) (*Auth, error) {
	errs := fields.Errors{What: "auth", Prefix: "auth."}
	fail := errs.Add
	fields, ok := types[spec.Type]
	if !ok {
		fail("type", "must be one of bearer, basic, api_key and oauth2 (got %q)", spec.Type)
		return nil, errs.Err()
	}
	for _, f := range spec.set() {
		if !slices.Contains(fields, f) {
			fail(f, "is not a field of auth type %s", spec.Type)
		}
	}
	a := &Auth{spec: spec, header: "Authorization"}
	required := func(field, v string) {
		if v == "" {
			fail(field, "is required for auth type %s", spec.Type)
		} else if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			fail(field, "must not contain control characters")
		}
	}
	switch spec.Type {
	case Bearer:
		required("token", spec.Token)
		a.value = "Bearer " + spec.Token
	case Basic:
		required("username", spec.Username)
		required("password", spec.Password)
		if strings.Contains(spec.Username, ":") {
			fail("username", "must not contain a colon")
		}
		a.value = "Basic " + base64.StdEncoding.EncodeToString([]byte(spec.Username+":"+spec.Password))
	case APIKey:
		required("key", spec.Key)
		a.header, a.value = http.CanonicalHeaderKey(cmp.Or(spec.Header, DefaultAPIKeyHeader)), spec.Key
		if !httpguts.ValidHeaderFieldName(a.header) {
			fail("header", "is not a valid HTTP header name")
		} else if reserved[a.header] {
			fail("header", "is set by hookstream and cannot carry a key")
		}
	case OAuth2:
		required("client_id", spec.ClientID)
		required("client_secret", spec.ClientSecret)
		if spec.TokenURL == "" {
			fail("token_url", "is required for auth type oauth2")
		} else if u, err := url.Parse(spec.TokenURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			fail("token_url", "must be an absolute https URL")
		} else if u.User != nil {
			fail("token_url", "must not carry credentials")
		}
		for i, s := range spec.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\r\n") {
				fail(fmt.Sprintf("scopes[%d]", i), "must be one scope, without spaces")
			}
		}
		switch spec.AuthStyle {
		case "", "header", "body":
		default:
			fail("auth_style", `must be "header" or "body" (got %q)`, spec.AuthStyle)
		}
		a.oauth = newOAuthConfig(spec)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return a, nil
}

// set lists the fields spec sets, by their JSON names.
func (s *Spec) set() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"token", s.Token != ""}, {"username", s.Username != ""}, {"password", s.Password != ""},
		{"header", s.Header != ""}, {"key", s.Key != ""}, {"token_url", s.TokenURL != ""},
		{"client_id", s.ClientID != ""}, {"client_secret", s.ClientSecret != ""},
		{"scopes", len(s.Scopes) > 0}, {"audience", s.Audience != ""}, {"auth_style", s.AuthStyle != ""},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// Secrets returns pointers to spec's secret fields, for masking.
func (s *Spec) Secrets() []*string {
	return []*string{&s.Token, &s.Password, &s.Key, &s.ClientSecret}
}

// Header is the header the credential is carried in: Authorization, or
// an API key's.
func (a *Auth) Header() string { return a.header }

// Type is the credential's kind.
func (a *Auth) Type() Type { return a.spec.Type }

// TokenURL is an oauth2 credential's token endpoint, empty for others.
func (a *Auth) TokenURL() string { return a.spec.TokenURL }
