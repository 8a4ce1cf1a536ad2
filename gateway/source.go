package gateway

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/internal/fields"
)

// Source is one sender of webhooks, as stored and written through the
// admin API: where it posts (/in/{id}), how its requests are verified and
// where they are published.
type Source struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Provider string `json:"provider"`
	// Secrets verify requests: the signing secret (or, for basic,
	// "user:password"; for api_key, the key), and during a rotation the
	// next one too. Shown masked.
	Secrets []string `json:"secrets,omitempty"`
	// Topic is where requests are published; empty: the first input topic.
	Topic string `json:"topic,omitempty"`
	// Tolerance bounds the age of a timestamped signature. Default 5m.
	Tolerance Duration `json:"tolerance,omitempty"`
	// AllowIPs are the CIDRs requests may come from; empty: any.
	AllowIPs []string `json:"allow_ips,omitempty"`
	// RateLimit paces the requests accepted; beyond it they get 429.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// MaxBodyBytes caps a request's body. Default 1 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// DedupWindow is how long a delivery id is remembered. Default 24h.
	DedupWindow Duration `json:"dedup_window,omitempty"`
	// DedupHeader or DedupPath (a JSON path in the body) give the delivery
	// id of a provider that has no id of its own.
	DedupHeader string `json:"dedup_header,omitempty"`
	DedupPath   string `json:"dedup_path,omitempty"`
	Enabled     bool   `json:"enabled"`

	// The options of provider hmac.
	SignatureHeader string `json:"signature_header,omitempty"`
	Algorithm       string `json:"algorithm,omitempty"` // sha1, sha256 (default) or sha512
	Encoding        string `json:"encoding,omitempty"`  // hex (default) or base64
	Prefix          string `json:"prefix,omitempty"`    // before the signature, such as "sha256="
	TimestampHeader string `json:"timestamp_header,omitempty"`
	Separator       string `json:"separator,omitempty"` // between timestamp and body; default "."
	// The options of provider api_key: where the key is sent.
	KeyHeader string `json:"key_header,omitempty"`
	KeyQuery  string `json:"key_query,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// RateLimit is a pace: PerSecond requests on average, at most Burst at
// once.
type RateLimit struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst"`
}

// Duration is a time.Duration written in JSON as "10s".
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"5m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Defaults of a source.
const (
	DefaultTolerance    = 5 * time.Minute
	DefaultMaxBodyBytes = 1 << 20
	DefaultDedupWindow  = 24 * time.Hour
)

