package retry

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestLadderNext(t *testing.T) {
	now := time.Unix(1000, 0)
	l := Ladder{DLQ: "dlq", MaxRetryAfter: time.Hour, Rungs: []Rung{
		{"r1", time.Second}, {"r2", 2 * time.Second}, {"r4", 4 * time.Second}, {"r8", 8 * time.Second},
	}}
	tests := []struct {
		name       string
		attempts   int
		max        int
		retryAfter time.Duration
		topic      string
		wait       time.Duration
	}{
		{"not attempted yet (endpoint saturated)", 0, 5, 0, "r1", time.Second},
		{"first failure", 1, 5, 0, "r1", time.Second},
		{"second", 2, 5, 0, "r2", 2 * time.Second},
		{"fourth", 4, 5, 0, "r8", 8 * time.Second},
		{"exhausted", 5, 5, 0, "dlq", 0},
		{"fewer attempts than rungs", 2, 2, 0, "dlq", 0},
		{"more attempts than rungs repeat the last", 6, 10, 0, "r8", 8 * time.Second},
		{"retry-after skips to a longer rung", 1, 5, 3 * time.Second, "r4", 4 * time.Second},
		{"retry-after shorter than rung", 2, 5, time.Second, "r2", 2 * time.Second},
		{"retry-after past the ladder", 1, 5, time.Minute, "r8", time.Minute},
		{"retry-after capped", 1, 5, 48 * time.Hour, "r8", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step := l.Next(tt.attempts, tt.max, tt.retryAfter, now)
			if step.Topic != tt.topic {
				t.Fatalf("topic = %s, want %s", step.Topic, tt.topic)
			}
			if tt.topic == "dlq" {
				if step.Rung != -1 || !step.NotBefore.IsZero() {
					t.Errorf("DLQ step = %+v", step)
				}
				return
			}
			if got := step.NotBefore.Sub(now); got != tt.wait {
				t.Errorf("wait = %s, want %s", got, tt.wait)
			}
			// A wait past the rung's delay is the endpoint's, and says so.
			held := time.Duration(0)
			if tt.wait > l.Rungs[step.Rung].Delay {
				held = tt.wait
			}
			if step.RetryAfter != held {
				t.Errorf("RetryAfter = %s, want %s", step.RetryAfter, held)
			}
		})
	}
}

