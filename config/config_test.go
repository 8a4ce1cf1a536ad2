package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/ingest"
)

func TestDefaultIsValid(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	want := []string{"hookstream.retry.1s", "hookstream.retry.2s", "hookstream.retry.4s", "hookstream.retry.8s"}
	if got := cfg.RetryTopics(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("RetryTopics() = %v, want %v", got, want)
	}
	if got := cfg.DLQTopic(); got != "hookstream.dlq" {
		t.Errorf("DLQTopic() = %q", got)
	}
}

func TestRungName(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "1s"},
		{250 * time.Millisecond, "250ms"},
		{5 * time.Minute, "5m"},
		{30 * time.Minute, "30m"},
		{2 * time.Hour, "2h"},
		{90 * time.Minute, "1h30m"},
		{1500 * time.Millisecond, "1_5s"},
	}
	for _, tt := range tests {
		if got := RungName(tt.d); got != tt.want {
			t.Errorf("RungName(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestLoadFileAndEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hookstream.yaml")
	yaml := `
kafka:
  brokers: [kafka-1:9092, kafka-2:9092]
  input_topics: [app-logs]
retry:
  rungs: [5s, 5m, 30m, 2h]
delivery:
  timeout: 3s
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"HOOKSTREAM_KAFKA_GROUP=payments",
		"HOOKSTREAM_DELIVERY_MAX_IN_FLIGHT=64",
		"HOOKSTREAM_DELIVERY_ALLOW_NETWORKS=10.0.0.0/8, 127.0.0.0/8",
		"HOOKSTREAM_KAFKA_CREATE_TOPICS=false",
		"PATH=/usr/bin",
	}
	cfg, err := Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Kafka.Brokers, ","); got != "kafka-1:9092,kafka-2:9092" {
		t.Errorf("brokers = %s", got)
	}
	if cfg.Kafka.Group != "payments" || cfg.Delivery.MaxInFlight != 64 || cfg.Kafka.CreateTopics {
		t.Errorf("env overrides not applied: group=%q max_in_flight=%d create_topics=%v", cfg.Kafka.Group, cfg.Delivery.MaxInFlight, cfg.Kafka.CreateTopics)
	}
	if got := strings.Join(cfg.Delivery.AllowNetworks, ","); got != "10.0.0.0/8,127.0.0.0/8" {
		t.Errorf("allow_networks = %q", got)
	}
	if cfg.Delivery.Timeout != 3*time.Second {
		t.Errorf("timeout = %s", cfg.Delivery.Timeout)
	}
	want := "hookstream.retry.5s,hookstream.retry.5m,hookstream.retry.30m,hookstream.retry.2h"
	if got := strings.Join(cfg.RetryTopics(), ","); got != want {
		t.Errorf("retry topics = %s, want %s", got, want)
	}
	if cfg.Events.MaxBytes != Default().Events.MaxBytes {
		t.Errorf("unset field lost its default")
	}
}

func TestLoadErrorsNameTheField(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string
	}{
		{"unknown field", "kafka:\n  brokerz: [a:1]\n", nil, []string{"brokerz"}},
		{"bad broker", "kafka:\n  brokers: [nohost]\n", nil, []string{"kafka.brokers[0]", "host:port"}},
		{"no brokers", "kafka:\n  brokers: []\n", nil, []string{"kafka.brokers", "at least 1"}},
		{"bad log level", "log:\n  level: loud\n", nil, []string{"log.level", "loud"}},
		{"bad regex", "kafka:\n  input_regex: '(['\n", nil, []string{"kafka.input_regex"}},
		{"no input", "kafka:\n  input_topics: []\n", nil, []string{"kafka.input_topics"}},
		{"duplicate rung", "retry:\n  rungs: [1s, 1s]\n", nil, []string{"retry.rungs[1]", "repeats"}},
		{"zero rung", "retry:\n  rungs: [0s]\n", nil, []string{"retry.rungs[0]"}},
		{"bad cidr", "delivery:\n  allow_networks: [10.0.0.0]\n", nil, []string{"delivery.allow_networks[0]"}},
		{"zero timeout", "delivery:\n  timeout: 0s\n", nil, []string{"delivery.timeout"}},
		{"bad env duration", "", []string{"HOOKSTREAM_DELIVERY_TIMEOUT=soon"}, []string{"delivery.timeout", "HOOKSTREAM_DELIVERY_TIMEOUT", "soon"}},
		{"bad env int", "", []string{"HOOKSTREAM_DELIVERY_MAX_IN_FLIGHT=many"}, []string{"delivery.max_in_flight"}},
		{"message size", "events:\n  max_bytes: 8388608\n", nil, []string{"kafka.max_message_bytes"}},
		{"fetch sizes", "kafka:\n  fetch_max_bytes: 100000\n  fetch_max_partition_bytes: 200000\n", nil, []string{"kafka.fetch_max_partition_bytes"}},
		{"regex eats own topics", "kafka:\n  input_regex: 'hookstream\\..*'\n", nil, []string{"kafka.input_regex", "hookstream.dlq"}},
		{"input is own topic", "kafka:\n  input_topics: [hookstream.dlq]\n", nil, []string{"kafka.input_topics"}},
		{"open API beyond loopback", "admin:\n  addr: ':8080'\n", nil, []string{"admin.tokens", "hookstream token"}},
		{"bad token entry", "admin:\n  tokens: [admin:nothex]\n", nil, []string{"admin.tokens[0]"}},
		{"bad token scope", "admin:\n  tokens: [root:" + strings.Repeat("ab", 32) + "]\n", nil, []string{"admin.tokens[0]"}},
		{"bad start offset", "kafka:\n  start_offset: middle\n", nil, []string{"kafka.start_offset"}},
		{"unknown compression", "kafka:\n  compression: brotli\n", nil, []string{"kafka.compression"}},
		{"disable_after shorter than the ladder", "delivery:\n  disable_after: 10s\n", nil,
			[]string{"delivery.disable_after", "10s", "total delay (15s)"}},
		{"negative disable_after", "delivery:\n  disable_after: -1h\n", nil, []string{"delivery.disable_after"}},
		{"negative host rate", "delivery:\n  rate_limit: {per_second: -1, burst: 1}\n", nil, []string{"delivery.rate_limit.per_second"}},
		{"host rate without burst", "delivery:\n  rate_limit: {per_second: 10}\n", nil, []string{"delivery.rate_limit.burst", "at least 1"}},
		{"bad env rate", "", []string{"HOOKSTREAM_DELIVERY_RATE_LIMIT_PER_SECOND=fast"}, []string{"delivery.rate_limit.per_second", "fast"}},
		{"no retry-after cap", "retry:\n  max_retry_after: 0s\n", nil, []string{"retry.max_retry_after", "greater than 0"}},
		{"negative cooldown", "delivery:\n  breaker_cooldown: -1s\n", nil, []string{"delivery.breaker_cooldown"}},
		{"cooldown past the retry-after cap", "retry:\n  max_retry_after: 1m\ndelivery:\n  breaker_cooldown: 2m\n", nil,
			[]string{"delivery.breaker_cooldown", "2m0s", "retry.max_retry_after (1m0s)"}},
		{"unknown SASL mechanism", "kafka:\n  sasl: {mechanism: GSSAPI}\n", nil, []string{"kafka.sasl.mechanism"}},
		{"SCRAM without a user", "kafka:\n  sasl: {mechanism: SCRAM-SHA-512, password: x}\n", nil, []string{"kafka.sasl.username", "required"}},
		{"PLAIN without a password", "kafka:\n  sasl: {mechanism: PLAIN, username: u}\n", nil, []string{"kafka.sasl.password", "required"}},
		{"password twice", "kafka:\n  sasl: {mechanism: PLAIN, username: u, password: x, password_file: /etc/hostname}\n", nil, []string{"kafka.sasl.password", "not both"}},
		{"missing password file", "kafka:\n  sasl: {mechanism: PLAIN, username: u, password_file: /nonexistent/pw}\n", nil, []string{"kafka.sasl.password_file", "no such file"}},
		{"credentials without a mechanism", "kafka:\n  sasl: {username: u, password: x}\n", nil, []string{"kafka.sasl.mechanism", "required"}},
		{"OAUTHBEARER with nothing", "kafka:\n  sasl: {mechanism: OAUTHBEARER}\n", nil, []string{"kafka.sasl.token_url"}},
		{"token endpoint without a client", "kafka:\n  sasl: {mechanism: OAUTHBEARER, token_url: 'https://idp.example.com/token'}\n", nil,
			[]string{"kafka.sasl.client_id", "kafka.sasl.client_secret"}},
		{"MSK IAM without TLS", "kafka:\n  sasl: {mechanism: AWS_MSK_IAM}\n", nil, []string{"kafka.tls.enabled", "AWS_MSK_IAM"}},
		{"missing CA file", "kafka:\n  tls: {ca_file: /nonexistent/ca.pem}\n", nil, []string{"kafka.tls.ca_file", "no such file"}},
		{"CA file without certificates", "kafka:\n  tls: {ca_file: /etc/hostname}\n", nil, []string{"kafka.tls.ca_file", "no PEM certificate"}},
		{"certificate without key", "kafka:\n  tls: {cert_file: /etc/hostname}\n", nil, []string{"kafka.tls.key_file", "required", "with kafka.tls.cert_file"}},
		{"sentinel without addresses", "redis:\n  sentinel: {master_name: mymaster}\n", nil, []string{"redis.sentinel.addrs", "required"}},
		{"sentinel addresses without a master", "redis:\n  sentinel: {addrs: ['s:26379']}\n", nil, []string{"redis.sentinel.master_name"}},
		{"sentinel and cluster", "redis:\n  sentinel: {master_name: m, addrs: ['s:26379']}\n  cluster: {addrs: ['c:6379']}\n", nil,
			[]string{"redis.sentinel", "exclusive"}},
		{"bad cluster address", "redis:\n  cluster: {addrs: [nohost]}\n", nil, []string{"redis.cluster.addrs[0]"}},
		{"redis password twice", "redis:\n  password: x\n  password_file: /etc/hostname\n", nil, []string{"redis.password", "not both"}},
		{"unknown format", "events:\n  format: xml\n", nil, []string{"events.format", "xml"}},
		{"unknown topic format", "events:\n  topic_formats: {logs: protobuf}\n", nil, []string{"events.topic_formats", "protobuf"}},
		{"format of a topic not read", "events:\n  topic_formats: {otel: otlp}\n", nil, []string{"events.topic_formats.otel", "not an input topic"}},
		{"fields of json as a format", "events:\n  format_fields: {json: {type: [kind]}}\n", nil, []string{"events.format_fields", "json"}},
		{"bad format field path", "events:\n  format_fields: {otlp: {type: ['attributes[']}}\n", nil, []string{"events.format_fields.otlp.type[0]", "unclosed"}},
		{"bad field path", "events:\n  fields: {type: ['a..b']}\n", nil, []string{"events.fields.type[0]", "empty key"}},
		{"missing redis CA", "redis:\n  tls: {ca_file: /nonexistent/ca.pem}\n", nil, []string{"redis.tls.ca_file", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(path, tt.env)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEnvNamesCoverNestedFields(t *testing.T) {
	names := strings.Join(EnvNames(), " ")
	for _, want := range []string{"HOOKSTREAM_KAFKA_BROKERS", "HOOKSTREAM_EVENTS_FIELDS_TYPE", "HOOKSTREAM_RETRY_RUNGS", "HOOKSTREAM_SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(names, want) {
			t.Errorf("EnvNames() lacks %s", want)
		}
	}
}

func TestTokensAllowListeningBeyondLoopback(t *testing.T) {
	entry := "read:" + strings.Repeat("ab", 32)
	cfg, err := Load("", []string{"HOOKSTREAM_ADMIN_ADDR=:8080", "HOOKSTREAM_ADMIN_TOKENS=" + entry})
	if err != nil {
		t.Fatal(err)
	}
	scope, sum, err := ParseToken(cfg.Admin.Tokens[0])
	if err != nil || scope != ScopeRead || sum[0] != 0xab {
		t.Errorf("ParseToken = %s %x %v", scope, sum, err)
	}
	for _, addr := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:8080"} {
		if _, err := Load("", []string{"HOOKSTREAM_ADMIN_ADDR=" + addr}); err != nil {
			t.Errorf("loopback %s without tokens: %v", addr, err)
		}
	}
}

func TestBreakerCooldownsFollowTheLadder(t *testing.T) {
	tests := []struct {
		name           string
		rungs          []time.Duration
		limit          time.Duration
		first, longest time.Duration
	}{
		{"default ladder", []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, 0, time.Second, 8 * time.Second},
		{"capped", []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}, 3 * time.Second, time.Second, 3 * time.Second},
		{"capped below the first rung", []time.Duration{5 * time.Second, 5 * time.Minute}, time.Second, time.Second, time.Second},
		{"one rung", []time.Duration{30 * time.Second}, 0, 30 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.Retry.Rungs, cfg.Delivery.BreakerCooldown = tt.rungs, tt.limit
			if first, longest := cfg.BreakerCooldowns(); first != tt.first || longest != tt.longest {
				t.Errorf("BreakerCooldowns() = %s, %s; want %s, %s", first, longest, tt.first, tt.longest)
			}
		})
	}
}

// Every format the reader knows is one the config accepts, for the input
// topics and for one topic.
func TestEveryFormatIsAccepted(t *testing.T) {
	for _, f := range ingest.Formats {
		c := Default()
		c.Events.Format = string(f)
		c.Events.TopicFormats = map[string]string{c.Kafka.InputTopics[0]: string(f)}
		if err := c.Validate(); err != nil {
			t.Errorf("format %s: %v", f, err)
		}
	}
}
