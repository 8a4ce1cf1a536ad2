package credential

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// oauthConfig is an oauth2 credential's client credentials grant.
type oauthConfig struct {
	cfg clientcredentials.Config
	key [sha256.Size]byte // identifies the grant in Tokens
}

func newOAuthConfig(spec Spec) *oauthConfig {
	c := &oauthConfig{cfg: clientcredentials.Config{
		ClientID: spec.ClientID, ClientSecret: spec.ClientSecret, TokenURL: spec.TokenURL, Scopes: spec.Scopes,
		AuthStyle: oauth2.AuthStyleInHeader,
	}}
	if spec.AuthStyle == "body" {
		c.cfg.AuthStyle = oauth2.AuthStyleInParams
	}
	if spec.Audience != "" {
		c.cfg.EndpointParams = url.Values{"audience": {spec.Audience}}
	}
	c.key = sha256.Sum256([]byte(strings.Join(append([]string{spec.TokenURL, spec.ClientID, spec.ClientSecret,
		spec.Audience, spec.AuthStyle}, spec.Scopes...), "\x00")))
	return c
}

// Tokens caches the OAuth2 tokens of a process, one per grant (token URL,
// client, scopes, audience), shared by every worker and kept across
// changes of a subscription that leave its grant as it was. A token is
// used until RefreshBefore ahead of its expiry, and fetched by one caller
// at a time; a failed fetch is not tried again for FailFor, so a token
// endpoint that is down is not hammered by every delivery. Tokens is safe
// for concurrent use.
type Tokens struct {
	// Client makes the token requests: the sender's, so that a token
	// endpoint is reached through the same network guard as endpoints.
	Client *http.Client
	// RefreshBefore is how long before its expiry a token is replaced.
	// Default 30s.
	RefreshBefore time.Duration
	// FailFor is how long a failed fetch answers for the grant. Default 1s.
	FailFor time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time

	mu     sync.Mutex
	grants map[[sha256.Size]byte]*grant
	swept  time.Time
}

// grant is one grant's cached token.
type grant struct {
	mu       sync.Mutex // held while fetching
	tok      *oauth2.Token
	expiry   time.Time // tok's, by the Tokens' clock; zero when it has none
	err      error
	failedAt time.Time
	usedAt   time.Time
	fetches  int
}

// idleGrant is how long a grant no delivery asked for is kept.
const idleGrant = time.Hour

// ErrToken wraps every failure to get a token.
var ErrToken = errors.New("oauth2 token")

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tokens) grant(c *oauthConfig) *grant {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.grants == nil {
		t.grants = map[[sha256.Size]byte]*grant{}
	}
	if now.Sub(t.swept) > idleGrant {
		for k, g := range t.grants {
			if g.mu.TryLock() {
				if now.Sub(g.usedAt) > idleGrant {
					delete(t.grants, k)
				}
				g.mu.Unlock()
			}
		}
		t.swept = now
	}
	g, ok := t.grants[c.key]
	if !ok {
		g = &grant{}
		t.grants[c.key] = g
	}
	return g
}

// token returns c's cached token, fetching one when there is none fit to
// use. stale, when not nil, is a token the endpoint refused: it is not
// returned again.
func (t *Tokens) token(ctx context.Context, c *oauthConfig, stale *oauth2.Token) (*oauth2.Token, error) {
	g := t.grant(c)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := t.now()
	g.usedAt = now
	before := t.RefreshBefore
	if before <= 0 {
		before = 30 * time.Second
	}
	if g.tok != nil && g.tok != stale && (g.expiry.IsZero() || now.Add(before).Before(g.expiry)) {
		return g.tok, nil
	}
	failFor := t.FailFor
	if failFor <= 0 {
		failFor = time.Second
	}
	if g.err != nil && now.Sub(g.failedAt) < failFor {
		return nil, g.err
	}
	if t.Client != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, t.Client)
	}
	g.fetches++
	tok, err := c.cfg.Token(ctx)
	if err != nil {
		g.tok, g.err, g.failedAt = nil, tokenError(c.cfg.TokenURL, err), now
		return nil, g.err
	}
	g.tok, g.err, g.expiry = tok, nil, time.Time{}
	if !tok.Expiry.IsZero() {
		// The library dates the expiry by the system clock.
		g.expiry = now.Add(time.Until(tok.Expiry))
	}
	return tok, nil
}

// Fetches counts the token requests made for a's grant, for tests and
// metrics.
func (t *Tokens) Fetches(a *Auth) int {
	if a.oauth == nil {
		return 0
	}
	g := t.grant(a.oauth)
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fetches
}

// tokenError describes a failed token request without its secrets: the
// endpoint's host, its status and OAuth2 error code.
func tokenError(tokenURL string, err error) error {
	host := "the token endpoint"
	if u, perr := url.Parse(tokenURL); perr == nil {
		host = u.Scheme + "://" + u.Host
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code := re.ErrorCode
		if code == "" {
			code = "no error code"
		}
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return fmt.Errorf("%w: %s answered %d (%s)", ErrToken, host, status, code)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %s: %v", ErrToken, host, ue.Err)
	}
	return fmt.Errorf("%w: %s: %v", ErrToken, host, err)
}

// Credential is what Apply set: the token it used, which Refused takes
// back when the endpoint answers 401.
type Credential struct {
	tok *oauth2.Token
}

// Apply sets a's header on h, fetching an OAuth2 token through tokens
// when it has none fit to use. An error wraps ErrToken.
func (a *Auth) Apply(ctx context.Context, h http.Header, tokens *Tokens) (Credential, error) {
	if a.oauth == nil {
		h[a.header] = []string{a.value}
		return Credential{}, nil
	}
	tok, err := tokens.token(ctx, a.oauth, nil)
	if err != nil {
		return Credential{}, err
	}
	h[a.header] = []string{tok.Type() + " " + tok.AccessToken}
	return Credential{tok: tok}, nil
}

// Refresh replaces the token the endpoint refused with 401 with a fresh
// one in h; it reports false for credentials that cannot be refreshed.
func (a *Auth) Refresh(ctx context.Context, h http.Header, tokens *Tokens, refused Credential) (Credential, bool, error) {
	if a.oauth == nil || refused.tok == nil {
		return Credential{}, false, nil
	}
	tok, err := tokens.token(ctx, a.oauth, refused.tok)
	if err != nil {
		return Credential{}, true, err
	}
	h[a.header] = []string{tok.Type() + " " + tok.AccessToken}
	return Credential{tok: tok}, true, nil
}
