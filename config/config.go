// Package config defines hookstream's configuration: one struct with
// defaults, loaded from YAML, overridden by HOOKSTREAM_* environment
// variables and validated before anything starts.
package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-playground/validator/v10"
	"github.com/hookstream/hookstream/event"
	"gopkg.in/yaml.v3"
)

// Config is the whole of hookstream's configuration.
type Config struct {
	Log      Log      `yaml:"log"`
	Kafka    Kafka    `yaml:"kafka"`
	Events   Events   `yaml:"events"`
	Retry    Retry    `yaml:"retry"`
	Delivery Delivery `yaml:"delivery"`
	Redis    Redis    `yaml:"redis"`
	Admin    Admin    `yaml:"admin"`
	Gateway  Gateway  `yaml:"gateway"`
	History  History  `yaml:"history"`
	Tracing  Tracing  `yaml:"tracing"`

	// ShutdownTimeout bounds how long in-flight deliveries may take to
	// finish after a stop signal before the process exits without them
	// (they are then redelivered by the next owner). Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" validate:"gt=0"`
}

// Log configures the process logger.
type Log struct {
	// Level is one of trace, debug, info, warn, error. Default info.
	Level string `yaml:"level" validate:"oneof=trace debug info warn error"`
	// Format is json or console. Default json.
	Format string `yaml:"format" validate:"oneof=json console"`
}

// Kafka configures the brokers, the input topics and the derived retry and
// dead-letter topics.
type Kafka struct {
	// Brokers are the seed brokers, host:port. Default 127.0.0.1:9092.
	Brokers []string `yaml:"brokers" validate:"min=1,dive,hostname_port"`
	// ClientID names this process to the brokers. Default hookstream.
	ClientID string `yaml:"client_id" validate:"required"`
	// Group is the consumer group of the input topics; each retry rung
	// uses the group "<group>.retry.<delay>". Default hookstream.
	Group string `yaml:"group" validate:"required"`
	// InputTopics are the topics log events are read from. Default [logs].
	// Ignored when InputRegex is set.
	InputTopics []string `yaml:"input_topics" validate:"dive,required"`
	// InputRegex, when set, consumes every topic whose name matches it.
	InputRegex string `yaml:"input_regex"`
	// TopicPrefix prefixes the retry and dead-letter topics. Default hookstream.
	TopicPrefix string `yaml:"topic_prefix" validate:"required,excludesall= /\\"`
	// CreateTopics creates missing retry and dead-letter topics at start.
	// Default true.
	CreateTopics bool `yaml:"create_topics"`
	// Partitions is the partition count of created topics; 0 takes the
	// count of the (first) input topic. Default 0.
	Partitions int32 `yaml:"partitions" validate:"gte=0"`
	// ReplicationFactor of created topics; -1 takes the broker default.
	// Default -1.
	ReplicationFactor int16 `yaml:"replication_factor" validate:"gte=-1"`
	// CommitInterval is how often durable progress is committed. Default 1s.
	CommitInterval time.Duration `yaml:"commit_interval" validate:"gt=0"`
	// FetchMaxWait is the longest a fetch waits for data. Default 250ms.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait" validate:"gt=0"`
	// ProduceLinger is how long the retry record of a failed delivery
	// waits for others of its subscription and rung, to be written with
	// them as one bundle (a breaker that opens fails many at once); 0
	// writes each on its own. Default 5ms.
	ProduceLinger time.Duration `yaml:"produce_linger" validate:"gte=0"`
	// Compression of the retry and DLQ records written: none, gzip,
	// snappy, lz4 or zstd. Default none: this client's lz4 holds 4 MiB
	// per batch being compressed or read, and compressing costs the
	// workers CPU; the broker can compress on its own (compression.type).
	Compression string `yaml:"compression" validate:"oneof=none gzip snappy lz4 zstd"`
	// ClientMetrics lets each Kafka client send the metrics a broker asks
	// for (KIP-714). Default false: hookstream exports its own, and a push
	// compressed with lz4 holds 8 MiB per client while it is written.
	ClientMetrics bool `yaml:"client_metrics"`
	// StartOffset is where a group without committed offsets starts:
	// earliest or latest. Retry rungs always start at the earliest.
	// Default earliest, so nothing published before the first start is
	// skipped.
	StartOffset string `yaml:"start_offset" validate:"oneof=earliest latest"`
	// SessionTimeout is how long the group waits for a silent member
	// before moving its partitions. Default 45s.
	SessionTimeout time.Duration `yaml:"session_timeout" validate:"gte=1s"`
	// MaxMessageBytes is the largest retry or DLQ record written, set as
	// max.message.bytes on created topics. Default 8 MiB.
	MaxMessageBytes int `yaml:"max_message_bytes" validate:"gte=65536"`
	// FetchMaxBytes caps one fetch response of each consumer, and
	// FetchMaxPartitionBytes the part of it from one partition. A broker
	// still returns a first record batch larger than these, so any record
	// arrives; the caps bound how much fetched data waits in memory.
	// Defaults 512 KiB and 128 KiB.
	FetchMaxBytes          int32 `yaml:"fetch_max_bytes" validate:"gte=65536"`
	FetchMaxPartitionBytes int32 `yaml:"fetch_max_partition_bytes" validate:"gte=16384,ltefield=FetchMaxBytes"`
	// TLS encrypts every connection to the brokers.
	TLS TLS `yaml:"tls"`
	// SASL authenticates every connection to the brokers.
	SASL SASL `yaml:"sasl"`
}

