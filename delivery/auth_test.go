package delivery

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/subscription"
)

// TestSendWithOAuth2: a request carries the grant's token; an endpoint
// that refuses it with 401 gets the request again, in the same attempt,
// with a fresh token; a token endpoint that fails is a retryable
// auth_failed whose error holds no secret; a token endpoint the guard
// blocks is never reached.
func TestSendWithOAuth2(t *testing.T) {
	var issued atomic.Int32
	var tokenDown atomic.Bool
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tokenDown.Load() {
			http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"tok-%d","token_type":"Bearer","expires_in":3600}`, issued.Add(1))
	}))
	t.Cleanup(tokens.Close)
	var valid atomic.Value
	valid.Store("Bearer tok-1")
	var requests atomic.Int32
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("Authorization") != valid.Load().(string) {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(endpoint.Close)
	auth := func(tokenURL string) func(*subscription.Subscription) {
		return func(s *subscription.Subscription) {
			s.Auth = &credential.Spec{Type: credential.OAuth2, TokenURL: tokenURL, ClientID: "hookstream", ClientSecret: "sup3r-s3cret"}
		}
	}
	s := loopbackSender(t, SenderOptions{})
	sub := compiled(t, endpoint.URL, auth(tokens.URL))
	send := func() Outcome { return s.Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`))) }

	if out := send(); out.Class != Delivered || issued.Load() != 1 || requests.Load() != 1 {
		t.Fatalf("first: %+v, %d tokens, %d requests", out, issued.Load(), requests.Load())
	}
	valid.Store("Bearer tok-2") // the endpoint revoked tok-1
	if out := send(); out.Class != Delivered || issued.Load() != 2 || requests.Load() != 3 {
		t.Fatalf("after a revocation: %+v, %d tokens, %d requests; want delivered with one refresh", out, issued.Load(), requests.Load())
	}
	valid.Store("Bearer never")
	if out := send(); out.Reason != ReasonHTTP4xx || out.Status != 401 || issued.Load() != 3 {
		t.Fatalf("an endpoint refusing every token: %+v after %d tokens; want its 401 after one refresh", out, issued.Load())
	}

	tokenDown.Store(true)
	other := compiled(t, endpoint.URL, auth(tokens.URL+"/other"))
	out := s.Send(context.Background(), other, request(other, "msg_2", []byte(`{}`)))
	if out.Class != Retryable || out.Reason != ReasonAuthFailed || out.Err == nil || strings.Contains(out.Err.Error(), "sup3r-s3cret") {
		t.Fatalf("token endpoint down: %+v", out)
	}

	strict := NewSender(SenderOptions{}) // loopback refused
	t.Cleanup(strict.Close)
	before := issued.Load()
	blocked := compiled(t, "https://hooks.example.com/", auth(strings.Replace(tokens.URL, "127.0.0.1", "localhost", 1)))
	out = strict.Send(context.Background(), blocked, request(blocked, "msg_3", []byte(`{}`)))
	if out.Reason != ReasonAuthFailed || !strings.Contains(out.Err.Error(), "blocked") || issued.Load() != before {
		t.Fatalf("blocked token endpoint: %+v", out)
	}
}
