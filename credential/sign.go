// Package credential holds what a delivery proves itself and its sender
// with: the Standard Webhooks signing keys a receiver verifies, and the
// credentials an endpoint asks for.
package credential

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The prefixes of Standard Webhooks keys.
const (
	// SecretPrefix starts a symmetric secret: HMAC-SHA256, signatures
	// "v1,…".
	SecretPrefix = "whsec_"
	// SigningKeyPrefix starts an ed25519 private key (its 32-byte seed):
	// signatures "v1a,…".
	SigningKeyPrefix = "whsk_"
	// PublicKeyPrefix starts the ed25519 public key receivers verify
	// "v1a" signatures with.
	PublicKeyPrefix = "whpk_"
)

// Sign returns the Standard Webhooks signature of body, "v1," followed by
// the base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under key.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	return string(AppendSignature(nil, key, id, timestamp, body))
}

// AppendSignature appends the "v1" signature of body to dst.
func AppendSignature(dst, key []byte, id string, timestamp int64, body []byte) []byte {
	return appendMAC(dst, hmac.New(sha256.New, key), id, timestamp, body)
}

// appendMAC appends the "v1" signature of body made with mac, an
// HMAC-SHA256 in its initial state.
func appendMAC(dst []byte, mac hash.Hash, id string, timestamp int64, body []byte) []byte {
	var m macState
	m.mac = mac
	return m.appendSignature(dst, id, timestamp, body)
}

// macState is an HMAC-SHA256 state and the scratch it signs with, kept in
// a key's pool.
type macState struct {
	mac     hash.Hash
	scratch []byte
	sum     [sha256.Size]byte
}

func (m *macState) appendSignature(dst []byte, id string, timestamp int64, body []byte) []byte {
	m.scratch = append(m.scratch[:0], id...)
	m.scratch = append(m.scratch, '.')
	m.scratch = strconv.AppendInt(m.scratch, timestamp, 10)
	m.scratch = append(m.scratch, '.')
	m.mac.Write(m.scratch)
	m.mac.Write(body)
	dst = append(dst, "v1,"...)
	return base64.StdEncoding.AppendEncode(dst, m.mac.Sum(m.sum[:0]))
}

// Key is a signing key: a "whsec_" HMAC secret or a "whsk_" ed25519
// private key.
type Key struct {
	hmac []byte
	macs *sync.Pool // of HMAC-SHA256 states under hmac: one per signature would allocate ten times
	ed   ed25519.PrivateKey
	pub  ed25519.PublicKey // of ed, or alone for a key that only verifies
}

// ParseKey reads a "whsec_" secret of 24 to 64 bytes or a "whsk_" ed25519
// seed of 32 bytes.
func ParseKey(secret string) (Key, error) {
	if raw, ok := strings.CutPrefix(secret, SigningKeyPrefix); ok {
		seed, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return Key{}, fmt.Errorf("is not %s followed by standard base64", SigningKeyPrefix)
		}
		if len(seed) != ed25519.SeedSize {
			return Key{}, fmt.Errorf("decodes to %d bytes; an ed25519 key is %d", len(seed), ed25519.SeedSize)
		}
		ed := ed25519.NewKeyFromSeed(seed)
		return Key{ed: ed, pub: ed.Public().(ed25519.PublicKey)}, nil
	}
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return Key{}, fmt.Errorf("must start with %q (or %q for ed25519)", SecretPrefix, SigningKeyPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return Key{}, fmt.Errorf("is not %s followed by standard base64", SecretPrefix)
	}
	if len(key) < 24 || len(key) > 64 {
		return Key{}, fmt.Errorf("decodes to %d bytes; it must be 24 to 64", len(key))
	}
	return Key{hmac: key, macs: &sync.Pool{New: func() any { return &macState{mac: hmac.New(sha256.New, key)} }}}, nil
}

