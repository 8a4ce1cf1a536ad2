package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
)

// securityProblems checks kafka.tls and kafka.sasl beyond their tags:
// files that must be readable, and the credentials each mechanism needs.
func (k *Kafka) securityProblems() []string {
	var problems []string
	add := func(field, format string, args ...any) {
		problems = append(problems, "kafka."+field+": "+fmt.Sprintf(format, args...))
	}
	t := k.TLS
	if t.CAFile != "" {
		if _, err := CertPool(t.CAFile); err != nil {
			add("tls.ca_file", "%v", err)
		}
	}
	if t.CertFile != "" && t.KeyFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			add("tls.cert_file", "with tls.key_file: %v", err)
		}
	}
	s := k.SASL
	either := func(value, file, field string) {
		switch {
		case value != "" && file != "":
			add("sasl."+field, "give it or sasl.%s_file, not both", field)
		case file != "":
			if _, err := ReadSecretFile(file); err != nil {
				add("sasl."+field+"_file", "%v", err)
			}
		}
	}
	either(s.Password, s.PasswordFile, "password")
	either(s.Token, s.TokenFile, "token")
	either(s.ClientSecret, s.ClientSecretFile, "client_secret")
	switch s.Mechanism {
	case SASLPlain, SASLScram256, SASLScram512:
		if s.Username == "" {
			add("sasl.username", "is required for %s", s.Mechanism)
		}
		if s.Password == "" && s.PasswordFile == "" {
			add("sasl.password", "is required for %s (or sasl.password_file)", s.Mechanism)
		}
	case SASLOAuthBearer:
		switch {
		case s.TokenURL != "":
			if s.ClientID == "" {
				add("sasl.client_id", "is required with sasl.token_url")
			}
			if s.ClientSecret == "" && s.ClientSecretFile == "" {
				add("sasl.client_secret", "is required with sasl.token_url (or sasl.client_secret_file)")
			}
		case s.Token == "" && s.TokenFile == "":
			add("sasl.token_url", "OAUTHBEARER needs a token endpoint (sasl.token_url) or a token (sasl.token, sasl.token_file)")
		}
	case SASLAWSMSKIAM:
		if (s.Username == "") != (s.Password == "" && s.PasswordFile == "") {
			add("sasl.username", "AWS_MSK_IAM takes an access key ID and secret access key together (or neither, to read AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
		}
		if !t.On() {
			add("tls.enabled", "AWS_MSK_IAM needs TLS")
		}
	case "":
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" || s.Token != "" || s.TokenURL != "" {
			add("sasl.mechanism", "is required when SASL credentials are given")
		}
	}
	return problems
}

// CertPool reads the PEM certificates of path.
func CertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// ReadSecretFile reads a secret from path, without its trailing newline.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}
