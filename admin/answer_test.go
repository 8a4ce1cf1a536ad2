package admin

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hookstream/hookstream/subscription"
)

// BenchmarkWriteJSON writes a page of 100 subscriptions as the list
// answers it.
func BenchmarkWriteJSON(b *testing.B) {
	page := make([]subscription.Subscription, 100)
	for i := range page {
		page[i] = subscription.Subscription{ID: fmt.Sprintf("sub_%07d", i), Name: fmt.Sprintf("bench %d", i),
			URL: fmt.Sprintf("https://hooks.example.com/in/%d", i), Enabled: true, Secret: "whsec_MfKQ…",
			MaxAttempts: 5, Timeout: subscription.Duration(10 * time.Second), CreatedAt: time.Now(), UpdatedAt: time.Now(),
			Filter: subscription.Filter{Types: []string{fmt.Sprintf("type.%d", i%1000)}, Levels: []string{"error"},
				Sources: []string{fmt.Sprintf("svc-%d", i%100)},
				Where:   []subscription.Predicate{{Path: "metadata.amount", Op: subscription.OpGte, Value: float64(i % 500)}}}}
	}
	answer := map[string]any{"data": page}
	b.ReportAllocs()
	for b.Loop() {
		writeJSON(httptest.NewRecorder(), 200, answer)
	}
}

// TestWriteJSON: an answer is indented JSON with its length, the same
// when its encoder is used again.
func TestWriteJSON(t *testing.T) {
	for _, v := range []any{map[string]any{"data": []int{1, 2}}, map[string]string{"a": "<b>"}, map[string]any{"data": []int{3}}} {
		w := httptest.NewRecorder()
		writeJSON(w, 201, v)
		want, _ := json.MarshalIndent(v, "", "  ")
		want = append(want, '\n')
		if w.Code != 201 || w.Body.String() != string(want) || w.Header().Get("Content-Length") != fmt.Sprint(len(want)) ||
			w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("writeJSON(%v) = %d %q (length %s), want 201 %q", v, w.Code, w.Body, w.Header().Get("Content-Length"), want)
		}
	}
	w := httptest.NewRecorder()
	writeJSON(w, 200, map[string]any{"f": func() {}})
	if w.Code != 500 || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Errorf("an answer that cannot be encoded: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
}
