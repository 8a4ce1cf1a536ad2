package event

import "testing"

// BenchmarkDecode decodes a 400-byte log event: "scan" reads the
// well-known fields with one pass over the top-level members (the
// default), "object" decodes the whole object first (used when a field's
// path goes deeper than the top level).
func BenchmarkDecode(b *testing.B) {
	value := []byte(`{"type":"order.created","level":"ERROR","source":"payment-api","timestamp":"2026-11-23T10:00:00.123Z",` +
		`"message":"card declined","order_id":"ord_8f3k2","amount":129.95,"currency":"EUR","customer":{"id":"cus_42",` +
		`"country":"DE","tier":"gold"},"tags":["checkout","retry"],"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`)
	d, err := NewDecoder(Locations{
		Type: []string{"type", "event_type"}, Level: []string{"level", "severity"}, Source: []string{"source", "service"},
		Timestamp: []string{"timestamp", "@timestamp", "time"}, Message: []string{"message", "msg"},
	}, 1<<20, 64)
	if err != nil {
		b.Fatal(err)
	}
	object := *d
	object.topKeys = nil
	for _, bc := range []struct {
		name string
		d    *Decoder
	}{{"scan", d}, {"object", &object}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(value)))
			for b.Loop() {
				ev, err := bc.d.Decode(value)
				if err != nil || ev.Type != "order.created" {
					b.Fatal(ev, err)
				}
			}
		})
	}
}
