package delivery

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookstream/hookstream/internal/deadline"
	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/payload"
	"github.com/hookstream/hookstream/subscription"
)

// vectorSecret is the Standard Webhooks specification's test secret.
const vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// request is what the processor's render and sign stages make of a JSON
// body for sub.
func request(sub *subscription.Compiled, id string, body []byte) *Request {
	now := time.Now()
	return &Request{Request: payload.Request{Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}}, Body: body},
		WebhookID: id, Timestamp: now, Signature: sub.Signer.Signatures(id, now, body)}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		class  Class
		reason Reason
	}{
		{200, Delivered, "ok"}, {201, Delivered, "ok"}, {202, Delivered, "ok"}, {204, Delivered, "ok"}, {299, Delivered, "ok"},
		{100, Permanent, "http_other"},
		{301, Permanent, "http_3xx"}, {302, Permanent, "http_3xx"}, {304, Permanent, "http_3xx"}, {307, Permanent, "http_3xx"}, {308, Permanent, "http_3xx"},
		{400, Permanent, "http_4xx"}, {401, Permanent, "http_4xx"}, {403, Permanent, "http_4xx"}, {404, Permanent, "http_4xx"},
		{405, Permanent, "http_4xx"}, {409, Permanent, "http_4xx"}, {410, Permanent, "gone"}, {413, Permanent, "http_4xx"},
		{422, Permanent, "http_4xx"}, {451, Permanent, "http_4xx"},
		{408, Retryable, "http_408"}, {425, Retryable, "http_425"}, {429, Retryable, "http_429"},
		{500, Retryable, "http_5xx"}, {501, Retryable, "http_5xx"}, {502, Retryable, "http_5xx"}, {503, Retryable, "http_5xx"},
		{504, Retryable, "http_5xx"}, {599, Retryable, "http_5xx"},
		{600, Permanent, "http_other"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			class, reason := Classify(tt.status)
			if class != tt.class || reason != tt.reason {
				t.Errorf("Classify(%d) = %s %s, want %s %s", tt.status, class, reason, tt.class, tt.reason)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"-5", 0}, {"abc", 0}, {"120", 2 * time.Minute},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func compiled(t testing.TB, url string, mod func(*subscription.Subscription)) *subscription.Compiled {
	t.Helper()
	s := subscription.Subscription{ID: "sub_1", Name: "n", URL: url, Enabled: true, Secret: vectorSecret,
		MaxAttempts: 5, Timeout: subscription.Duration(2 * time.Second)}
	if mod != nil {
		mod(&s)
	}
	c, err := subscription.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loopbackSender(t testing.TB, opts SenderOptions) *Sender {
	t.Helper()
	g, err := NewGuard([]string{"127.0.0.0/8", "::1/128"})
	if err != nil {
		t.Fatal(err)
	}
	opts.Guard = g
	s := NewSender(opts)
	t.Cleanup(s.Close)
	return s
}

func TestSendOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		class      Class
		reason     Reason
		status     int
		retryAfter time.Duration
	}{
		{"200", func(w http.ResponseWriter, _ *http.Request) {}, Delivered, "ok", 200, 0},
		{"204", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }, Delivered, "ok", 204, 0},
		{"400", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "bad payload", 400) }, Permanent, "http_4xx", 400, 0},
		{"410", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(410) }, Permanent, "gone", 410, 0},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }, Permanent, "http_3xx", 302, 0},
		{"503", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }, Retryable, "http_5xx", 503, 0},
		{"429 retry-after", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
		}, Retryable, "http_429", 429, 30 * time.Second},
		{"408", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(408) }, Retryable, "http_408", 408, 0},
		{"headers beyond the cap", func(w http.ResponseWriter, _ *http.Request) {
			for i := range 100 {
				w.Header().Set(fmt.Sprint("X-Pad-", i), strings.Repeat("x", 1000))
			}
		}, Retryable, "connection", 0, 0},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			// Read the body so the server notices the client hanging up.
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}, Retryable, "timeout", 0, 0},
	}
	for _, scheme := range schemes {
		for _, tt := range tests {
			t.Run(scheme+"/"+tt.name, func(t *testing.T) {
				srv := serve(t, scheme, tt.handler, nil)
				s := senderFor(t, srv, SenderOptions{})
				sub := compiled(t, srv.URL, func(s *subscription.Subscription) { s.Timeout = subscription.Duration(200 * time.Millisecond) })
				out := s.Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`)))
				if out.Class != tt.class || out.Reason != tt.reason || out.Status != tt.status || out.RetryAfter != tt.retryAfter {
					t.Errorf("Send() = %+v, want %s %s %d retry-after %s", out, tt.class, tt.reason, tt.status, tt.retryAfter)
				}
				if (out.Err == nil) != (tt.class == Delivered) {
					t.Errorf("Err = %v for class %s", out.Err, out.Class)
				}
				// A failed attempt carries what it sent; a delivered one only
				// for a sender that keeps them.
				if (out.Sent == nil) != (tt.class == Delivered) {
					t.Errorf("Sent = %+v for class %s", out.Sent, out.Class)
				} else if out.Sent != nil && (out.Sent.Method != "POST" || out.Sent.URL != srv.URL || string(out.Sent.Body) != `{}` ||
					out.Sent.Header.Get("Webhook-Id") != "msg_1") {
					t.Errorf("Sent = %+v", out.Sent)
				}
				if tt.class == Delivered {
					keep := senderFor(t, srv, SenderOptions{KeepDelivered: true})
					if out := keep.Send(context.Background(), sub, request(sub, "msg_2", []byte(`{}`))); out.Sent == nil || out.Sent.Header.Get("Webhook-Id") != "msg_2" {
						t.Errorf("KeepDelivered: Sent = %+v", out.Sent)
					}
				}
			})
		}
	}
}

// TestSendUnderDeadlineGroup checks an attempt under the contexts the
// consumer hands records: its timeout, shared with others, still ends it
// as a timeout, and the group's end as a cancel.
func TestSendUnderDeadlineGroup(t *testing.T) {
	tests := []struct {
		name   string
		cancel bool // the group ends while the attempts hang
		reason Reason
	}{
		{"timeout", false, ReasonTimeout},
		{"group canceled", true, ReasonCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 3
			arrived := make(chan struct{}, n)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				arrived <- struct{}{}
				<-r.Context().Done()
			}))
			t.Cleanup(srv.Close)
			s := loopbackSender(t, SenderOptions{})
			timeout := 300 * time.Millisecond
			if tt.cancel {
				timeout = time.Minute
			}
			sub := compiled(t, srv.URL, func(s *subscription.Subscription) { s.Timeout = subscription.Duration(timeout) })
			g, cancel := deadline.NewGroup(context.Background())
			t.Cleanup(cancel)
			outs := make(chan Outcome, n)
			for i := range n {
				go func() { outs <- s.Send(g, sub, request(sub, fmt.Sprint("msg_", i), []byte(`{}`))) }()
			}
			if tt.cancel {
				// Every attempt is out before the group ends.
				for range n {
					<-arrived
				}
				cancel()
			}
			for range n {
				if out := <-outs; out.Class != Retryable || out.Reason != tt.reason {
					t.Errorf("Send() = %+v, want retryable %s", out, tt.reason)
				}
			}
		})
	}
}

// TestSendTarget checks where an attempt goes: the subscription's URL,
// parsed once, whether the request names it or not, or the URL a
// payload rendered for it.
func TestSendTarget(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Store(r.Host + r.URL.RequestURI()) }))
	t.Cleanup(srv.Close)
	sub := compiled(t, srv.URL+"/hooks/in?team=a", nil)
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name, url, want string
	}{
		{"unnamed", "", host + "/hooks/in?team=a"},
		{"named", sub.URL, host + "/hooks/in?team=a"},
		{"rendered", srv.URL + "/hooks/orders/42?team=b", host + "/hooks/orders/42?team=b"},
	}
	s := loopbackSender(t, SenderOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(sub, "msg_1", []byte(`{}`))
			r.URL = tt.url
			if out := s.Send(context.Background(), sub, r); out.Class != Delivered {
				t.Fatalf("Send() = %+v", out)
			}
			if got.Load() != tt.want {
				t.Errorf("request went to %v, want %s", got.Load(), tt.want)
			}
		})
	}
	if sub.Endpoint.String() != srv.URL+"/hooks/in?team=a" {
		t.Errorf("the subscription's parsed URL became %s", sub.Endpoint)
	}
}

// TestSendUnbuildableRequest: a rendered URL that does not parse makes
// no request: a permanent failure that carries nothing it sent.
func TestSendUnbuildableRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	sub := compiled(t, srv.URL, nil)
	r := request(sub, "msg_1", []byte(`{}`))
	r.URL = "http://[::1/orders"
	out := loopbackSender(t, SenderOptions{}).Send(context.Background(), sub, r)
	if out.Class != Permanent || out.Reason != ReasonBadRequest || out.Sent != nil || out.Err == nil || !strings.HasPrefix(out.Err.Error(), "build request: ") {
		t.Errorf("Send() = %+v, want permanent %s with its cause and nothing sent", out, ReasonBadRequest)
	}
}

// TestNewRequest checks that a request made without parsing the
// subscription's URL again is the one NewRequestWithContext makes: same
// target, length and body, read again by GetBody.
func TestNewRequest(t *testing.T) {
	sub := compiled(t, "https://hooks.example.com:8443/in?team=a", nil)
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "attempt")
	tests := []struct {
		name, method, url string
		body              []byte
	}{
		{"body", http.MethodPost, "", []byte(`{"id":"msg_1"}`)},
		{"empty body", http.MethodPost, "", nil},
		{"named URL", http.MethodPost, sub.URL, []byte(`{}`)},
		{"other URL", http.MethodPost, "https://hooks.example.com/orders/42", []byte(`{}`)},
		{"other method", http.MethodPut, "", []byte(`{}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newRequest(ctx, tt.method, sub, tt.url, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			want, err := http.NewRequestWithContext(ctx, tt.method, cmp.Or(tt.url, sub.URL), bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got.Method != want.Method || got.URL.String() != want.URL.String() || got.Host != want.Host ||
				got.Proto != want.Proto || got.ProtoMajor != want.ProtoMajor || got.ProtoMinor != want.ProtoMinor ||
				got.ContentLength != want.ContentLength || got.Context() != ctx {
				t.Errorf("newRequest() = %s %s host %q %s length %d, want %s %s host %q %s length %d",
					got.Method, got.URL, got.Host, got.Proto, got.ContentLength, want.Method, want.URL, want.Host, want.Proto, want.ContentLength)
			}
			if (got.Body == http.NoBody) != (want.Body == http.NoBody) {
				t.Errorf("Body is NoBody: %t, want %t", got.Body == http.NoBody, want.Body == http.NoBody)
			}
			for i, r := range []func() (io.ReadCloser, error){func() (io.ReadCloser, error) { return got.Body, nil }, got.GetBody, got.GetBody} {
				rc, err := r()
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := io.ReadAll(rc); !bytes.Equal(b, tt.body) {
					t.Errorf("read %d of the body = %q, want %q", i, b, tt.body)
				}
			}
		})
	}
	if sub.Endpoint.String() != "https://hooks.example.com:8443/in?team=a" {
		t.Errorf("the subscription's parsed URL became %s", sub.Endpoint)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	addr := closedAddr(t)
	sub := compiled(t, "http://"+addr+"/", nil)
	out := loopbackSender(t, SenderOptions{}).Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`)))
	if out.Class != Retryable || out.Reason != "connection" {
		t.Errorf("Send() = %+v, want retryable connection", out)
	}
}

func TestSendHeadersAndSignature(t *testing.T) {
	for _, scheme := range schemes {
		t.Run(scheme, func(t *testing.T) {
			var got http.Header
			var body []byte
			srv := serve(t, scheme, func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Clone()
				body, _ = io.ReadAll(r.Body)
			}, nil)
			sub := compiled(t, srv.URL, func(s *subscription.Subscription) {
				s.Headers = map[string]string{"Authorization": "Bearer t0k3n", "x-team": "payments"}
			})
			s := senderFor(t, srv, SenderOptions{UserAgent: "hookstream/1.2.3"})
			sent := []byte(`{"id":"msg_abc","data":{}}`)
			if out := s.Send(context.Background(), sub, request(sub, "msg_abc", sent)); out.Class != Delivered {
				t.Fatalf("Send() = %+v", out)
			}
			for k, want := range map[string]string{
				"Content-Type": "application/json", "User-Agent": "hookstream/1.2.3", "Webhook-Id": "msg_abc",
				"Authorization": "Bearer t0k3n", "X-Team": "payments", "Content-Length": fmt.Sprint(len(sent)),
				"Accept-Encoding": "", // only the start of an answer is read
			} {
				if got.Get(k) != want {
					t.Errorf("header %s = %q, want %q", k, got.Get(k), want)
				}
			}
			// Nothing else goes out, whichever client sends it.
			names := slices.Sorted(maps.Keys(got))
			want := []string{"Authorization", "Content-Length", "Content-Type", "User-Agent", "Webhook-Id", "Webhook-Signature", "Webhook-Timestamp", "X-Team"}
			if !slices.Equal(names, want) {
				t.Errorf("headers %v, want %v", names, want)
			}
			wh, _ := standardwebhooks.NewWebhook(vectorSecret)
			if err := wh.Verify(body, got); err != nil {
				t.Errorf("reference verifier rejects the delivery: %v", err)
			}
		})
	}
}

func TestGuard(t *testing.T) {
	strict := &Guard{}
	loopback, _ := NewGuard([]string{"127.0.0.0/8"})
	tests := []struct {
		addr    string
		guard   *Guard
		blocked bool
	}{
		{"93.184.216.34", strict, false},
		{"2606:2800:220:1:248:1893:25c8:1946", strict, false},
		{"127.0.0.1", strict, true},
		{"127.0.0.1", loopback, false},
		{"::1", loopback, true},
		{"::1", strict, true},
		{"10.1.2.3", strict, true},
		{"172.16.0.1", strict, true},
		{"192.168.1.1", strict, true},
		{"169.254.169.254", strict, true},
		{"100.64.0.1", strict, true},
		{"0.0.0.0", strict, true},
		{"224.0.0.1", strict, true},
		{"fd00::1", strict, true},
		{"fe80::1", strict, true},
		{"ff02::1", strict, true},
		{"::ffff:127.0.0.1", strict, true},
		{"::ffff:10.0.0.1", strict, true},
		{"64:ff9b::a9fe:a9fe", strict, true},
		{"2002:a9fe:a9fe::", strict, true},
		{"64:ff9b::5db8:d822", strict, false},
		{"64:ff9b:1::a00:1", strict, true},
		{"fec0::1", strict, true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := tt.guard.Check(netip.MustParseAddr(tt.addr))
			var be *BlockedError
			if blocked := errors.As(err, &be); blocked != tt.blocked {
				t.Errorf("Check(%s) = %v, want blocked=%v", tt.addr, err, tt.blocked)
			}
		})
	}
}

func TestSendRefusesBlockedDestination(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	s := NewSender(SenderOptions{}) // the default guard: loopback refused
	t.Cleanup(s.Close)
	// A name that resolves to loopback is refused at connect time too.
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	sub := compiled(t, url, nil)
	out := s.Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`)))
	if out.Class != Permanent || out.Reason != "destination_blocked" {
		t.Errorf("Send() = %+v, want permanent destination_blocked", out)
	}
	if hits.Load() != 0 {
		t.Error("the blocked server was reached")
	}
}

func TestErrorsDoNotLeakURLSecrets(t *testing.T) {
	addr := closedAddr(t)
	s := loopbackSender(t, SenderOptions{BreakerFailures: 1, BreakerCooldown: time.Minute})
	sub := compiled(t, "http://"+addr+"/hook?token=s3cr3t-t0k3n#frag", nil)
	for range 2 { // a connection error, then the open breaker
		out := s.Send(context.Background(), sub, request(sub, "msg_1", []byte(`{}`)))
		if out.Err == nil || strings.Contains(out.Err.Error(), "s3cr3t") || strings.Contains(out.Err.Error(), vectorSecret) {
			t.Errorf("%s error leaks: %v", out.Reason, out.Err)
		}
	}
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t testing.TB) string { return testenv.FreeAddr(t) }
