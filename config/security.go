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
	problems = append(problems, t.problems("kafka.tls")...)
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

// redisProblems checks redis.* beyond their tags.
func (r *Redis) redisProblems() []string {
	var problems []string
	add := func(field, format string, args ...any) {
		problems = append(problems, "redis."+field+": "+fmt.Sprintf(format, args...))
	}
	problems = append(problems, r.TLS.problems("redis.tls")...)
	for _, f := range []struct{ value, file, field string }{
		{r.Password, r.PasswordFile, "password"}, {r.Sentinel.Password, r.Sentinel.PasswordFile, "sentinel.password"},
	} {
		switch {
		case f.value != "" && f.file != "":
			add(f.field, "give it or %s_file, not both", f.field)
		case f.file != "":
			if _, err := ReadSecretFile(f.file); err != nil {
				add(f.field+"_file", "%v", err)
			}
		}
	}
	switch {
	case r.Sentinel.MasterName != "" && len(r.Cluster.Addrs) > 0:
		add("sentinel", "and redis.cluster are exclusive: a Sentinel group or a Cluster")
	case r.Sentinel.MasterName != "" && len(r.Sentinel.Addrs) == 0:
		add("sentinel.addrs", "is required with sentinel.master_name")
	case r.Sentinel.MasterName == "" && len(r.Sentinel.Addrs) > 0:
		add("sentinel.master_name", "is required with sentinel.addrs")
	}
	return problems
}

// problems checks that t's files hold what they should; field names its
// place in the config.
func (t TLS) problems(field string) []string {
	var problems []string
	if t.CAFile != "" {
		if _, err := CertPool(t.CAFile); err != nil {
			problems = append(problems, fmt.Sprintf("%s.ca_file: %v", field, err))
		}
	}
	if t.CertFile != "" && t.KeyFile != "" {
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			problems = append(problems, fmt.Sprintf("%s.cert_file: with %s.key_file: %v", field, field, err))
		}
	}
	return problems
}

// ClientConfig is the client TLS configuration of t. An error names the
// field under tls ("tls.ca_file: …").
func (t TLS) ClientConfig() (*tls.Config, error) {
	// InsecureSkipVerify is the user's explicit choice, warned about at
	// every start.
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pool, err := CertPool(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
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
