package service

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/retry"
)

// getJSON GETs path from the admin API and decodes a 200 answer into v.
func (in *instance) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	status, body := in.do(t, http.MethodGet, path, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// TestAttemptsAndStats: a delivery answered 503, 503, 200 shows as three
// attempts, newest first, each with its rung and where it went next, and
// in the totals of GET /v1/stats.
func TestAttemptsAndStats(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	rc := newReceiver(t)
	rc.respond = failFirst(2)
	sub := in.subscribe(t, rc, map[string]any{"name": "flaky"})
	id := sub["id"].(string)
	e.publish(logEvent(1, `"level":"error"`))

	type attempt struct {
		WebhookID string `json:"webhook_id"`
		Attempt   int    `json:"attempt"`
		Rung      string `json:"rung"`
		Outcome   string `json:"outcome"`
		Reason    string `json:"reason"`
		Status    int    `json:"status"`
		Next      string `json:"next"`
	}
	var got struct{ Data []attempt }
	testenv.Eventually(t, 20*time.Second, func() bool {
		got.Data = nil
		in.getJSON(t, "/v1/subscriptions/"+id+"/attempts", &got)
		return len(got.Data) == 3
	}, "attempts not recorded")
	want := []attempt{
		{Attempt: 3, Rung: "200ms", Outcome: "delivered", Reason: "ok", Status: 200},
		{Attempt: 2, Rung: "100ms", Outcome: "retryable", Reason: "http_5xx", Status: 503, Next: "retry:200ms"},
		{Attempt: 1, Rung: "", Outcome: "retryable", Reason: "http_5xx", Status: 503, Next: "retry:100ms"},
	}
	for i, w := range want {
		g := got.Data[i]
		if g.WebhookID != got.Data[0].WebhookID || g.WebhookID == "" {
			t.Errorf("attempt %d has webhook-id %q, want one id for all", i, g.WebhookID)
		}
		g.WebhookID = ""
		if g != w {
			t.Errorf("attempt %d = %+v, want %+v", i, g, w)
		}
	}

	var stats struct {
		Totals struct {
			Attempts, Delivered, Failed, Retried, DeadLettered int
			SuccessRate                                        float64 `json:"success_rate"`
		}
		Subscriptions []struct {
			ID          string
			Attempts    int
			SuccessRate float64 `json:"success_rate"`
		}
		Rungs []struct {
			Rung    string
			Backlog int64
		}
		DLQ struct {
			Topic   string
			Records int64
		}
	}
	in.getJSON(t, "/v1/stats", &stats)
	if stats.Totals.Attempts != 3 || stats.Totals.Delivered != 1 || stats.Totals.Failed != 2 || stats.Totals.Retried != 2 {
		t.Errorf("totals = %+v, want 3 attempts, 1 delivered, 2 failed, 2 retried", stats.Totals)
	}
	if len(stats.Subscriptions) != 1 || stats.Subscriptions[0].ID != id || stats.Subscriptions[0].SuccessRate != 1.0/3 {
		t.Errorf("subscriptions = %+v, want %s at a success rate of 1/3", stats.Subscriptions, id)
	}
	if len(stats.Rungs) != 4 || stats.Rungs[0].Rung != "100ms" {
		t.Errorf("rungs = %+v, want the 4 rungs", stats.Rungs)
	}
	if stats.DLQ.Topic != e.cfg.DLQTopic() || stats.DLQ.Records != 0 {
		t.Errorf("dlq = %+v, want %s empty", stats.DLQ, e.cfg.DLQTopic())
	}

	// Deleting the subscription deletes its history.
	if status, body := in.do(t, http.MethodDelete, "/v1/subscriptions/"+id, nil); status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", status, body)
	}
	if status, _ := in.do(t, http.MethodGet, "/v1/subscriptions/"+id+"/attempts", nil); status != http.StatusNotFound {
		t.Errorf("attempts of a deleted subscription: %d, want 404", status)
	}
}