// TLS configures a TLS client. Files are PEM.
type TLS struct {
	// Enabled turns TLS on; a CA file or a client certificate turns it on
	// too. Default false.
	Enabled bool `yaml:"enabled"`
	// CAFile holds the certificates that may sign the server's; empty
	// trusts the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key, for
	// mutual TLS.
	CertFile string `yaml:"cert_file" validate:"required_with=KeyFile"`
	KeyFile  string `yaml:"key_file" validate:"required_with=CertFile"`
	// ServerName overrides the name the server's certificate must carry.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate: only to try
	// something out; hookstream warns at every start.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// On reports whether TLS is used.
func (t TLS) On() bool { return t.Enabled || t.CAFile != "" || t.CertFile != "" }

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScram256    = "SCRAM-SHA-256"
	SASLScram512    = "SCRAM-SHA-512"
	SASLOAuthBearer = "OAUTHBEARER"
	SASLAWSMSKIAM   = "AWS_MSK_IAM"
)

// SASL configures how hookstream authenticates to the brokers. Secrets
// may come from the file, from a *_file path, or from the environment
// (HOOKSTREAM_KAFKA_SASL_PASSWORD …); they are never logged.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or
	// AWS_MSK_IAM; empty: no SASL. Default empty.
	Mechanism string `yaml:"mechanism" validate:"omitempty,oneof=PLAIN SCRAM-SHA-256 SCRAM-SHA-512 OAUTHBEARER AWS_MSK_IAM"`
	// Username and Password (or PasswordFile) for PLAIN and SCRAM. For
	// AWS_MSK_IAM they are an access key ID and secret access key, read
	// from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
	// AWS_SESSION_TOKEN) when empty.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// Token (or TokenFile) is a fixed OAUTHBEARER token. Instead, with
	// TokenURL, tokens are fetched from that OAuth 2.0 endpoint with the
	// client credentials grant (ClientID, ClientSecret or
	// ClientSecretFile, Scopes) and renewed before they expire.
	Token            string   `yaml:"token"`
	TokenFile        string   `yaml:"token_file"`
	TokenURL         string   `yaml:"token_url" validate:"omitempty,url"`
	ClientID         string   `yaml:"client_id"`
	ClientSecret     string   `yaml:"client_secret"`
	ClientSecretFile string   `yaml:"client_secret_file"`
	Scopes           []string `yaml:"scopes"`
}