func TestJobRecordRoundTrip(t *testing.T) {
	job := &Job{
		WebhookID: "msg_1", SubscriptionID: "sub_1", Attempts: 2, FirstAttempt: time.UnixMilli(1700000000123),
		Origin: Origin{Topic: "app.logs-eu", Partition: 3, Offset: 42}, EventType: "t", EventTime: time.UnixMilli(1700000000000),
		LastStatus: 503, LastReason: "http_5xx", LastError: "endpoint answered 503:\nbusy", Event: []byte(`{"a":1}`),
		PutOffs: 2, RetryAfter: 90 * time.Second,
	}
	rec := job.Record("hookstream.retry.2s", time.UnixMilli(1700000002123), "")
	if string(rec.Value) != `{"a":1}` || string(rec.Key) != "msg_1" {
		t.Errorf("value %s key %s: the value must be the original event", rec.Value, rec.Key)
	}
	want := map[string]string{
		HeaderKind: "delivery", HeaderAttempt: "2", HeaderNotBefore: "1700000002123", HeaderSubscription: "sub_1",
		HeaderWebhookID: "msg_1", HeaderOrigin: "app.logs-eu/3/42", HeaderFirstAttempt: "1700000000123", HeaderStatus: "503",
		HeaderError: "http_5xx: endpoint answered 503: busy", HeaderEventType: "t", HeaderEventTime: "1700000000000",
		HeaderPutOffs: "2", HeaderRetryAfter: "90000",
	}
	for k, v := range want {
		if got, _ := HeaderValue(rec, k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if _, ok := HeaderValue(rec, HeaderReason); ok {
		t.Error("a rung record carries a DLQ reason")
	}
	// The key and the header values share one buffer: none may reach into
	// the next, or a consumer appending to one would change another.
	_ = append(rec.Key, 'x')
	for _, h := range rec.Headers {
		_ = append(h.Value, 'x')
	}
	for k, v := range want {
		if got, _ := HeaderValue(rec, k); got != v {
			t.Errorf("after appends, header %s = %q, want %q", k, got, v)
		}
	}
	back, err := JobFromRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if back.WebhookID != job.WebhookID || back.Attempts != 2 || back.Origin != job.Origin || string(back.Event) != `{"a":1}` ||
		!back.FirstAttempt.Equal(job.FirstAttempt) || !back.EventTime.Equal(job.EventTime) || back.EventType != "t" ||
		back.LastStatus != 503 || back.LastReason != "http_5xx" || back.PutOffs != 2 || back.RetryAfter != 90*time.Second ||
		!back.NotBefore.Equal(time.UnixMilli(1700000002123)) {
		t.Errorf("round trip: %+v", back)
	}
	if dlq := job.Record("hookstream.dlq", time.Time{}, "exhausted"); func() bool { _, ok := HeaderValue(dlq, HeaderNotBefore); return ok }() {
		t.Error("a DLQ record carries a not-before")
	}
	broken := []struct {
		name string
		mod  func(*kgo.Record)
	}{
		{"no headers", func(r *kgo.Record) { r.Headers = nil }},
		{"poison kind", func(r *kgo.Record) { setHeader(r, HeaderKind, "poison") }},
		{"bad attempt", func(r *kgo.Record) { setHeader(r, HeaderAttempt, "-1") }},
		{"bad origin", func(r *kgo.Record) { setHeader(r, HeaderOrigin, "logs/x/1") }},
		{"bad first attempt", func(r *kgo.Record) { setHeader(r, HeaderFirstAttempt, "yesterday") }},
		{"no value", func(r *kgo.Record) { r.Value = nil }},
	}
	for _, lax := range []struct{ name, value string }{{"too many put-offs", "99"}, {"bad put-offs", "x"}, {"bad not-before", "soon"}} {
		r := job.Record("t", time.UnixMilli(1700000002123), "")
		key := HeaderPutOffs
		if lax.name == "bad not-before" {
			key = HeaderNotBefore
		}
		setHeader(r, key, lax.value)
		back, err := JobFromRecord(r)
		if err != nil || back.PutOffs > MaxPutOffs || (key == HeaderNotBefore && !back.NotBefore.IsZero()) {
			t.Errorf("%s: %v, %+v; want the job with the field left at zero", lax.name, err, back)
		}
	}
	for _, b := range broken {
		r := job.Record("t", time.Time{}, "")
		b.mod(r)
		if _, err := JobFromRecord(r); err == nil {
			t.Errorf("%s: JobFromRecord succeeded", b.name)
		}
	}
}

func TestLadderPutOffHoldAndDue(t *testing.T) {
	now := time.Unix(1000, 0)
	l := Ladder{DLQ: "dlq", MaxRetryAfter: time.Hour, Rungs: []Rung{{"r1", time.Second}, {"r2", 2 * time.Second}, {"r8", 8 * time.Second}}}
	if s := l.PutOff(now); s.Topic != "r1" || s.Rung != 0 || s.NotBefore != now.Add(time.Second) {
		t.Errorf("PutOff = %+v, want the first rung 1s from now", s)
	}
	at := now.Add(20 * time.Minute)
	if s := l.Hold(at); s.Topic != "r8" || s.Rung != 2 || s.NotBefore != at {
		t.Errorf("Hold = %+v, want the last rung, still due at %s", s, at)
	}
	tests := []struct {
		name       string
		notBefore  time.Time
		retryAfter time.Duration
		want       time.Time
	}{
		{"due", now.Add(-time.Second), 0, now},
		{"ahead, but no Retry-After: a clock ahead", now.Add(time.Hour), 0, now},
		{"held by a Retry-After", now.Add(20 * time.Minute), 20 * time.Minute, now.Add(20 * time.Minute)},
		{"held, and due", now.Add(-time.Second), 20 * time.Minute, now.Add(-time.Second)},
		{"a century ahead: clamped to max_retry_after", now.AddDate(100, 0, 0), time.Hour, now.Add(time.Hour)},
	}
	for _, tt := range tests {
		if got := l.Due(&Job{NotBefore: tt.notBefore, RetryAfter: tt.retryAfter}, now); !got.Equal(tt.want) {
			t.Errorf("%s: Due = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestJobRecordKeepsAnEventTimeBefore1970(t *testing.T) {
	at := time.UnixMilli(-1500)
	rec := (&Job{WebhookID: "msg_1", SubscriptionID: "sub_1", FirstAttempt: time.UnixMilli(1700000000000), EventTime: at,
		Origin: Origin{Topic: "logs", Partition: 0, Offset: 1}, Event: []byte(`{}`)}).Record("t", time.Time{}, "")
	back, err := JobFromRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if !back.EventTime.Equal(at) {
		t.Errorf("event time %s read back as %s", at, back.EventTime)
	}
}

func TestJobRecordCapsTheError(t *testing.T) {
	long := strings.Repeat("é", 600) // 1,200 bytes
	rec := (&Job{WebhookID: "msg_1", SubscriptionID: "sub_1", LastReason: "http_5xx", LastError: "line one\r\n" + long,
		Event: []byte(`{}`)}).Record("t", time.Time{}, "exhausted")
	got, _ := HeaderValue(rec, HeaderError)
	if len(got) > 1024 || len(got) < 1020 || !utf8.ValidString(got) || !strings.HasPrefix(got, "http_5xx: line one  é") || !strings.HasSuffix(got, "...") {
		t.Errorf("error header is %d bytes: %.40q…%q", len(got), got, got[len(got)-8:])
	}
	if reason, _ := HeaderValue(rec, HeaderReason); reason != "exhausted" {
		t.Errorf("reason = %q after a long error", reason)
	}
}

func setHeader(r *kgo.Record, key, value string) {
	for i := range r.Headers {
		if r.Headers[i].Key == key {
			r.Headers[i].Value = []byte(value)
		}
	}
}

func TestDLQReasonLabelIsBounded(t *testing.T) {
	tests := []struct {
		reason DLQReason
		want   string
	}{
		{DLQExhausted, "exhausted"},
		{Permanent("http_4xx"), "permanent:http_4xx"},
		{Permanent("destination_blocked"), "permanent:destination_blocked"},
		{Poison("invalid_json"), "poison"},
		{"something:else", "something"},
	}
	for _, tt := range tests {
		if got := tt.reason.Label(); got != tt.want {
			t.Errorf("%q.Label() = %q, want %q", tt.reason, got, tt.want)
		}
	}
}

// A poison record the DLQ can take goes whole, with its own headers after
// hookstream's; a larger one is cut to fit, with its size and hash.
func TestPoisonRecordFitsTheDLQ(t *testing.T) {
	src := &kgo.Record{Topic: "logs", Partition: 2, Offset: 7, Key: []byte("k"),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}}}
	tests := []struct {
		name  string
		value int
		cut   bool
	}{
		{"fits", 10 << 10, false},
		{"too large", 300 << 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src.Value = []byte(strings.Repeat("x", tt.value))
			r := PoisonRecord("dlq", src, "too_large", "record of 300 KiB", 64<<10)
			size := len(r.Key) + len(r.Value)
			for _, h := range r.Headers {
				size += len(h.Key) + len(h.Value)
			}
			if size > 64<<10 {
				t.Errorf("record of %d bytes, over the DLQ's 64 KiB", size)
			}
			if reason, _ := HeaderValue(r, HeaderReason); reason != "poison:too_large" {
				t.Errorf("reason %q", reason)
			}
			orig, cut := HeaderValue(r, HeaderOriginalBytes)
			if cut != tt.cut || (cut && orig != fmt.Sprint(tt.value)) {
				t.Errorf("original size header %q (%v), want it only when cut", orig, cut)
			}
			if sum, ok := HeaderValue(r, HeaderOriginalSHA256); ok != tt.cut || (ok && len(sum) != 64) {
				t.Errorf("original hash header %q (%v)", sum, ok)
			}
			if !tt.cut && (len(r.Value) != tt.value || r.Headers[len(r.Headers)-1].Key != "trace") {
				t.Errorf("a record that fits lost its value or its headers")
			}
		})
	}
}

// TestSourceHeaderMovesOurNamesAside: a header of a record hookstream did
// not write keeps its value, and its name unless it is one of ours.
func TestSourceHeaderMovesOurNamesAside(t *testing.T) {
	tests := []struct{ key, want string }{
		{"trace", "trace"},
		{HeaderSubscription, "x-original-hookstream-subscription"},
		{"HookStream-Kind", "x-original-HookStream-Kind"},
		{"hookstream", "hookstream"},
		{"x-hookstream-kind", "x-hookstream-kind"},
	}
	for _, tt := range tests {
		h := SourceHeader(kgo.RecordHeader{Key: tt.key, Value: []byte("v")})
		if h.Key != tt.want || string(h.Value) != "v" {
			t.Errorf("SourceHeader(%q) = %q=%q, want %q=v", tt.key, h.Key, h.Value, tt.want)
		}
	}
}

// A delivery of one of a record's several events (an OTLP request's log
// records) keeps its place, its event's format and its trace context
// through a rung, alone or in a bundle.
func TestJobOfConvertedEvent(t *testing.T) {
	job := &Job{WebhookID: "msg_2", SubscriptionID: "sub_1", Attempts: 1, FirstAttempt: time.UnixMilli(1700000000123),
		Origin: Origin{Topic: "otel", Partition: 1, Offset: 9, Index: 7}, EventFormat: "otlp", Event: []byte(`{"type":"t"}`),
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", Tracestate: "congo=t61rcWkgMzE"}
	rec := job.Record("hookstream.retry.1s", time.UnixMilli(1700000001123), "")
	if got, _ := HeaderValue(rec, HeaderOrigin); got != "otel/1/9#7" {
		t.Errorf("origin header %q", got)
	}
	bundle := Bundle("hookstream.retry.1s", "sub_1", time.UnixMilli(1700000001123), []*kgo.Record{rec, rec})
	_, jobs, err := JobsFromBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	back, err := JobFromRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range append(jobs, back) {
		if j.Origin != job.Origin || j.EventFormat != "otlp" || j.Traceparent != job.Traceparent || j.Tracestate != job.Tracestate {
			t.Errorf("read back: origin %+v format %q trace %q %q", j.Origin, j.EventFormat, j.Traceparent, j.Tracestate)
		}
	}
	for _, bad := range []string{"otel/1/9#", "otel/1/9#x", "otel/1/9#-1", "otel/1/9#99999999999"} {
		r := job.Record("t", time.Time{}, "")
		setHeader(r, HeaderOrigin, bad)
		if _, err := JobFromRecord(r); err == nil {
			t.Errorf("origin %q accepted", bad)
		}
	}
}
