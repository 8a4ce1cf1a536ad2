package service

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/retry"
)

// TestGoneDisablesAndTells: an endpoint that answers 410 Gone has its
// subscription disabled at once, visibly, with its delivery in the DLQ
// for reason gone; the system event reaches the subscription that routes
// it; enabling the subscription again clears the state and delivers.
func TestGoneDisablesAndTells(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	gone := newReceiver(t)
	gone.respond = func(string, int) int { return http.StatusGone }
	sub := in.subscribe(t, gone, map[string]any{"name": "orders", "filter": map[string]any{"types": []string{"order.created"}}})
	id := sub["id"].(string)
	oncall := newReceiver(t)
	in.subscribe(t, oncall, map[string]any{"name": "on-call",
		"filter": map[string]any{"types": []string{"hookstream.subscription.disabled"}, "sources": []string{"hookstream"}}})

	e.publish(logEvent(1, `"type":"order.created"`))
	var got map[string]any
	testenv.Eventually(t, 10*time.Second, func() bool {
		got = nil
		in.getJSON(t, "/v1/subscriptions/"+id, &got)
		return got["enabled"] == false
	}, "subscription not disabled after a 410")
	if got["disabled_reason"] != "gone" || got["disabled_at"] == nil {
		t.Errorf("disabled subscription shows reason %v at %v", got["disabled_reason"], got["disabled_at"])
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return len(e.readTopic(e.cfg.DLQTopic())) == 1 }, "no DLQ record")
	if reason := header(e.readTopic(e.cfg.DLQTopic())[0], retry.HeaderReason); reason != "gone" {
		t.Errorf("DLQ reason %q, want gone", reason)
	}
	if n := in.counter("hookstream_subscriptions_disabled_total", "reason", "gone"); n != 1 {
		t.Errorf("subscriptions_disabled_total{gone} = %v", n)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return oncall.deliveredCount() == 1 }, "system event not delivered")
	_, _, _, bad := oncall.snapshot()
	if len(bad) > 0 {
		t.Fatal(bad)
	}

	// Enabled again: the state is cleared and deliveries flow.
	gone.mu.Lock()
	gone.respond = nil
	gone.mu.Unlock()
	status, body := in.do(t, http.MethodPatch, "/v1/subscriptions/"+id, map[string]any{"enabled": true})
	if status != http.StatusOK {
		t.Fatalf("PATCH enabled: %d %s", status, body)
	}
	var back map[string]any
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatal(err)
	}
	if back["enabled"] != true || back["disabled_reason"] != nil || back["disabled_at"] != nil {
		t.Errorf("re-enabled subscription %s", body)
	}
	e.publish(logEvent(2, `"type":"order.created"`))
	testenv.Eventually(t, 10*time.Second, func() bool { return gone.deliveredCount() == 1 }, "no delivery after re-enabling")
	if strings.Contains(string(body), "secret\":\"whsec_") {
		t.Error("PATCH answer shows the secret")
	}
}