// Events says where the fields used for matching are found in a log event
// and how large an event may be.
type Events struct {
	// MaxBytes is the largest record value accepted; larger ones go to the
	// DLQ as poison. Default 1 MiB.
	MaxBytes int `yaml:"max_bytes" validate:"gt=0"`
	// MaxDepth is the deepest nesting of objects and arrays accepted.
	// Default 64.
	MaxDepth int `yaml:"max_depth" validate:"gt=0,lte=10000"`
	// MaxMatchBytes is how much of a string field a filter's regex
	// examines: matching costs up to the regex's size per byte, and one
	// event must not stall a worker. Default 4 KiB.
	MaxMatchBytes int `yaml:"max_match_bytes" validate:"gt=0,lte=1048576"`
	// Fields lists, for each well-known field, the JSON paths tried in
	// order in a json event.
	Fields Fields `yaml:"fields"`
	// Format is how the input topics' records are written: json (the
	// default), otlp (protobuf or JSON, told apart per record),
	// otlp_proto, otlp_json, ecs, cloudevents, syslog-json, or auto (any
	// of them, told apart per record).
	Format string `yaml:"format" validate:"oneof=json otlp otlp_proto otlp_json ecs cloudevents syslog-json auto"`
	// TopicFormats gives input topics a format other than Format.
	TopicFormats map[string]string `yaml:"topic_formats" validate:"dive,keys,required,endkeys,oneof=json otlp otlp_proto otlp_json ecs cloudevents syslog-json auto"`
	// FormatFields, per converted format (otlp, ecs, cloudevents,
	// syslog-json), lists paths into its events tried before the
	// format's own rule for each well-known field.
	FormatFields map[string]FieldPaths `yaml:"format_fields" validate:"dive,keys,oneof=otlp ecs cloudevents syslog-json,endkeys"`
}

// FieldPaths are paths tried, in order, for some of the well-known
// fields.
type FieldPaths struct {
	Type      []string `yaml:"type" validate:"dive,required"`
	Level     []string `yaml:"level" validate:"dive,required"`
	Source    []string `yaml:"source" validate:"dive,required"`
	Timestamp []string `yaml:"timestamp" validate:"dive,required"`
	Message   []string `yaml:"message" validate:"dive,required"`
}

// Fields are the candidate JSON paths of the well-known event fields.
type Fields struct {
	// Type defaults to [type, event_type].
	Type []string `yaml:"type" validate:"min=1,dive,required"`
	// Level defaults to [level, severity]; compared case-insensitively.
	Level []string `yaml:"level" validate:"min=1,dive,required"`
	// Source defaults to [source, service].
	Source []string `yaml:"source" validate:"min=1,dive,required"`
	// Timestamp defaults to [timestamp, "@timestamp", time].
	Timestamp []string `yaml:"timestamp" validate:"min=1,dive,required"`
	// Message defaults to [message, msg].
	Message []string `yaml:"message" validate:"min=1,dive,required"`
}

// Tracing configures the spans of delivery attempts. W3C trace context
// on input records reaches the webhooks and the retry and DLQ records
// whether or not spans are exported.
type Tracing struct {
	// Endpoint is the OTLP/HTTP traces URL, such as
	// http://otel-collector:4318/v1/traces; empty (the default) records
	// no spans.
	Endpoint string `yaml:"endpoint" validate:"omitempty,url"`
	// Headers are sent with every export (an API key, say).
	Headers map[string]string `yaml:"headers"`
	// SampleRatio is the share of traces that begin at hookstream that
	// are sampled; a trace that came with its event keeps its own
	// decision. Default 1.
	SampleRatio float64 `yaml:"sample_ratio" validate:"gte=0,lte=1"`
}

// Retry configures the retry-topic ladder.
type Retry struct {
	// Rungs are the delays of the retry topics, in order; topic names are
	// derived from them ("<prefix>.retry.1s"). Default [1s, 2s, 4s, 8s].
	Rungs []time.Duration `yaml:"rungs" validate:"min=1,max=32,dive,gt=0"`
	// MaxRetryAfter caps how far an endpoint's Retry-After may push the
	// next attempt. Default 1h.
	MaxRetryAfter time.Duration `yaml:"max_retry_after" validate:"gt=0"`
}

