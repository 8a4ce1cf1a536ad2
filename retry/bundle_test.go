package retry

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// bundleJobs returns n jobs of subscription sub, each with its own event.
func bundleJobs(t testing.TB, sub string, n int) []*Job {
	t.Helper()
	jobs := make([]*Job, n)
	for i := range jobs {
		jobs[i] = &Job{WebhookID: fmt.Sprintf("msg_%d", i), SubscriptionID: sub, Attempts: 1 + i%3,
			FirstAttempt: time.UnixMilli(1700000000000 + int64(i)), Origin: Origin{Topic: "logs", Partition: int32(i % 4), Offset: int64(i)},
			EventType: "order.failed", EventTime: time.UnixMilli(1690000000000), LastReason: "circuit_open",
			LastError: "breaker open", Event: fmt.Appendf(nil, `{"n":%d,"pad":%q}`, i, strings.Repeat("x", i))}
	}
	return jobs
}

func bundleOf(topic string, notBefore time.Time, jobs []*Job) *kgo.Record {
	recs := make([]*kgo.Record, len(jobs))
	for i, j := range jobs {
		recs[i] = j.Record(topic, notBefore, "")
	}
	return Bundle(topic, jobs[0].SubscriptionID, notBefore, recs)
}

func TestBundleRoundTrip(t *testing.T) {
	due := time.UnixMilli(1700000030000)
	for _, n := range []int{1, 2, 256} {
		t.Run(fmt.Sprint(n, " jobs"), func(t *testing.T) {
			jobs := bundleJobs(t, "sub_1", n)
			rec := bundleOf("hookstream.retry.8s", due, jobs)
			size := 0
			for _, j := range jobs {
				size += BundledSize(j.Record("t", due, ""))
			}
			if len(rec.Value) != size {
				t.Errorf("value is %d bytes, BundledSize sums to %d", len(rec.Value), size)
			}
			if !IsBundle(rec) || string(rec.Key) != "msg_0" || rec.Topic != "hookstream.retry.8s" {
				t.Errorf("bundle record: kind bundle %v, key %q, topic %q", IsBundle(rec), rec.Key, rec.Topic)
			}
			if v, _ := HeaderValue(rec, HeaderNotBefore); v != "1700000030000" {
				t.Errorf("not-before = %q, want the due time for the rung consumer", v)
			}
			sub, back, err := JobsFromBundle(rec)
			if err != nil {
				t.Fatal(err)
			}
			if sub != "sub_1" || len(back) != n {
				t.Fatalf("read back %d jobs of %q, want %d of sub_1", len(back), sub, n)
			}
			for i, got := range back {
				want := jobs[i]
				if got.WebhookID != want.WebhookID || got.Attempts != want.Attempts || got.Origin != want.Origin ||
					!got.FirstAttempt.Equal(want.FirstAttempt) || !got.EventTime.Equal(want.EventTime) ||
					got.LastReason != want.LastReason || got.LastError != want.LastError || !bytes.Equal(got.Event, want.Event) {
					t.Fatalf("job %d read back as %+v, want %+v", i, got, want)
				}
			}
		})
	}
	if _, err := JobFromRecord(bundleOf("t", due, bundleJobs(t, "sub_1", 2))); err == nil {
		t.Error("a bundle read as a single job")
	}
}

func TestJobsFromBundleRejects(t *testing.T) {
	due := time.UnixMilli(1700000030000)
	good := func() *kgo.Record { return bundleOf("t", due, bundleJobs(t, "sub_1", 3)) }
	frame := func(j *Job) []byte {
		// A bundle of one job frame, to splice into a value.
		return Bundle("t", j.SubscriptionID, due, []*kgo.Record{j.Record("t", due, "")}).Value
	}
	tests := []struct {
		name string
		mod  func(*kgo.Record)
		want string
	}{
		{"a single job", func(r *kgo.Record) { *r = *bundleJobs(t, "sub_1", 1)[0].Record("t", due, "") }, "not \"bundle\""},
		{"no subscription", func(r *kgo.Record) { setHeader(r, HeaderSubscription, "") }, "count are required"},
		{"count not a number", func(r *kgo.Record) { setHeader(r, HeaderJobs, "three") }, "count are required"},
		{"count zero", func(r *kgo.Record) { setHeader(r, HeaderJobs, "0") }, "count are required"},
		{"count past the value", func(r *kgo.Record) { setHeader(r, HeaderJobs, "999999999") }, "count are required"},
		{"fewer jobs than counted", func(r *kgo.Record) { setHeader(r, HeaderJobs, "4") }, "job 4 of 4"},
		{"more jobs than counted", func(r *kgo.Record) { setHeader(r, HeaderJobs, "2") }, "bytes after its 2 jobs"},
		{"cut short", func(r *kgo.Record) { r.Value = r.Value[:len(r.Value)-5] }, "job 3 of 3: event: truncated"},
		{"empty value", func(r *kgo.Record) { r.Value = nil; setHeader(r, HeaderJobs, "1") }, "count are required"},
		{"a header count past the limit", func(r *kgo.Record) {
			r.Value = append(binary.AppendUvarint(nil, maxBundleHeaders+1), r.Value...)
		}, "job 1 of 3: header count"},
		{"a job of another subscription", func(r *kgo.Record) {
			r.Value = append(frame(bundleJobs(t, "sub_2", 1)[0]), r.Value...)
			setHeader(r, HeaderJobs, "4")
		}, "of subscription \"sub_2\""},
		{"a job without a webhook id", func(r *kgo.Record) {
			j := bundleJobs(t, "sub_1", 1)[0]
			j.WebhookID = ""
			r.Value = append(frame(j), r.Value...)
			setHeader(r, HeaderJobs, "4")
		}, "job 1 of 4: delivery job"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.mod(r)
			_, jobs, err := JobsFromBundle(r)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("JobsFromBundle = %d jobs, %v; want an error with %q", len(jobs), err, tt.want)
			}
		})
	}
}

