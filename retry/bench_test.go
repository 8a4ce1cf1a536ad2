package retry

import (
	"testing"
	"time"
)

// BenchmarkJobRecord encodes a retry record, or a job's entry in a
// bundle, and reads a record back, as every attempt that fails and every
// retry does.
func BenchmarkJobRecord(b *testing.B) {
	job := &Job{WebhookID: "msg_2wk4mlfkwd4tk5fwcz6zdjhx3e", SubscriptionID: "sub_zkxkbjasa3obay4dycna", Attempts: 2,
		FirstAttempt: time.Now(), Origin: Origin{Topic: "logs", Partition: 3, Offset: 1234567},
		EventType: "payment.failed", EventTime: time.Now(), LastStatus: 503, LastReason: "http_5xx",
		LastError: "endpoint answered 503: upstream unavailable", Event: []byte(`{"type":"payment.failed"}`)}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			job.Record("hookstream.retry.2s", time.Now(), "")
		}
	})
	b.Run("bundled", func(b *testing.B) {
		var value []byte
		notBefore := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			value = job.AppendBundled(value[:0], notBefore)
		}
	})
	b.Run("decode", func(b *testing.B) {
		rec := job.Record("hookstream.retry.2s", time.Now(), "")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := JobFromRecord(rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