// ParseVerifyingKey reads what a receiver verifies with: a "whsec_"
// secret, or a "whpk_" ed25519 public key (which cannot sign).
func ParseVerifyingKey(s string) (Key, error) {
	raw, ok := strings.CutPrefix(s, PublicKeyPrefix)
	if !ok {
		if strings.HasPrefix(s, SigningKeyPrefix) {
			return Key{}, fmt.Errorf("is a private %s key; give its %s public key", SigningKeyPrefix, PublicKeyPrefix)
		}
		return ParseKey(s)
	}
	pub, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return Key{}, fmt.Errorf("is not %s followed by the base64 of a %d-byte ed25519 public key", PublicKeyPrefix, ed25519.PublicKeySize)
	}
	return Key{pub: pub}, nil
}

// NewSecret returns a fresh "whsec_" secret of 32 random bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// NewSigningKey returns a fresh "whsk_" ed25519 key.
func NewSigningKey() string {
	seed := make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(seed)
	return SigningKeyPrefix + base64.StdEncoding.EncodeToString(seed)
}

// Asymmetric reports whether k is an ed25519 key.
func (k Key) Asymmetric() bool { return k.pub != nil }

// PublicKey is the "whpk_" key receivers verify k's signatures with,
// empty for an HMAC secret, which is its own verifier.
func (k Key) PublicKey() string {
	if k.pub == nil {
		return ""
	}
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(k.pub)
}

// appendSignature appends k's signature of "{id}.{timestamp}.{body}".
func (k Key) appendSignature(dst []byte, id string, timestamp int64, body []byte) []byte {
	if k.ed == nil {
		m := k.macs.Get().(*macState)
		m.mac.Reset()
		dst = m.appendSignature(dst, id, timestamp, body)
		k.macs.Put(m)
		return dst
	}
	dst = append(dst, "v1a,"...)
	return base64.StdEncoding.AppendEncode(dst, ed25519.Sign(k.ed, k.appendSignedContent(nil, id, timestamp, body)))
}

// appendSignedContent appends "{id}.{timestamp}.{body}", what is signed.
func (k Key) appendSignedContent(dst []byte, id string, timestamp int64, body []byte) []byte {
	dst = append(dst, id...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, timestamp, 10)
	dst = append(dst, '.')
	return append(dst, body...)
}

// Signer signs deliveries with a subscription's current key and with the
// rotated-out keys that have not expired.
type Signer struct {
	// Key is the current key.
	Key Key
	// Previous are rotated-out keys, each signing until it expires.
	Previous []ExpiringKey
}

// ExpiringKey is a signing key valid until ExpiresAt.
type ExpiringKey struct {
	Key       Key
	ExpiresAt time.Time
}

// Signatures returns the webhook-signature header of body sent at now:
// the current key's signature and every unexpired previous key's,
// space-separated as Standard Webhooks allows, so that a receiver holding
// either key can verify during a rotation.
func (s *Signer) Signatures(id string, now time.Time, body []byte) string {
	ts := now.Unix()
	sig := s.Key.appendSignature(make([]byte, 0, 48*(1+len(s.Previous))), id, ts, body)
	for _, p := range s.Previous {
		if p.ExpiresAt.After(now) {
			sig = append(sig, ' ')
			sig = p.Key.appendSignature(sig, id, ts, body)
		}
	}
	return string(sig)
}

// Verify reports whether header, a webhook-signature of body sent under
// id at timestamp, holds a signature of k: an HMAC secret checks "v1"
// signatures, an ed25519 key "v1a" ones. Comparisons take constant time.
func (k Key) Verify(id string, timestamp int64, body []byte, header string) bool {
	var want []byte
	if k.pub == nil {
		want = AppendSignature(nil, k.hmac, id, timestamp, body)
	}
	ok := false
	for _, sig := range strings.Fields(header) {
		switch {
		case k.pub == nil && strings.HasPrefix(sig, "v1,"):
			ok = hmac.Equal([]byte(sig), want) || ok
		case k.pub != nil && strings.HasPrefix(sig, "v1a,"):
			raw, err := base64.StdEncoding.DecodeString(sig[len("v1a,"):])
			if err != nil {
				continue
			}
			ok = ed25519.Verify(k.pub, k.appendSignedContent(nil, id, timestamp, body), raw) || ok
		}
	}
	return ok
}