// Delivery configures the HTTP side.
type Delivery struct {
	// MaxInFlight bounds the records being processed at once by this
	// process; polling stops while it is reached. Default 384.
	MaxInFlight int `yaml:"max_in_flight" validate:"gt=0"`
	// Timeout is the default per-attempt timeout of a subscription.
	// Default 10s.
	Timeout time.Duration `yaml:"timeout" validate:"gt=0"`
	// MaxAttempts is the default number of attempts of a subscription,
	// the first try included. Default 5.
	MaxAttempts int `yaml:"max_attempts" validate:"gt=0,lte=100"`
	// MaxResponseBytes is how much of a response body is read. Default 4096.
	MaxResponseBytes int64 `yaml:"max_response_bytes" validate:"gt=0"`
	// MaxIdleConnsPerHost sizes the keep-alive pool per endpoint host; it
	// is raised to MaxInFlightPerEndpoint when lower. Default 128.
	MaxIdleConnsPerHost int `yaml:"max_idle_conns_per_host" validate:"gt=0"`
	// AllowNetworks lists CIDRs that deliveries may reach even though they
	// are not publicly routable (loopback, private, link-local …).
	// Default none: such destinations are refused.
	AllowNetworks []string `yaml:"allow_networks" validate:"dive,cidr"`
	// BreakerFailures is how many consecutive failures of one endpoint
	// open its circuit breaker; 0 disables the breaker. Default 5.
	BreakerFailures int `yaml:"breaker_failures" validate:"gte=0"`
	// BreakerCooldown caps how long an open breaker refuses attempts
	// before it lets one probe through. The cooldown follows the retry
	// ladder: the first rung's delay when the breaker opens, doubling
	// after each failed probe up to the last rung's delay, so a refused
	// delivery (a failed attempt, reason circuit_open) finds a probe
	// allowed when its next rung comes due. 0 = no cap. Default 0.
	BreakerCooldown time.Duration `yaml:"breaker_cooldown" validate:"gte=0"`
	// MaxInFlightPerEndpoint caps the attempts in flight to one endpoint
	// URL, so a slow endpoint cannot hold every worker. A delivery that
	// finds its endpoint at the cap waits for a slot when the endpoint
	// answers fast (recent latency under 100ms; up to 1s), is put off at
	// once when it answers slowly or has not moved (no attempt started or
	// finished) for 200ms, and waits 50ms for one whose first answers have
	// not come back; a delivery put off waits on the first retry rung
	// without spending an attempt. 0 means no cap. Default 128.
	MaxInFlightPerEndpoint int `yaml:"max_in_flight_per_endpoint" validate:"gte=0"`
	// RateLimit paces the attempts to each destination host whose
	// subscriptions set no rate limit of their own, across every worker.
	// Default none (per_second 0).
	RateLimit RateLimit `yaml:"rate_limit"`
	// DisableOnGone disables a subscription whose endpoint answers 410
	// Gone, at once; its deliveries go to the DLQ with reason gone.
	// Default true.
	DisableOnGone bool `yaml:"disable_on_gone"`
	// DisableAfter disables a subscription whose every attempt has failed
	// for this long (across every worker); 0 never does. At least the
	// retry ladder's total delay when set; 72h is a production value.
	// Default 0.
	DisableAfter time.Duration `yaml:"disable_after" validate:"gte=0"`
	// SecretRotationWindow is how long a rotated-out secret keeps signing
	// deliveries beside the new one. Default 24h.
	SecretRotationWindow time.Duration `yaml:"secret_rotation_window" validate:"gte=0"`
}

// RateLimit is a pace: PerSecond attempts on average, at most Burst at
// once.
type RateLimit struct {
	// PerSecond is the average pace; 0 sets none.
	PerSecond float64 `yaml:"per_second" validate:"gte=0,lte=100000"`
	// Burst is how many attempts may go at once; at least 1 with a pace.
	Burst int `yaml:"burst" validate:"gte=0,lte=100000"`
}

// Redis configures the subscription store.
type Redis struct {
	// URL is a redis:// or rediss:// (TLS) URL of a single Redis, with an
	// ACL user and password if any. With Sentinel or Cluster set, only
	// its credentials and database are used. Default
	// redis://127.0.0.1:6379/0.
	URL string `yaml:"url" validate:"required,url"`
	// Username and Password (or PasswordFile) override the URL's: an ACL
	// user kept out of the URL. Default none.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// TLS configures TLS to Redis (and to Sentinel); a rediss:// URL
	// turns it on too.
	TLS TLS `yaml:"tls"`
	// Sentinel, with a master name, reaches the master a Sentinel group
	// names, and follows its failovers.
	Sentinel Sentinel `yaml:"sentinel"`
	// Cluster, with addresses, reaches a Redis Cluster.
	Cluster RedisCluster `yaml:"cluster"`
	// KeyPrefix prefixes every key and channel. Default hookstream.
	KeyPrefix string `yaml:"key_prefix" validate:"required"`
	// RefreshInterval is how often the cached subscriptions' version is
	// checked against Redis, repairing missed notifications. Default 5s.
	RefreshInterval time.Duration `yaml:"refresh_interval" validate:"gt=0"`
}

