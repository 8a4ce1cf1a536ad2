package kafkaconn

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOAuthBearerFetchesTokens: with a token endpoint, each
// authentication carries the access token the endpoint granted for the
// client credentials, fetched once while it is valid.
func TestOAuthBearerFetchesTokens(t *testing.T) {
	var grants atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "client_credentials" || user != "hookstream" || pass != "s3cret" ||
			r.Form.Get("scope") != "kafka" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		grants.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"tok-123","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(idp.Close)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := Mechanism(config.SASL{Mechanism: config.SASLOAuthBearer, TokenURL: idp.URL, ClientID: "hookstream",
		ClientSecretFile: secretFile, Scopes: []string{"kafka"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, first, err := m.Authenticate(context.Background(), "127.0.0.1:9092")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(first), "auth=Bearer tok-123") {
			t.Errorf("client's first message %q carries no granted token", first)
		}
	}
	if n := grants.Load(); n != 1 {
		t.Errorf("%d token requests for 3 authentications, want 1 (cached while valid)", n)
	}

	bad, err := Mechanism(config.SASL{Mechanism: config.SASLOAuthBearer, TokenURL: idp.URL, ClientID: "hookstream", ClientSecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bad.Authenticate(context.Background(), "127.0.0.1:9092"); err == nil || !strings.Contains(err.Error(), "kafka.sasl.token_url") {
		t.Errorf("refused client credentials: %v, want an error naming kafka.sasl.token_url", err)
	}
}

func TestDescribeHidesSecrets(t *testing.T) {
	tests := []struct {
		kafka config.Kafka
		want  string
	}{
		{config.Kafka{}, "plaintext"},
		{config.Kafka{TLS: config.TLS{CAFile: "ca.pem"}, SASL: config.SASL{Mechanism: config.SASLScram512, Username: "svc", Password: "pw-s3cret"}},
			`TLS, SASL SCRAM-SHA-512 as "svc"`},
		{config.Kafka{TLS: config.TLS{Enabled: true, InsecureSkipVerify: true}, SASL: config.SASL{Mechanism: config.SASLAWSMSKIAM, Username: "AKIA", Password: "pw-s3cret"}},
			"TLS without verifying the server, SASL AWS_MSK_IAM"},
		{config.Kafka{SASL: config.SASL{Mechanism: config.SASLOAuthBearer, ClientSecret: "pw-s3cret", TokenURL: "https://idp"}}, "plaintext, SASL OAUTHBEARER"},
	}
	for _, tt := range tests {
		if got := Describe(tt.kafka); got != tt.want || strings.Contains(got, "s3cret") {
			t.Errorf("Describe() = %q, want %q", got, tt.want)
		}
	}
}

// TestClientMetrics: a client asks the broker which metrics to push
// (KIP-714) only when kafka.client_metrics is on.
func TestClientMetrics(t *testing.T) {
	tests := []struct {
		on   bool
		want bool
	}{
		{on: false, want: false},
		{on: true, want: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.on), func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "logs"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cluster.Close)
			asked := make(chan struct{}, 1)
			cluster.ControlKey(int16(kmsg.GetTelemetrySubscriptions), func(kmsg.Request) (kmsg.Response, error, bool) {
				cluster.KeepControl()
				select {
				case asked <- struct{}{}:
				default:
				}
				return nil, nil, false
			})
			opts, err := Options(config.Kafka{Brokers: cluster.ListenAddrs(), ClientID: "hookstream", ClientMetrics: tt.on})
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(cl.Close)
			// A client starts measuring with its first produce or fetch.
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "logs", Value: []byte(`{}`)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			got := false
			select {
			case <-asked:
				got = true
			case <-time.After(2 * time.Second):
			}
			if got != tt.want {
				t.Errorf("client_metrics %v: asked for a telemetry subscription = %v, want %v", tt.on, got, tt.want)
			}
		})
	}
}
