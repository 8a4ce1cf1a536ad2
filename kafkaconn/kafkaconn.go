// Package kafkaconn makes the options every hookstream Kafka client
// connects with: the seed brokers, the client ID, TLS and SASL from
// kafka.* config. Every client — the input group, the rungs, the
// producer, the admin client, the DLQ reader, the CLI's publish — is
// built from these, so each reaches a secured cluster the same way.
package kafkaconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/hookstream/hookstream/config"
)

// Options returns the client options of cfg: seed brokers, client ID,
// TLS and SASL. Secrets in files are read here, once.
func Options(cfg config.Kafka) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Brokers...), kgo.ClientID(cfg.ClientID)}
	if !cfg.ClientMetrics {
		opts = append(opts, kgo.DisableClientMetrics())
	}
	if cfg.TLS.On() {
		tc, err := cfg.TLS.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kafka.%w", err)
		}
		opts = append(opts, kgo.Dialer((&tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: tc}).DialContext))
	}
	if cfg.SASL.Mechanism != "" {
		m, err := Mechanism(cfg.SASL)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// Describe says how cfg connects, for errors and logs, without secrets:
// "TLS, SASL SCRAM-SHA-512 as hookstream".
func Describe(cfg config.Kafka) string {
	var parts []string
	switch {
	case cfg.TLS.InsecureSkipVerify:
		parts = append(parts, "TLS without verifying the server")
	case cfg.TLS.On():
		parts = append(parts, "TLS")
	default:
		parts = append(parts, "plaintext")
	}
	switch s := cfg.SASL; {
	case s.Mechanism == "":
	case s.Username != "" && s.Mechanism != config.SASLAWSMSKIAM:
		parts = append(parts, fmt.Sprintf("SASL %s as %q", s.Mechanism, s.Username))
	default:
		parts = append(parts, "SASL "+s.Mechanism)
	}
	return strings.Join(parts, ", ")
}

// Mechanism is the SASL mechanism of s.
func Mechanism(s config.SASL) (sasl.Mechanism, error) {
	secret := func(value, file, field string) (string, error) {
		if file == "" {
			return value, nil
		}
		v, err := config.ReadSecretFile(file)
		if err != nil {
			return "", fmt.Errorf("kafka.sasl.%s_file: %w", field, err)
		}
		return v, nil
	}
	password, err := secret(s.Password, s.PasswordFile, "password")
	if err != nil {
		return nil, err
	}
	switch s.Mechanism {
	case config.SASLPlain:
		return plain.Auth{User: s.Username, Pass: password}.AsMechanism(), nil
	case config.SASLScram256:
		return scram.Auth{User: s.Username, Pass: password}.AsSha256Mechanism(), nil
	case config.SASLScram512:
		return scram.Auth{User: s.Username, Pass: password}.AsSha512Mechanism(), nil
	case config.SASLOAuthBearer:
		if s.TokenURL == "" {
			token, err := secret(s.Token, s.TokenFile, "token")
			if err != nil {
				return nil, err
			}
			return oauth.Auth{Token: token}.AsMechanism(), nil
		}
		clientSecret, err := secret(s.ClientSecret, s.ClientSecretFile, "client_secret")
		if err != nil {
			return nil, err
		}
		cc := clientcredentials.Config{ClientID: s.ClientID, ClientSecret: clientSecret, TokenURL: s.TokenURL, Scopes: s.Scopes}
		// The source caches the token and fetches a new one before it
		// expires; each connection's authentication asks it.
		source := cc.TokenSource(context.Background())
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
			tok, err := source.Token()
			if err != nil {
				return oauth.Auth{}, fmt.Errorf("kafka.sasl.token_url: %w", err)
			}
			return oauth.Auth{Token: tok.AccessToken}, nil
		}), nil
	case config.SASLAWSMSKIAM:
		user := s.Username
		return aws.ManagedStreamingIAM(func(context.Context) (aws.Auth, error) {
			if user != "" {
				return aws.Auth{AccessKey: user, SecretKey: password}, nil
			}
			a := aws.Auth{AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"), SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
				SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
			if a.AccessKey == "" || a.SecretKey == "" {
				return a, fmt.Errorf("AWS_MSK_IAM: no kafka.sasl.username/password and no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
			}
			return a, nil
		}), nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism: unknown %q", s.Mechanism)
}