// WithDefaults fills in what s leaves out.
func (s Source) WithDefaults() Source {
	if s.Tolerance == 0 {
		s.Tolerance = Duration(DefaultTolerance)
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.DedupWindow == 0 {
		s.DedupWindow = Duration(DefaultDedupWindow)
	}
	return s
}

// NewID returns a fresh source id.
func NewID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "src_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// NewSecret returns a fresh secret for a provider whose secret hookstream
// may choose (standard, hmac, api_key): "whsec_" and 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// checker collects a compile's errors.
type checker struct{ errs fields.Errors }

func (c *checker) fail(field, format string, args ...any) { c.errs.Add(field, format, args...) }

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Compiled is a checked source ready to verify requests.
type Compiled struct {
	Source
	verifier  verifier
	allow     []netip.Prefix
	dedupPath *event.Path // DedupPath, compiled
}

// MaxSecrets is how many secrets a source holds at once: the current one
// and the next, during a rotation.
const MaxSecrets = 2

// Compile checks s (with its defaults) and prepares it; the error, a
// *fields.Errors, names every bad field.
func Compile(s Source) (*Compiled, error) {
	s = s.WithDefaults()
	c := &checker{errs: fields.Errors{What: "source"}}
	if !idPattern.MatchString(s.ID) {
		c.fail("id", "must be 1 to 64 letters, digits, '_', '.' or '-'")
	}
	if strings.TrimSpace(s.Name) == "" || len(s.Name) > 200 {
		c.fail("name", "is required, at most 200 characters")
	}
	p, ok := providers[s.Provider]
	if !ok {
		c.fail("provider", "must be one of %v (got %q)", Providers(), s.Provider)
	}
	for _, opt := range s.options() {
		if !slices.Contains(p.options, opt) {
			c.fail(opt, "is not an option of provider %s", s.Provider)
		}
	}
	if len(s.Secrets) > MaxSecrets {
		c.fail("secrets", "holds %d; at most %d (the current one and the next)", len(s.Secrets), MaxSecrets)
	}
	for i, sec := range s.Secrets {
		if sec == "" || strings.ContainsFunc(sec, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			c.fail(fmt.Sprintf("secrets[%d]", i), "must be non-empty, without control characters")
		}
	}
	if d := time.Duration(s.Tolerance); d < time.Second || d > 24*time.Hour {
		c.fail("tolerance", "must be 1s to 24h (got %s)", d)
	}
	if s.MaxBodyBytes < 1 || s.MaxBodyBytes > 32<<20 {
		c.fail("max_body_bytes", "must be 1 to 33554432 (got %d)", s.MaxBodyBytes)
	}
	if d := time.Duration(s.DedupWindow); d < time.Second || d > 30*24*time.Hour {
		c.fail("dedup_window", "must be 1s to 720h (got %s)", d)
	}
	if s.DedupHeader != "" && !httpguts.ValidHeaderFieldName(s.DedupHeader) {
		c.fail("dedup_header", "is not a valid HTTP header name")
	}
	var dedupPath *event.Path
	if s.DedupPath != "" {
		if p, err := event.ParsePath(s.DedupPath); err != nil {
			c.fail("dedup_path", "%v", err)
		} else {
			dedupPath = &p
		}
	}
	if r := s.RateLimit; r != nil {
		if !(r.PerSecond > 0 && r.PerSecond <= 1e6) {
			c.fail("rate_limit.per_second", "must be above 0 and at most 1000000 (got %v)", r.PerSecond)
		}
		if r.Burst < 1 || r.Burst > 1e6 {
			c.fail("rate_limit.burst", "must be 1 to 1000000 (got %d)", r.Burst)
		}
	}
	out := &Compiled{Source: s, dedupPath: dedupPath}
	for i, cidr := range s.AllowIPs {
		pfx, err := netip.ParsePrefix(cidr)
		if err != nil {
			if addr, aerr := netip.ParseAddr(cidr); aerr == nil {
				pfx = netip.PrefixFrom(addr, addr.BitLen())
			} else {
				c.fail(fmt.Sprintf("allow_ips[%d]", i), "is not a CIDR or an address: %v", err)
				continue
			}
		}
		out.allow = append(out.allow, pfx.Masked())
	}
	if ok && len(c.errs.List) == 0 {
		out.verifier = p.compile(&out.Source, c)
	}
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// options lists the provider options s sets, by their JSON names.
func (s *Source) options() []string {
	var out []string
	for _, o := range []struct {
		name string
		set  bool
	}{
		{"signature_header", s.SignatureHeader != ""}, {"algorithm", s.Algorithm != ""}, {"encoding", s.Encoding != ""},
		{"prefix", s.Prefix != ""}, {"timestamp_header", s.TimestampHeader != ""}, {"separator", s.Separator != ""},
		{"key_header", s.KeyHeader != ""}, {"key_query", s.KeyQuery != ""},
	} {
		if o.set {
			out = append(out, o.name)
		}
	}
	return out
}

// requireSecrets fails a source of a provider that verifies with a secret
// and has none.
func (c *checker) requireSecrets(s *Source) {
	if len(s.Secrets) == 0 {
		c.fail("secrets", "provider %s verifies with a secret; give one", s.Provider)
	}
}

// Allowed reports whether a request from addr may be taken.
func (c *Compiled) Allowed(addr netip.Addr) bool {
	if len(c.allow) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range c.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Verify checks r with the source's provider.
func (c *Compiled) Verify(r *Request) (Verified, *Refusal) { return c.verifier.verify(r) }

// Masked returns a copy fit to show: each secret shows its first four
// characters (after a "whsec_" prefix) only.
func (s Source) Masked() Source {
	if len(s.Secrets) > 0 {
		masked := make([]string, len(s.Secrets))
		for i, sec := range s.Secrets {
			masked[i] = maskSecret(sec)
		}
		s.Secrets = masked
	}
	return s
}

func maskSecret(s string) string {
	prefix := ""
	if p, rest, ok := strings.Cut(s, "_"); ok && len(p) <= 6 && len(rest) > 8 {
		prefix, s = p+"_", rest
	}
	if len(s) > 8 {
		return prefix + s[:4] + "…"
	}
	return prefix + "…"
}