// Sentinel is a Redis Sentinel group.
type Sentinel struct {
	// MasterName is the master's name in the group; empty: no Sentinel.
	MasterName string `yaml:"master_name"`
	// Addrs are the sentinels, host:port.
	Addrs []string `yaml:"addrs" validate:"dive,hostname_port"`
	// Password (or PasswordFile) of the sentinels, when they require one.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// RedisCluster is a Redis Cluster.
type RedisCluster struct {
	// Addrs are seed nodes, host:port; empty: no cluster.
	Addrs []string `yaml:"addrs" validate:"dive,hostname_port"`
}

// History configures the delivery history the admin API shows: recent
// attempts and totals per subscription, kept in Redis.
type History struct {
	// Attempts is how many recent attempts are kept per subscription; 0
	// keeps no history and no totals. Default 100.
	Attempts int `yaml:"attempts" validate:"gte=0,lte=10000"`
	// FlushInterval is how often each worker writes what it recorded to
	// Redis. Default 1s.
	FlushInterval time.Duration `yaml:"flush_interval" validate:"gt=0"`
	// Requests says which attempts keep the request they sent (method,
	// URL, headers, the body's first 4 KiB, secrets masked) and the start
	// of the response: failed, all (every delivered attempt pays for a
	// copy) or none. Default failed.
	Requests string `yaml:"requests" validate:"oneof=failed all none"`
}

// Admin configures the admin HTTP API.
type Admin struct {
	// Addr is the listen address. Default 127.0.0.1:8080. Listening
	// beyond loopback requires Tokens.
	Addr string `yaml:"addr" validate:"required"`
	// Tokens are the bearer tokens the /v1 API accepts, each written as
	// "<scope>:<sha256 hex of the token>" with scope admin (everything) or
	// read (GET only); "hookstream token" makes one. With none, the API is
	// open, which is allowed on a loopback address only. Default none.
	Tokens []string `yaml:"tokens" validate:"dive,token"`
	// MaxBodyBytes caps request bodies. Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes" validate:"gt=0"`
	// MaxConnections is how many connections are served at once; beyond
	// it only the probes and /metrics are answered. Default 1024, or a
	// quarter of the process's open-file limit if lower.
	MaxConnections int `yaml:"max_connections" validate:"gte=0"`
	// ReadTimeout bounds reading a request, headers and body. Default 15s.
	ReadTimeout time.Duration `yaml:"read_timeout" validate:"gt=0"`
	// WriteTimeout bounds writing a response (DLQ replays and profiles
	// take longer, as they need). Default 60s.
	WriteTimeout time.Duration `yaml:"write_timeout" validate:"gt=0"`
	// Pprof serves Go's profiler under /debug/pprof/. Default false.
	Pprof bool `yaml:"pprof"`
}

// Gateway configures the inbound webhook listener, where third parties
// post to /in/{source}; its sources are managed through the admin API.
type Gateway struct {
	// Addr is the listen address; empty (the default) turns the gateway
	// off.
	Addr string `yaml:"addr"`
	// Topic receives the requests of sources that name none. Default: the
	// first input topic.
	Topic string `yaml:"topic"`
	// MaxConnections is how many connections are served at once. Default
	// 1024, or a quarter of the process's open-file limit if lower.
	MaxConnections int `yaml:"max_connections" validate:"gte=0"`
	// ReadTimeout bounds reading a request, headers and body. Default 10s.
	ReadTimeout time.Duration `yaml:"read_timeout" validate:"gt=0"`
	// WriteTimeout bounds answering it, publishing included. Default 15s.
	WriteTimeout time.Duration `yaml:"write_timeout" validate:"gt=0"`
}

// Default returns the configuration used where a file and the environment
// say nothing.
func Default() Config {
	return Config{
		Log:     Log{Level: "info", Format: "json"},
		Gateway: Gateway{ReadTimeout: 10 * time.Second, WriteTimeout: 15 * time.Second},
		Kafka: Kafka{
			Brokers:                []string{"127.0.0.1:9092"},
			ClientID:               "hookstream",
			Group:                  "hookstream",
			InputTopics:            []string{"logs"},
			TopicPrefix:            "hookstream",
			CreateTopics:           true,
			ReplicationFactor:      -1,
			CommitInterval:         time.Second,
			FetchMaxWait:           250 * time.Millisecond,
			ProduceLinger:          5 * time.Millisecond,
			Compression:            "none",
			StartOffset:            "earliest",
			SessionTimeout:         45 * time.Second,
			MaxMessageBytes:        8 << 20,
			FetchMaxBytes:          512 << 10,
			FetchMaxPartitionBytes: 128 << 10,
		},
		Events: Events{
			MaxBytes:      1 << 20,
			MaxDepth:      64,
			MaxMatchBytes: 4 << 10,
			Format:        "json",
			Fields: Fields{
				Type:      []string{"type", "event_type"},
				Level:     []string{"level", "severity"},
				Source:    []string{"source", "service"},
				Timestamp: []string{"timestamp", "@timestamp", "time"},
				Message:   []string{"message", "msg"},
			},
		},
		Tracing: Tracing{SampleRatio: 1},
		Retry: Retry{
			Rungs:         []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second},
			MaxRetryAfter: time.Hour,
		},
		Delivery: Delivery{
			MaxInFlight:            384,
			Timeout:                10 * time.Second,
			MaxAttempts:            5,
			MaxResponseBytes:       4096,
			MaxIdleConnsPerHost:    128,
			BreakerFailures:        5,
			MaxInFlightPerEndpoint: 128,
			DisableOnGone:          true,
			SecretRotationWindow:   24 * time.Hour,
		},
		Redis: Redis{
			URL:             "redis://127.0.0.1:6379/0",
			KeyPrefix:       "hookstream",
			RefreshInterval: 5 * time.Second,
		},
		Admin:           Admin{Addr: "127.0.0.1:8080", MaxBodyBytes: 1 << 20, ReadTimeout: 15 * time.Second, WriteTimeout: time.Minute},
		History:         History{Attempts: 100, FlushInterval: time.Second, Requests: "failed"},
		ShutdownTimeout: 30 * time.Second,
	}
}

