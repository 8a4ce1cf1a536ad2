package embedded

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/hookstream/hookstream/credential"
)

func TestInboxChecksEverySignatureScheme(t *testing.T) {
	hmacSecret, edKey, other := credential.NewSecret(), credential.NewSigningKey(), credential.NewSecret()
	keys := func(secrets ...string) []credential.Key {
		var out []credential.Key
		for _, s := range secrets {
			k, err := credential.ParseKey(s)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, k)
		}
		return out
	}
	var logs bytes.Buffer
	in := &Inbox{Keys: func(*http.Request) []credential.Key { return keys(hmacSecret, edKey) }, Logger: zerolog.New(&logs)}
	now := time.Now()
	tests := []struct {
		name, signedWith, want string
	}{
		{"v1", hmacSecret, `"signature":"ok"`},
		{"v1a", edKey, `"signature":"ok"`},
		{"another subscription's key", other, `"signature":"unknown key"`},
		{"unsigned", "", `"signature":"none"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			body := `{"text":"disk <full> & \"hot\""}`
			r := httptest.NewRequest(http.MethodPost, "/slack", strings.NewReader(body))
			r.Header.Set("webhook-id", "msg_1")
			r.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
			if tt.signedWith != "" {
				s := credential.Signer{Key: keys(tt.signedWith)[0]}
				r.Header.Set("webhook-signature", s.Signatures("msg_1", now, []byte(body)))
			}
			w := httptest.NewRecorder()
			in.ServeHTTP(w, r)
			if w.Code != http.StatusNoContent || !strings.Contains(logs.String(), tt.want) ||
				!strings.Contains(logs.String(), `"path":"/slack"`) || !strings.Contains(logs.String(), `"body":{"text":"disk <full> & \"hot\""}`) {
				t.Errorf("%d, logged %s; want %s", w.Code, logs.String(), tt.want)
			}
		})
	}
}