// TestDLQListAndReplay: deliveries refused with 400 land in the DLQ with
// a poison record beside them; the API lists them with their reasons,
// and a replay after the endpoint is fixed delivers each once more under
// its original webhook-id, starting again from attempt 1.
func TestDLQListAndReplay(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	rc := newReceiver(t)
	var fixed atomic.Bool
	rc.respond = func(string, int) int {
		if fixed.Load() {
			return http.StatusOK
		}
		return http.StatusBadRequest
	}
	sub := in.subscribe(t, rc, map[string]any{"name": "strict"})
	id := sub["id"].(string)
	e.publish(logEvent(1, `"level":"error"`), []byte("{not json"), logEvent(2, `"level":"error"`))
	testenv.Eventually(t, 10*time.Second, func() bool { return len(e.readTopic(e.cfg.DLQTopic())) == 3 }, "DLQ not written")

	type record struct {
		ID, Kind, Subscription, Reason string
		WebhookID                      string `json:"webhook_id"`
		Attempts                       int
		Value                          string
		Headers                        map[string]string
	}
	var page struct {
		Data []record
		Next string `json:"next_cursor"`
	}
	in.getJSON(t, "/v1/dlq?subscription="+id, &page)
	if len(page.Data) != 2 {
		t.Fatalf("DLQ of %s lists %d records, want 2: %+v", id, len(page.Data), page.Data)
	}
	webhookIDs := map[string]bool{}
	for _, r := range page.Data {
		if r.Kind != "delivery" || r.Reason != "permanent:http_4xx" || r.Attempts != 1 || r.Headers[retry.HeaderSubscription] != id {
			t.Errorf("record %+v", r)
		}
		webhookIDs[r.WebhookID] = true
	}
	// Paging one at a time finds the same records and the poison one.
	var all []record
	cursor := ""
	for range 5 {
		var page struct {
			Data []record
			Next string `json:"next_cursor"`
		}
		in.getJSON(t, "/v1/dlq?limit=1&cursor="+url.QueryEscape(cursor), &page)
		all = append(all, page.Data...)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	kinds := map[string]int{}
	for _, r := range all {
		kinds[r.Kind]++
		if r.Kind == "poison" && (r.Value != "{not json" || r.Reason != "poison:invalid_json") {
			t.Errorf("poison record = %+v", r)
		}
	}
	if len(all) != 3 || kinds["poison"] != 1 || kinds["delivery"] != 2 {
		t.Errorf("paged listing = %+v, want 2 deliveries and 1 poison record", all)
	}
	// A time range after everything selects nothing.
	var later struct{ Data []record }
	in.getJSON(t, "/v1/dlq?since="+url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)), &later)
	if len(later.Data) != 0 {
		t.Errorf("since an hour from now: %d records", len(later.Data))
	}

	// Replaying everything without saying so is refused.
	if status, _ := in.do(t, http.MethodPost, "/v1/dlq/replay", map[string]any{}); status != http.StatusUnprocessableEntity {
		t.Errorf("replay with no selection: %d, want 422", status)
	}
	var dry struct {
		Matched, Replayed int
		SkippedPoison     int `json:"skipped_poison"`
	}
	status, body := in.do(t, http.MethodPost, "/v1/dlq/replay", map[string]any{"all": true, "dry_run": true})
	if err := json.Unmarshal(body, &dry); status != http.StatusOK || err != nil || dry.Matched != 3 || dry.Replayed != 0 || dry.SkippedPoison != 1 {
		t.Errorf("dry run: %d %s", status, body)
	}

	fixed.Store(true)
	var res struct{ Matched, Replayed int }
	status, body = in.do(t, http.MethodPost, "/v1/dlq/replay", map[string]any{"subscription": id})
	if err := json.Unmarshal(body, &res); status != http.StatusOK || err != nil || res.Replayed != 2 {
		t.Fatalf("replay: %d %s", status, body)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return rc.deliveredCount() == 2 }, "replayed deliveries did not arrive")
	attempts, delivered, _, bad := rc.snapshot()
	if len(bad) > 0 {
		t.Fatal(bad)
	}
	for wid := range delivered {
		if !webhookIDs[wid] || attempts[wid] != 2 {
			t.Errorf("delivered %s after %d requests; want one of the DLQ's webhook-ids, on its second request", wid, attempts[wid])
		}
	}
	// The replayed job started again from attempt 1.
	var hist struct {
		Data []struct {
			Attempt int
			Rung    string
			Outcome string
		}
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		hist.Data = nil
		in.getJSON(t, "/v1/subscriptions/"+id+"/attempts", &hist)
		return len(hist.Data) == 4
	}, "replayed attempts not recorded")
	if h := hist.Data[0]; h.Attempt != 1 || h.Rung != "100ms" || h.Outcome != "delivered" {
		t.Errorf("newest attempt = %+v, want attempt 1 from the first rung, delivered", h)
	}
}

// TestOperationsRejectBadInput: every bad query or body of the history
// and DLQ routes gets a 4xx problem naming the field.
func TestOperationsRejectBadInput(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	sub := in.createSub(t, map[string]any{"name": "x", "url": "http://127.0.0.1:1/hook"})
	id := sub["id"].(string)
	tests := []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"attempts limit", http.MethodGet, "/v1/subscriptions/" + id + "/attempts?limit=0", nil, 400, "limit"},
		{"attempts of nothing", http.MethodGet, "/v1/subscriptions/nope/attempts", nil, 404, ""},
		{"dlq since", http.MethodGet, "/v1/dlq?since=yesterday", nil, 400, "since"},
		{"dlq limit", http.MethodGet, "/v1/dlq?limit=5000", nil, 400, "limit"},
		{"dlq cursor", http.MethodGet, "/v1/dlq?cursor=bm9wZQ", nil, 400, "cursor"},
		{"replay id", http.MethodPost, "/v1/dlq/replay", map[string]any{"ids": []string{"0-1", "x"}}, 422, "ids[1]"},
		{"replay nothing", http.MethodPost, "/v1/dlq/replay", map[string]any{}, 422, "all"},
		{"replay unknown field", http.MethodPost, "/v1/dlq/replay", map[string]any{"everything": true}, 400, ""},
		{"replay since", http.MethodPost, "/v1/dlq/replay", `{"since":"soon"}`, 422, "since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := in.do(t, tt.method, tt.path, tt.body)
			var p struct {
				Status int
				Errors []struct{ Field string }
			}
			if err := json.Unmarshal(body, &p); err != nil || status != tt.status || p.Status != tt.status {
				t.Fatalf("%s %s: %d %s, want a %d problem", tt.method, tt.path, status, body, tt.status)
			}
			if tt.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.field) {
				t.Errorf("errors = %+v, want field %q", p.Errors, tt.field)
			}
		})
	}
}
