package credential_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/internal/fields"
)

func TestCompileRefuses(t *testing.T) {
	tests := []struct {
		name  string
		spec  credential.Spec
		field string
		msg   string
	}{
		{"no type", credential.Spec{}, "auth.type", "must be one of"},
		{"unknown type", credential.Spec{Type: "digest"}, "auth.type", "must be one of"},
		{"bearer without token", credential.Spec{Type: credential.Bearer}, "auth.token", "is required"},
		{"bearer token with a newline", credential.Spec{Type: credential.Bearer, Token: "a\r\nX-Evil: 1"}, "auth.token", "control characters"},
		{"field of another type", credential.Spec{Type: credential.Bearer, Token: "t", Password: "p"}, "auth.password", "is not a field of auth type bearer"},
		{"basic without password", credential.Spec{Type: credential.Basic, Username: "u"}, "auth.password", "is required"},
		{"basic username with a colon", credential.Spec{Type: credential.Basic, Username: "u:x", Password: "p"}, "auth.username", "colon"},
		{"api key without key", credential.Spec{Type: credential.APIKey}, "auth.key", "is required"},
		{"api key in a reserved header", credential.Spec{Type: credential.APIKey, Key: "k", Header: "Content-Length"}, "auth.header", "is set by hookstream"},
		{"api key in a bad header", credential.Spec{Type: credential.APIKey, Key: "k", Header: "a b"}, "auth.header", "not a valid HTTP header name"},
		{"oauth2 without token url", credential.Spec{Type: credential.OAuth2, ClientID: "c", ClientSecret: "s"}, "auth.token_url", "is required"},
		{"oauth2 relative token url", credential.Spec{Type: credential.OAuth2, TokenURL: "/token", ClientID: "c", ClientSecret: "s"}, "auth.token_url", "absolute https URL"},
		{"oauth2 ftp token url", credential.Spec{Type: credential.OAuth2, TokenURL: "ftp://x/t", ClientID: "c", ClientSecret: "s"}, "auth.token_url", "absolute https URL"},
		{"oauth2 without secret", credential.Spec{Type: credential.OAuth2, TokenURL: "https://x/t", ClientID: "c"}, "auth.client_secret", "is required"},
		{"oauth2 scope with a space", credential.Spec{Type: credential.OAuth2, TokenURL: "https://x/t", ClientID: "c", ClientSecret: "s", Scopes: []string{"a b"}}, "auth.scopes[0]", "without spaces"},
		{"oauth2 auth style", credential.Spec{Type: credential.OAuth2, TokenURL: "https://x/t", ClientID: "c", ClientSecret: "s", AuthStyle: "cookie"}, "auth.auth_style", `"header" or "body"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := credential.Compile(tt.spec)
			var errs *fields.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Compile() = %v, want Errors", err)
			}
			for _, fe := range errs.List {
				if fe.Field == tt.field && strings.Contains(fe.Message, tt.msg) {
					return
				}
			}
			t.Errorf("errors %v lack %s: %s", errs, tt.field, tt.msg)
		})
	}
}

func TestStaticCredentials(t *testing.T) {
	tests := []struct {
		name          string
		spec          credential.Spec
		header, value string
	}{
		{"bearer", credential.Spec{Type: credential.Bearer, Token: "t0k3n"}, "Authorization", "Bearer t0k3n"},
		{"basic", credential.Spec{Type: credential.Basic, Username: "hook", Password: "p@ss:word"}, "Authorization",
			"Basic " + base64.StdEncoding.EncodeToString([]byte("hook:p@ss:word"))},
		{"api key", credential.Spec{Type: credential.APIKey, Key: "k3y"}, "X-Api-Key", "k3y"},
		{"api key in its own header", credential.Spec{Type: credential.APIKey, Key: "k3y", Header: "x-service-token"}, "X-Service-Token", "k3y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := credential.Compile(tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			if _, err := a.Apply(context.Background(), h, nil); err != nil {
				t.Fatal(err)
			}
			if len(h) != 1 || h.Get(tt.header) != tt.value || a.Header() != tt.header {
				t.Errorf("headers %v, want %s: %s", h, tt.header, tt.value)
			}
		})
	}
}

// tokenServer is an OAuth2 token endpoint issuing tokens that live for
// lifetime, counting the requests it answers.
type tokenServer struct {
	*httptest.Server
	issued atomic.Int32
	fail   atomic.Bool
	form   chan string // the first request's form and credentials
}

func newTokenServer(t *testing.T, lifetime time.Duration) *tokenServer {
	t.Helper()
	ts := &tokenServer{form: make(chan string, 1)}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ts.fail.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"temporarily_unavailable","error_description":"echoing client_secret=sup3r-s3cret"}`)
			return
		}
		_ = r.ParseForm()
		id, secret, _ := r.BasicAuth()
		select {
		case ts.form <- fmt.Sprintf("%s %s:%s", r.PostForm.Encode(), id, secret):
		default:
		}
		n := ts.issued.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"bearer","expires_in":%d}`, n, int(lifetime.Seconds()))
	}))
	t.Cleanup(ts.Close)
	return ts
}

func oauthSpec(tokenURL string) credential.Spec {
	return credential.Spec{Type: credential.OAuth2, TokenURL: tokenURL, ClientID: "hookstream", ClientSecret: "sup3r-s3cret",
		Scopes: []string{"events.write", "events.read"}, Audience: "https://api.example.com"}
}

// TestOAuth2TokenPerLifetime: 10,000 deliveries from 16 workers make one
// token request per token lifetime, and a 401 replaces the token once.
func TestOAuth2TokenPerLifetime(t *testing.T) {
	ts := newTokenServer(t, time.Hour)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tokens := &credential.Tokens{Now: clock}
	a, err := credential.Compile(oauthSpec(ts.URL))
	if err != nil {
		t.Fatal(err)
	}
	apply := func() string {
		h := http.Header{}
		if _, err := a.Apply(context.Background(), h, tokens); err != nil {
			t.Error(err)
		}
		return h.Get("Authorization")
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10000 / 16 {
				if got := apply(); got != "Bearer tok-1" {
					t.Errorf("Authorization %q, want the first token", got)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := ts.issued.Load(); n != 1 {
		t.Fatalf("%d token requests for 10,000 deliveries within a lifetime, want 1", n)
	}
	if form := <-ts.form; form != "audience=https%3A%2F%2Fapi.example.com&grant_type=client_credentials&scope=events.write+events.read hookstream:sup3r-s3cret" {
		t.Errorf("token request %q", form)
	}
	// A subscription compiled again with the same grant shares the token.
	again, _ := credential.Compile(oauthSpec(ts.URL))
	h := http.Header{}
	if _, err := again.Apply(context.Background(), h, tokens); err != nil || h.Get("Authorization") != "Bearer tok-1" || ts.issued.Load() != 1 {
		t.Errorf("recompiled: %q, %v, %d requests", h.Get("Authorization"), err, ts.issued.Load())
	}

	mu.Lock()
	now = now.Add(time.Hour - 20*time.Second) // within RefreshBefore of expiry
	mu.Unlock()
	if got := apply(); got != "Bearer tok-2" || ts.issued.Load() != 2 {
		t.Errorf("near expiry: %q after %d requests, want tok-2 after 2", got, ts.issued.Load())
	}

	// An endpoint refuses tok-2: one refresh, shared by every worker
	// that saw the refusal.
	h = http.Header{}
	cred, _ := a.Apply(context.Background(), h, tokens)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := http.Header{}
			if _, ok, err := a.Refresh(context.Background(), h, tokens, cred); !ok || err != nil || h.Get("Authorization") != "Bearer tok-3" {
				t.Errorf("refresh: %q, %v, %v", h.Get("Authorization"), ok, err)
			}
		}()
	}
	wg.Wait()
	if n := ts.issued.Load(); n != 3 {
		t.Errorf("%d token requests after 8 refusals of one token, want 3", n)
	}
	if n := tokens.Fetches(a); n != 3 {
		t.Errorf("Fetches = %d, want 3", n)
	}
}

// TestOAuth2TokenEndpointFails: a failing token endpoint is an ErrToken
// naming its host and status, never the secret it was sent or what it
// echoed; it is asked again only after FailFor.
func TestOAuth2TokenEndpointFails(t *testing.T) {
	ts := newTokenServer(t, time.Hour)
	ts.fail.Store(true)
	now := time.Now()
	tokens := &credential.Tokens{Now: func() time.Time { return now }, FailFor: time.Second}
	a, _ := credential.Compile(oauthSpec(ts.URL + "/token?tenant=t-s3cret"))
	h := http.Header{}
	_, err := a.Apply(context.Background(), h, tokens)
	if !errors.Is(err, credential.ErrToken) || !strings.Contains(err.Error(), "answered 503 (temporarily_unavailable)") {
		t.Fatalf("Apply() = %v", err)
	}
	for _, secret := range []string{"sup3r-s3cret", "t-s3cret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows %q: %v", secret, err)
		}
	}
	if h.Get("Authorization") != "" {
		t.Errorf("Authorization %q set without a token", h.Get("Authorization"))
	}
	ts.fail.Store(false)
	if _, err := a.Apply(context.Background(), h, tokens); err == nil || tokens.Fetches(a) != 1 {
		t.Errorf("within FailFor: %v after %d fetches, want the failure again without a fetch", err, tokens.Fetches(a))
	}
	now = now.Add(2 * time.Second)
	if _, err := a.Apply(context.Background(), h, tokens); err != nil || h.Get("Authorization") != "Bearer tok-1" {
		t.Errorf("after FailFor: %q, %v", h.Get("Authorization"), err)
	}
}