// Load reads the YAML file at path (none when path is empty) over the
// defaults, applies HOOKSTREAM_* environment overrides from environ and
// validates the result.
func Load(path string, environ []string) (Config, error) {
	cfg := Default()
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		if err := Decode(f, &cfg); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := ApplyEnv(&cfg, environ); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Decode reads YAML from r into cfg, refusing unknown fields so that a
// misspelt key fails instead of being ignored.
func Decode(r io.Reader, cfg *Config) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// Validate checks every field and the rules that tie fields together. The
// error names each offending field by its YAML path.
func (c *Config) Validate() error {
	var problems []string
	if err := validate.Struct(c); err != nil {
		var verrs validator.ValidationErrors
		if !errors.As(err, &verrs) {
			return fmt.Errorf("config: %w", err)
		}
		for _, fe := range verrs {
			problems = append(problems, fmt.Sprintf("%s: %s", fieldPath(fe.Namespace()), describe(fe)))
		}
	}
	if c.Kafka.InputRegex != "" {
		if _, err := regexp.Compile(c.Kafka.InputRegex); err != nil {
			problems = append(problems, fmt.Sprintf("kafka.input_regex: %q does not compile: %v", c.Kafka.InputRegex, err))
		}
	} else if len(c.Kafka.InputTopics) == 0 {
		problems = append(problems, "kafka.input_topics: at least one topic is required when kafka.input_regex is empty")
	}
	seen := make(map[string]int, len(c.Retry.Rungs))
	for i, d := range c.Retry.Rungs {
		name := RungName(d)
		if j, dup := seen[name]; dup {
			problems = append(problems, fmt.Sprintf("retry.rungs[%d]: %s repeats retry.rungs[%d]; each rung needs its own topic", i, d, j))
		}
		seen[name] = i
		if d%time.Millisecond != 0 {
			problems = append(problems, fmt.Sprintf("retry.rungs[%d]: %s has sub-millisecond precision", i, d))
		}
	}
	if c.Retry.MaxRetryAfter > 0 && c.Delivery.BreakerCooldown > c.Retry.MaxRetryAfter {
		problems = append(problems, fmt.Sprintf("delivery.breaker_cooldown: %s is longer than retry.max_retry_after (%s)", c.Delivery.BreakerCooldown, c.Retry.MaxRetryAfter))
	}
	if r := c.Delivery.RateLimit; r.PerSecond > 0 && r.Burst < 1 {
		problems = append(problems, fmt.Sprintf("delivery.rate_limit.burst: must be at least 1 when delivery.rate_limit.per_second is set (got %d)", r.Burst))
	}
	if total := c.LadderDelay(); c.Delivery.DisableAfter > 0 && c.Delivery.DisableAfter < total {
		problems = append(problems, fmt.Sprintf("delivery.disable_after: %s is shorter than the retry ladder's total delay (%s); a delivery would not have had every attempt", c.Delivery.DisableAfter, total))
	}
	if len(c.Admin.Tokens) == 0 && !loopbackAddr(c.Admin.Addr) {
		problems = append(problems, fmt.Sprintf("admin.tokens: admin.addr %q listens beyond loopback, so the API needs at least one token (make one with: hookstream token)", c.Admin.Addr))
	}
	if c.Kafka.MaxMessageBytes < c.Events.MaxBytes+64<<10 {
		problems = append(problems, fmt.Sprintf("kafka.max_message_bytes: %d must exceed events.max_bytes (%d) by at least 64 KiB, so a delivery job can carry any accepted event", c.Kafka.MaxMessageBytes, c.Events.MaxBytes))
	}
	problems = append(problems, c.Events.problems(c.Kafka)...)
	own := append(c.RetryTopics(), c.DLQTopic())
	for _, t := range own {
		if c.Kafka.InputRegex != "" {
			if re, err := regexp.Compile(c.Kafka.InputRegex); err == nil && re.MatchString(t) {
				problems = append(problems, fmt.Sprintf("kafka.input_regex: %q matches hookstream's own topic %q; anchor it or change kafka.topic_prefix", c.Kafka.InputRegex, t))
			}
		} else if slices.Contains(c.Kafka.InputTopics, t) {
			problems = append(problems, fmt.Sprintf("kafka.input_topics: %q is hookstream's own retry or DLQ topic", t))
		}
	}
	problems = append(problems, c.Kafka.securityProblems()...)
	problems = append(problems, c.Redis.redisProblems()...)
	if len(problems) > 0 {
		return &Error{Problems: problems}
	}
	return nil
}

// problems lists the paths that do not parse and the topic formats of
// topics hookstream does not read.
func (e Events) problems(k Kafka) []string {
	var problems []string
	paths := func(field string, ps []string) {
		for i, p := range ps {
			if _, err := event.ParsePath(p); err != nil {
				problems = append(problems, fmt.Sprintf("%s[%d]: %v", field, i, err))
			}
		}
	}
	for _, f := range []struct {
		name string
		ps   []string
	}{{"type", e.Fields.Type}, {"level", e.Fields.Level}, {"source", e.Fields.Source}, {"timestamp", e.Fields.Timestamp}, {"message", e.Fields.Message}} {
		paths("events.fields."+f.name, f.ps)
	}
	for _, format := range slices.Sorted(maps.Keys(e.FormatFields)) {
		fp := e.FormatFields[format]
		for _, f := range []struct {
			name string
			ps   []string
		}{{"type", fp.Type}, {"level", fp.Level}, {"source", fp.Source}, {"timestamp", fp.Timestamp}, {"message", fp.Message}} {
			paths("events.format_fields."+format+"."+f.name, f.ps)
		}
	}
	var re *regexp.Regexp
	if k.InputRegex != "" {
		re, _ = regexp.Compile(k.InputRegex)
	}
	for _, topic := range slices.Sorted(maps.Keys(e.TopicFormats)) {
		read := slices.Contains(k.InputTopics, topic)
		if k.InputRegex != "" {
			read = re != nil && re.MatchString(topic)
		}
		if !read {
			problems = append(problems, fmt.Sprintf("events.topic_formats.%s: %q is not an input topic (kafka.input_topics or kafka.input_regex)", topic, topic))
		}
	}
	return problems
}

// Error lists every problem Validate found.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "invalid config:\n  " + strings.Join(dedupe(e.Problems), "\n  ")
}