// FuzzBundle: any value read as a bundle gives jobs or an error, never a
// panic; what it gives encodes back to the same jobs.
func FuzzBundle(f *testing.F) {
	due := time.UnixMilli(1700000030000)
	for _, n := range []int{1, 2, 5} {
		rec := bundleOf("t", due, bundleJobs(f, "sub_1", n))
		f.Add(rec.Value, n)
		f.Add(rec.Value[:len(rec.Value)/2], n)
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 1)
	f.Add([]byte{}, 1)
	f.Fuzz(func(t *testing.T, value []byte, n int) {
		rec := &kgo.Record{Value: value, Headers: []kgo.RecordHeader{
			header(HeaderKind, KindBundle), header(HeaderSubscription, "sub_1"), header(HeaderJobs, fmt.Sprint(n)),
		}}
		sub, jobs, err := JobsFromBundle(rec)
		if err != nil {
			return
		}
		if sub != "sub_1" || len(jobs) != n {
			t.Fatalf("%d jobs of %q from a bundle of %d of sub_1", len(jobs), sub, n)
		}
		_, again, err := JobsFromBundle(bundleOf("t", due, jobs))
		if err != nil {
			t.Fatalf("re-encoded bundle: %v", err)
		}
		for i := range jobs {
			if again[i].WebhookID != jobs[i].WebhookID || !bytes.Equal(again[i].Event, jobs[i].Event) || again[i].Attempts != jobs[i].Attempts {
				t.Fatalf("job %d changed on re-encoding: %+v → %+v", i, jobs[i], again[i])
			}
		}
	})
}

// TestAppendBundledMatchesBundle: a parcel encoded straight from its jobs
// is the bundle of their records, byte for byte.
func TestAppendBundledMatchesBundle(t *testing.T) {
	now := time.UnixMilli(1764581400123)
	jobs := []*Job{
		{WebhookID: "msg_a", SubscriptionID: "sub_1", Attempts: 2, FirstAttempt: now, Origin: Origin{Topic: "logs", Partition: 3, Offset: 99},
			EventType: "order.failed", EventTime: now, LastStatus: 503, LastReason: "http_5xx", LastError: "endpoint answered 503", Event: []byte(`{"a":1}`)},
		{WebhookID: "msg_b", SubscriptionID: "sub_1", Attempts: 1, PutOffs: 2, RetryAfter: 3 * time.Second, FirstAttempt: now,
			Origin: Origin{Topic: "logs", Offset: 1}, LastReason: "circuit_open", Event: []byte(`{"b":"ü"}`)},
		// Values of 128 bytes and more take a longer length.
		{WebhookID: "msg_c", SubscriptionID: "sub_1", Attempts: 3, FirstAttempt: now, Origin: Origin{Topic: "logs", Offset: 2, Index: 4},
			EventType: "order.failed", EventFormat: "otlp", Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
			Tracestate: "vendor=" + strings.Repeat("t", 120), LastStatus: 500, LastReason: "http_5xx",
			LastError: "endpoint answered 500: " + strings.Repeat("é", 100), Event: bytes.Repeat([]byte("x"), 300)},
		{WebhookID: "msg_d", SubscriptionID: "sub_1", Attempts: 4, FirstAttempt: now, Origin: Origin{Topic: "logs", Offset: 3},
			LastReason: "http_5xx", LastError: strings.Repeat("line\n", 400), Event: []byte(`{}`)},
	}
	notBefore := now.Add(time.Second)
	var recs []*kgo.Record
	var value []byte
	for _, j := range jobs {
		recs = append(recs, j.Record("hookstream.retry.1s", notBefore, ""))
		value = j.AppendBundled(value, notBefore)
	}
	want := Bundle("hookstream.retry.1s", "sub_1", notBefore, recs)
	got := BundleRecord("hookstream.retry.1s", "sub_1", notBefore, []byte("msg_a"), value, len(jobs))
	if !bytes.Equal(got.Value, want.Value) || !bytes.Equal(got.Key, want.Key) || !reflect.DeepEqual(got.Headers, want.Headers) {
		t.Fatalf("encoded straight from jobs:\n%q\nfrom records:\n%q", got.Value, want.Value)
	}
	allocs := testing.AllocsPerRun(100, func() { value = jobs[0].AppendBundled(value[:0], notBefore) })
	if allocs > 0 {
		t.Errorf("AppendBundled allocates %v times with its buffers grown", allocs)
	}
}
