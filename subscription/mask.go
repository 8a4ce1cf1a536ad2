package subscription

import (
	"slices"
	"strings"

	"github.com/hookstream/hookstream/credential"
)

// Masked returns a copy fit to show: its secrets, custom header values
// and the values of its URL's query show only their first characters.
// Every answer of the admin API is masked, whatever the token's scope.
func (s Subscription) Masked() Subscription {
	if k, err := credential.ParseKey(s.Secret); err == nil {
		s.PublicKey = k.PublicKey()
	}
	s.Secret = MaskSecret(s.Secret)
	prev := make([]PreviousSecret, len(s.PreviousSecrets))
	for i, p := range s.PreviousSecrets {
		prev[i] = PreviousSecret{Secret: MaskSecret(p.Secret), ExpiresAt: p.ExpiresAt}
	}
	if len(prev) > 0 {
		s.PreviousSecrets = prev
	}
	s.Headers = maskValues(s.Headers)
	s.URL = MaskURL(s.URL)
	s.Payload.RoutingKey = MaskValue(s.Payload.RoutingKey)
	s.Payload.Headers = maskValues(s.Payload.Headers)
	if s.Auth != nil {
		a := *s.Auth
		for _, secret := range a.Secrets() {
			*secret = MaskValue(*secret)
		}
		s.Auth = &a
	}
	return s
}

// maskValues masks every value of m.
func maskValues(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = MaskValue(v)
	}
	return out
}

// unmaskValues returns m with every value that is still cur's masked
// value put back to cur's.
func unmaskValues(m, cur map[string]string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if old, ok := cur[k]; ok && v != old && v == MaskValue(old) {
			if out == nil {
				out = make(map[string]string, len(m))
				for k, v := range m {
					out[k] = v
				}
			}
			out[k] = old
		}
	}
	if out == nil {
		return m
	}
	return out
}

// Unmasked returns s, a change of cur written from a masked copy of it,
// with every value that is still cur's masked value put back to cur's:
// a client that reads a subscription, changes its name and writes it
// back keeps its credentials.
func (s Subscription) Unmasked(cur Subscription) Subscription {
	if s.URL != cur.URL && s.URL == MaskURL(cur.URL) {
		s.URL = cur.URL
	}
	if s.Secret != cur.Secret && s.Secret == MaskSecret(cur.Secret) {
		s.Secret = cur.Secret
	}
	s.Headers = unmaskValues(s.Headers, cur.Headers)
	s.Payload.Headers = unmaskValues(s.Payload.Headers, cur.Payload.Headers)
	if k := cur.Payload.RoutingKey; s.Payload.RoutingKey != k && s.Payload.RoutingKey == MaskValue(k) {
		s.Payload.RoutingKey = k
	}
	if s.Auth != nil && cur.Auth != nil && s.Auth.Type == cur.Auth.Type {
		a := *s.Auth
		mine, theirs := a.Secrets(), cur.Auth.Secrets()
		for i := range mine {
			if *mine[i] != *theirs[i] && *mine[i] == MaskValue(*theirs[i]) {
				*mine[i] = *theirs[i]
			}
		}
		s.Auth = &a
	}
	return s
}

// MaskSecret hides all of a signing key but its prefix ("whsec_" or
// "whsk_") and first four characters.
func MaskSecret(secret string) string {
	if secret == "" {
		return ""
	}
	prefix := SecretPrefix
	if strings.HasPrefix(secret, credential.SigningKeyPrefix) {
		prefix = credential.SigningKeyPrefix
	}
	raw := strings.TrimPrefix(secret, prefix)
	if len(raw) > 4 {
		raw = raw[:4]
	}
	return prefix + raw + "…"
}

// MaskValue hides a value that may be a credential: a value of more than
// eight bytes keeps its first four ("Bearer abc…" shows "Bear…"), a
// shorter one nothing.
func MaskValue(v string) string {
	if v == "" {
		return ""
	}
	if len(v) > 8 {
		return head(v, 4) + "…"
	}
	return "…"
}

// MaskURL hides the values of a URL's query and its fragment, which may
// carry tokens: "https://x/hook?token=abc" shows "https://x/hook?token=…".
func MaskURL(raw string) string {
	base, frag, hasFrag := strings.Cut(raw, "#")
	base, query, hasQuery := strings.Cut(base, "?")
	if !hasQuery && !hasFrag {
		return raw
	}
	var b strings.Builder
	b.WriteString(base)
	if hasQuery {
		b.WriteByte('?')
		for i, pair := range strings.Split(query, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			key, _, _ := strings.Cut(pair, "=")
			b.WriteString(key)
			b.WriteString("=…")
		}
	}
	if hasFrag && frag != "" {
		b.WriteString("#…")
	}
	return b.String()
}

// Secrets lists the values of s that must never be shown: its custom
// header values, its payload's secrets and its credential's, longest
// first, so that one inside another is masked whole.
func (s Subscription) Secrets() []string {
	var out []string
	for _, v := range s.Headers {
		out = append(out, v)
	}
	for _, v := range s.Payload.Headers {
		out = append(out, v)
	}
	out = append(out, s.Payload.RoutingKey)
	if s.Auth != nil {
		for _, v := range s.Auth.Secrets() {
			out = append(out, *v)
		}
	}
	out = slices.DeleteFunc(out, func(v string) bool { return len(v) < 4 })
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// MaskIn masks every one of secrets found in text.
func MaskIn(text string, secrets []string) string {
	for _, v := range secrets {
		text = strings.ReplaceAll(text, v, MaskValue(v))
	}
	return text
}