// BreakerCooldowns returns an open breaker's first and longest cooldown:
// the first and last rungs' delays, each capped by
// delivery.breaker_cooldown when it is set.
func (c *Config) BreakerCooldowns() (first, longest time.Duration) {
	first, longest = c.Retry.Rungs[0], c.Retry.Rungs[len(c.Retry.Rungs)-1]
	if limit := c.Delivery.BreakerCooldown; limit > 0 {
		first, longest = min(first, limit), min(longest, limit)
	}
	return first, max(first, longest)
}

// LadderDelay is the sum of the rungs' delays: how long a delivery takes
// from its first attempt to its last on the ladder.
func (c *Config) LadderDelay() time.Duration {
	var total time.Duration
	for _, d := range c.Retry.Rungs {
		total += d
	}
	return total
}

// RetryTopics returns the retry topic names, one a rung, in order.
func (c *Config) RetryTopics() []string {
	topics := make([]string, len(c.Retry.Rungs))
	for i, d := range c.Retry.Rungs {
		topics[i] = c.Kafka.TopicPrefix + ".retry." + RungName(d)
	}
	return topics
}

// DLQTopic returns the dead-letter topic's name.
func (c *Config) DLQTopic() string { return c.Kafka.TopicPrefix + ".dlq" }

// RungGroup returns the consumer group of the retry rung with delay d.
func (c *Config) RungGroup(d time.Duration) string {
	return c.Kafka.Group + ".retry." + RungName(d)
}

