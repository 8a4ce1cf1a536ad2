//go:build faults

package reliability

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/internal/testenv"
	"github.com/hookstream/hookstream/retry"
)

// TestHostileInput sends poison records between good events on one
// partition: each lands in the DLQ with its reason, and the good events
// behind them are delivered.
func TestHostileInput(t *testing.T) {
	s := newSetup(t, 1)
	p := s.start("hostile")
	rc := newReceiver(t)
	id, secret := p.subscribe(t, `{"name":"all","url":"`+rc.srv.URL+`","filter":{"types":["match"]}}`)
	rc.trust(id, secret)

	hostile := []struct {
		name, reason string
		value        []byte
	}{
		{"invalid JSON", "invalid_json", []byte(`{"type":"match",`)},
		{"JSON array", "not_object", []byte(`[{"type":"match"}]`)},
		{"5 MB value", "too_large", []byte(`{"type":"match","pad":"` + strings.Repeat("x", 5<<20) + `"}`)},
		{"invalid UTF-8", "invalid_utf8", []byte("{\"type\":\"match\",\"m\":\"\xc3\x28\"}")},
		{"10,000 levels of nesting", "too_deep", []byte(strings.Repeat(`{"a":`, 10000) + `1` + strings.Repeat(`}`, 10000))},
		{"no value", "empty", nil},
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.broker.brokers...), kgo.DefaultProduceTopic(s.input),
		kgo.ProducerBatchMaxBytes(8<<20), kgo.MaxBufferedBytes(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	matched := map[string]bool{}
	for i, h := range hostile {
		good := "good-" + testenv.Unique()
		matched[good] = true
		recs = append(recs, &kgo.Record{Value: h.value, Headers: []kgo.RecordHeader{{Key: "case", Value: []byte(h.name)}}},
			&kgo.Record{Value: []byte(`{"id":"` + good + `","type":"match","seq":` + string(rune('0'+i)) + `}`)})
	}
	for _, r := range recs {
		// One at a time, so a broker that refuses one record says which.
		if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatalf("publish %q: %v", string(r.Headers[0].Value), err)
		}
	}
	lost, dups, _ := s.account(t, rc, matched, time.Minute)
	if lost != 0 {
		t.Errorf("%d good events behind poison records were not delivered", lost)
	}
	dlq := dlqRecords(t, s.broker.brokers, s.group+".dlq")
	got := map[string]string{}
	for _, r := range dlq {
		c, _ := retry.HeaderValue(r, "case")
		reason, _ := retry.HeaderValue(r, retry.HeaderReason)
		got[c] = reason
	}
	for _, h := range hostile {
		if got[h.name] != "poison:"+h.reason {
			t.Errorf("%s: DLQ reason %q, want poison:%s", h.name, got[h.name], h.reason)
		}
	}
	if code, body := p.ready(t); code != 200 {
		t.Errorf("readyz after hostile input: %d %s", code, body)
	}
	result{command: "make test-faults RUN=TestHostileInput", test: "hostile input",
		injected: "invalid JSON, a JSON array, a 5 MB value, invalid UTF-8, 10,000 levels of nesting, no value — on one partition between good events",
		events:   len(recs), matched: len(matched), lost: lost, duplicates: dups, broker: s.broker.name}.log(t)
}
