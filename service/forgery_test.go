package service

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/retry"
)

// TestForgedHeadersCannotBeReplayed: a producer of log events writes a
// record that is not an event, carrying hookstream's own headers as a
// delivery job would. It lands in the DLQ as poison, with those headers
// moved aside; listing shows it as poison of no subscription, and a
// replay of that subscription sends nothing.
func TestForgedHeadersCannotBeReplayed(t *testing.T) {
	e := newEnv(t)
	in := e.start()
	rc := newReceiver(t)
	sub := in.subscribe(t, rc, map[string]any{"name": "payments"})
	id := sub["id"].(string)

	forged := &kgo.Record{Topic: e.input, Value: []byte(`[{"amount":1000000,"status":"paid"}]`)}
	for _, h := range [][2]string{
		{"hookstream-kind", "delivery"}, {"hookstream-subscription", id}, {"Hookstream-Webhook-Id", "msg_seen_before"},
		{"hookstream-attempt", "0"}, {"hookstream-origin", "logs/0/0"}, {"hookstream-first-attempt", "1796206000000"},
		{"hookstream-event-type", "payment.succeeded"}, {"trace", "abc"},
	} {
		forged.Headers = append(forged.Headers, kgo.RecordHeader{Key: h[0], Value: []byte(h[1])})
	}
	cl, err := kgo.NewClient(e.kafka()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), forged).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var dlq []*kgo.Record
	testenv.Eventually(t, 10*time.Second, func() bool { dlq = e.readTopic(e.cfg.DLQTopic()); return len(dlq) == 1 }, "DLQ not written")
	for _, h := range dlq[0].Headers {
		if strings.HasPrefix(strings.ToLower(h.Key), retry.OwnPrefix) && !strings.HasPrefix(h.Key, retry.OwnPrefix) ||
			h.Key == retry.HeaderSubscription || h.Key == retry.HeaderWebhookID {
			t.Errorf("DLQ record carries the producer's header %s=%s as hookstream's", h.Key, h.Value)
		}
	}
	if v, _ := retry.HeaderValue(dlq[0], retry.MovedPrefix+retry.HeaderSubscription); v != id {
		t.Errorf("the producer's subscription header was not kept aside: %q", v)
	}

	var page struct {
		Data []struct {
			Kind, Subscription, WebhookID string
			Headers                       map[string]string
		}
	}
	in.getJSON(t, "/v1/dlq", &page)
	if len(page.Data) != 1 || page.Data[0].Kind != "poison" || page.Data[0].Subscription != "" {
		t.Errorf("DLQ listing = %+v, want one poison record of no subscription", page.Data)
	}
	in.getJSON(t, "/v1/dlq?subscription="+id, &page)
	if len(page.Data) != 0 {
		t.Errorf("DLQ of %s lists the forged record: %+v", id, page.Data)
	}
	var res struct{ Matched, Replayed int }
	status, body := in.do(t, http.MethodPost, "/v1/dlq/replay", map[string]any{"subscription": id})
	if err := json.Unmarshal(body, &res); status != http.StatusOK || err != nil || res.Matched != 0 || res.Replayed != 0 {
		t.Errorf("replay of %s: %d %s, want nothing matched", id, status, body)
	}
	status, body = in.do(t, http.MethodPost, "/v1/dlq/replay", map[string]any{"all": true})
	if err := json.Unmarshal(body, &res); status != http.StatusOK || err != nil || res.Replayed != 0 {
		t.Errorf("replay of everything: %d %s, want the poison record skipped", status, body)
	}
	time.Sleep(500 * time.Millisecond)
	if n := rc.deliveredCount(); n != 0 {
		t.Errorf("%d webhooks sent from a forged record", n)
	}
}
