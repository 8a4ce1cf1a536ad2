package credential_test

import (
	"testing"
	"time"

	"github.com/hookstream/hookstream/credential"
	"github.com/hookstream/hookstream/payload"
)

// BenchmarkRenderAndSign renders the envelope of a 400-byte event and
// signs it, as every attempt of a standard subscription does.
func BenchmarkRenderAndSign(b *testing.B) {
	k := hmacKey(b, vectorSecret)
	data := []byte(`{"type":"payment.failed","level":"error","source":"payment-api","message":"card declined by issuer",` +
		`"timestamp":"2024-05-01T10:00:00Z","metadata":{"amount":1250.5,"currency":"EUR","customer":"cus_9s8d7f6g5h4j3k2l",` +
		`"attempt":3,"gateway":"adyen","reason_code":"05"},"tags":["eu","payments","checkout"],"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`)
	env := payload.Envelope{ID: "msg_2wk4mlfkwd4tk5fwcz6zdjhx3e", Type: "payment.failed", Timestamp: time.Now(),
		SubscriptionID: "sub_zkxkbjasa3obay4dycna", Data: data}
	buf := make([]byte, 0, 1024)
	sig := make([]byte, 0, 64)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		buf = env.AppendJSON(buf[:0])
		sig = credential.AppendSignature(sig[:0], k, env.ID, 1714557600, buf)
	}
}

// BenchmarkSignatures signs a 400-byte body with a subscription's key, as
// every attempt of a signed format does.
func BenchmarkSignatures(b *testing.B) {
	s := credential.Signer{Key: key(b, vectorSecret)}
	body := make([]byte, 400)
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Signatures("msg_2wk4mlfkwd4tk5fwcz6zdjhx3e", now, body)
	}
}