// RungName renders a rung's delay compactly for topic and group names:
// 1s, 500ms, 5m, 2h, 1h30m.
func RungName(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return strings.ReplaceAll(s, ".", "_")
}

var validate = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(yamlName)
	_ = v.RegisterValidation("token", func(fl validator.FieldLevel) bool {
		_, _, err := ParseToken(fl.Field().String())
		return err == nil
	})
	return v
}()

// Token scopes.
const (
	ScopeAdmin = "admin"
	ScopeRead  = "read"
)

// ParseToken splits an admin.tokens entry into its scope and the
// SHA-256 of the token.
func ParseToken(entry string) (scope string, sum [32]byte, err error) {
	scope, hexSum, ok := strings.Cut(entry, ":")
	if !ok || (scope != ScopeAdmin && scope != ScopeRead) {
		return "", sum, fmt.Errorf("want <admin|read>:<sha256 hex>")
	}
	b, err := hex.DecodeString(hexSum)
	if err != nil || len(b) != len(sum) {
		return "", sum, fmt.Errorf("want <admin|read>:<sha256 hex>, the hash as 64 hex digits")
	}
	copy(sum[:], b)
	return scope, sum, nil
}

// loopbackAddr reports whether a listen address only accepts local
// connections.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// fieldPath turns validator's "Config.kafka.brokers[0]" into
// "kafka.brokers[0]".
func fieldPath(ns string) string {
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return ns
}

func describe(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "min":
		return fmt.Sprintf("needs at least %s (got %v)", fe.Param(), fe.Value())
	case "max", "lte":
		return fmt.Sprintf("must be at most %s (got %v)", fe.Param(), fe.Value())
	case "gt":
		return fmt.Sprintf("must be greater than %s (got %v)", fe.Param(), fe.Value())
	case "gte":
		return fmt.Sprintf("must be at least %s (got %v)", fe.Param(), fe.Value())
	case "oneof":
		return fmt.Sprintf("must be one of [%s] (got %q)", fe.Param(), fe.Value())
	case "hostname_port":
		return fmt.Sprintf("must be host:port (got %q)", fe.Value())
	case "url":
		return fmt.Sprintf("must be a URL (got %q)", fe.Value())
	case "cidr":
		return fmt.Sprintf("must be a CIDR such as 127.0.0.0/8 (got %q)", fe.Value())
	case "token":
		return "must be <admin|read>:<sha256 hex of the token> (make one with: hookstream token)"
	case "required_with":
		// The tag names the Go field beside it; the config calls it by its
		// YAML name, at the same depth.
		path := fieldPath(fe.Namespace())
		return fmt.Sprintf("is required with %s", path[:strings.LastIndexByte(path, '.')+1]+snakeCase(fe.Param()))
	case "excludesall":
		return fmt.Sprintf("must not contain any of %q (got %q)", fe.Param(), fe.Value())
	default:
		return fmt.Sprintf("failed %q (got %v)", fe.Tag(), fe.Value())
	}
}

// snakeCase turns a Go field name into its YAML name: CertFile is
// cert_file.
func snakeCase(name string) string {
	var b strings.Builder
	for i, r := range name {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func dedupe(in []string) []string {
	out := in[:0:0]
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
