package service

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/internal/testenv"
)

// TestStripeThroughTheGateway: a request stripe-go signs, sent to the
// gateway, is published to the input topic before its 200 and delivered
// to a subscription that filters on its Stripe event type.
func TestStripeThroughTheGateway(t *testing.T) {
	e := newEnv(t)
	e.cfg.Gateway.Addr = testenv.FreeAddr(t)
	in := e.start()
	if in.svc.GatewayAddr() == nil {
		t.Fatal("the gateway is not listening")
	}
	const secret = "whsec_service_gateway_test"
	if status, body := in.do(t, http.MethodPost, "/v1/sources", map[string]any{
		"id": "stripe", "name": "Stripe", "provider": "stripe", "secrets": []string{secret}}); status != http.StatusCreated {
		t.Fatalf("create source: %d %s", status, body)
	}
	rc := newReceiver(t)
	in.subscribe(t, rc, map[string]any{"name": "failed charges", "filter": map[string]any{
		"types": []string{"charge.failed"}, "sources": []string{"inbound/stripe"}}})
	payload := []byte(`{"id":"evt_3","type":"charge.failed","data":{"object":{"amount":4200}}}`)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret})
	req, _ := http.NewRequest(http.MethodPost, "http://"+in.svc.GatewayAddr().String()+"/in/stripe", bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("gateway answered %d", resp.StatusCode)
	}
	// Published before the answer: the record is on the input topic now.
	recs := e.readTopic(e.input)
	if len(recs) != 1 || !strings.Contains(string(recs[0].Value), `"source":"inbound/stripe"`) {
		t.Fatalf("input topic holds %d records", len(recs))
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return rc.deliveredCount() == 1 }, "the Stripe event was not delivered")
	if _, _, _, bad := rc.snapshot(); len(bad) > 0 {
		t.Errorf("receiver saw %v", bad)
	}
	if n := in.counter("hookstream_inbound_requests_total", "source", "stripe", "outcome", "published"); n != 1 {
		t.Errorf("inbound published counter %v, want 1", n)
	}
	// A tampered request, then the receipts: newest first.
	req, _ = http.NewRequest(http.MethodPost, "http://"+in.svc.GatewayAddr().String()+"/in/stripe", bytes.NewReader(append(payload, ' ')))
	req.Header.Set("Stripe-Signature", signed.Header)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("tampered: %v %v", resp.StatusCode, err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool {
		_, body := in.do(t, http.MethodGet, "/v1/sources/stripe/receipts", nil)
		var r struct {
			Data []gateway.Receipt
		}
		_ = json.Unmarshal(body, &r)
		return len(r.Data) == 2 && r.Data[0].Outcome == "bad_signature" && r.Data[1].Outcome == "published" && r.Data[1].DeliveryID == "evt_3"
	}, "the receipts do not show the two requests")
}
