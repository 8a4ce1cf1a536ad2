package retry

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record headers of retry and DLQ records. Their values are plain text.
const (
	HeaderKind         = "hookstream-kind"          // "delivery" or "poison"
	HeaderAttempt      = "hookstream-attempt"       // attempts made so far
	HeaderNotBefore    = "hookstream-not-before"    // unix ms of the next attempt
	HeaderSubscription = "hookstream-subscription"  // subscription ID
	HeaderWebhookID    = "hookstream-webhook-id"    // the delivery's webhook-id
	HeaderOrigin       = "hookstream-origin"        // topic/partition/offset of the log event
	HeaderFirstAttempt = "hookstream-first-attempt" // unix ms of the first attempt
	HeaderStatus       = "hookstream-status"        // last HTTP status, when there was one
	HeaderError        = "hookstream-error"         // "<reason>: <message>" of the last failure
	HeaderReason       = "hookstream-reason"        // why a DLQ record is there
	HeaderEventType    = "hookstream-event-type"    // the log event's type
	HeaderEventTime    = "hookstream-event-time"    // unix ms of the log event
	HeaderPutOffs      = "hookstream-put-offs"      // times put off since the last attempt, when any
	HeaderRetryAfter   = "hookstream-retry-after"   // ms the endpoint asked to wait, when longer than the rung's delay
	HeaderEventFormat  = "hookstream-event-format"  // the format the event was converted from, when it was
	HeaderTraceparent  = "traceparent"              // W3C trace context of the event, when it had one
	HeaderTracestate   = "tracestate"

	// A poison record too large for the DLQ is cut; these say what it was.
	HeaderOriginalBytes  = "hookstream-original-bytes"  // the value's size
	HeaderOriginalSHA256 = "hookstream-original-sha256" // hex SHA-256 of the whole value
)

// MaxPutOffs is how many times in a row a delivery may be put off without
// an attempt (its endpoint had its cap of attempts in flight) before the
// next put-off counts as a failed attempt: a delivery to an endpoint that
// stays saturated reaches the DLQ like one to an endpoint that fails.
const MaxPutOffs = 3

// Kinds of retry and DLQ records.
const (
	KindDelivery = "delivery"
	KindPoison   = "poison"
)

// Origin locates the log event a delivery came from: its record, and
// its place among the record's events when the record holds several (an
// OTLP request's log records), counted from 0.
type Origin struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Index     int    `json:"index,omitempty"`
}

// String writes o as topic/partition/offset, followed by #index for an
// event after a record's first.
func (o Origin) String() string { return string(o.appendTo(nil)) }

func (o Origin) appendTo(b []byte) []byte {
	b = append(b, o.Topic...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(o.Partition), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, o.Offset, 10)
	if o.Index > 0 {
		b = append(b, '#')
		b = strconv.AppendInt(b, int64(o.Index), 10)
	}
	return b
}

// Job is a delivery that failed and waits for its next attempt, or gave
// up. Its record's value is the original event, byte for byte; everything
// else travels in headers, so reading a job parses no JSON and a DLQ
// record can be replayed as it is.
type Job struct {
	WebhookID      string
	SubscriptionID string
	Attempts       int
	// PutOffs counts the times the delivery was put off since its last
	// attempt.
	PutOffs      int
	FirstAttempt time.Time
	// NotBefore is when the next attempt is due, as read back from a
	// retry record; zero for a new delivery.
	NotBefore time.Time
	// RetryAfter is the wait the endpoint asked for (capped), when it
	// pushed the next attempt past its rung's delay; only then is a
	// NotBefore past the rung's delay honoured.
	RetryAfter time.Duration
	Origin     Origin
	// EventFormat is the format the event was converted from into
	// hookstream's event shape, empty for a JSON event kept as it came.
	EventFormat string
	EventType   string
	// Traceparent and Tracestate are the W3C trace context the delivery
	// continues, empty when it has none.
	Traceparent, Tracestate string
	EventTime               time.Time
	LastStatus              int
	LastReason              string
	LastError               string
	Event                   []byte
}

// Record encodes the job for topic, due at notBefore (zero for the DLQ),
// with the reason it is in the DLQ (empty on a rung). The key and every
// header value share one buffer: a delivery to a down endpoint writes a
// record per attempt, and this is most of what such an attempt costs.
func (j *Job) Record(topic string, notBefore time.Time, dlqReason DLQReason) *kgo.Record {
	r := &kgo.Record{Topic: topic, Value: j.Event}
	buf := make([]byte, 0, j.headerBytes(dlqReason)+len(j.WebhookID))
	buf = append(buf, j.WebhookID...)
	r.Key = buf[:len(buf):len(buf)]
	w := headerWriter{buf: buf, hs: make([]kgo.RecordHeader, 0, 17)}
	j.writeHeaders(&w, notBefore, dlqReason)
	r.Headers = w.hs
	return r
}

// headerBytes bounds the bytes of the job's header values.
func (j *Job) headerBytes(dlqReason DLQReason) int {
	return len(j.WebhookID) + len(j.SubscriptionID) + len(j.Origin.Topic) + len(j.EventType) + len(j.EventFormat) +
		len(j.Traceparent) + len(j.Tracestate) +
		len(KindDelivery) + len(dlqReason) + 10*20 + 2 + min(len(j.LastReason)+2+len(j.LastError), maxHeaderText)
}

// headerWriter takes a job's headers one after another: as record
// headers whose values share one buffer, or written straight into a
// bundle entry (Bundle's encoding), with no record headers made at all.
type headerWriter struct {
	buf    []byte
	hs     []kgo.RecordHeader // the record's headers; unused in a bundle
	bundle bool
	count  int    // headers written
	key    string // the header being written, for a record
	start  int    // where its value starts in buf
}

// next starts the header key: its value is appended to w.buf, then done
// is called.
func (w *headerWriter) next(key string) {
	if w.bundle {
		w.buf = binary.AppendUvarint(w.buf, uint64(len(key)))
		w.buf = append(w.buf, key...)
		w.buf = append(w.buf, 0) // the value's length: one byte unless it is long
	}
	w.key, w.start = key, len(w.buf)
}

// done ends the header next started. A record's value taken before buf
// grows stays intact in the old array.
func (w *headerWriter) done() {
	w.count++
	if !w.bundle {
		w.hs = append(w.hs, kgo.RecordHeader{Key: w.key, Value: w.buf[w.start:len(w.buf):len(w.buf)]})
		return
	}
	n := len(w.buf) - w.start
	if n < 0x80 {
		w.buf[w.start-1] = byte(n)
		return
	}
	// A long value (an error's text): its length takes more bytes, and
	// the value moves along to make room.
	var l [binary.MaxVarintLen64]byte
	ln := binary.PutUvarint(l[:], uint64(n))
	w.buf = append(w.buf, l[1:ln]...)
	copy(w.buf[w.start+ln-1:], w.buf[w.start:w.start+n])
	copy(w.buf[w.start-1:], l[:ln])
}

// writeHeaders writes the job's headers to w.
func (j *Job) writeHeaders(w *headerWriter, notBefore time.Time, dlqReason DLQReason) {
	w.next(HeaderKind)
	w.buf = append(w.buf, KindDelivery...)
	w.done()
	w.next(HeaderAttempt)
	w.buf = strconv.AppendInt(w.buf, int64(j.Attempts), 10)
	w.done()
	w.next(HeaderSubscription)
	w.buf = append(w.buf, j.SubscriptionID...)
	w.done()
	w.next(HeaderWebhookID)
	w.buf = append(w.buf, j.WebhookID...)
	w.done()
	w.next(HeaderOrigin)
	w.buf = j.Origin.appendTo(w.buf)
	w.done()
	w.next(HeaderFirstAttempt)
	w.buf = strconv.AppendInt(w.buf, j.FirstAttempt.UnixMilli(), 10)
	w.done()
	w.next(HeaderEventType)
	w.buf = append(w.buf, j.EventType...)
	w.done()
	w.next(HeaderEventTime)
	w.buf = strconv.AppendInt(w.buf, j.EventTime.UnixMilli(), 10)
	w.done()
	if j.EventFormat != "" {
		w.next(HeaderEventFormat)
		w.buf = append(w.buf, j.EventFormat...)
		w.done()
	}
	if j.Traceparent != "" {
		w.next(HeaderTraceparent)
		w.buf = append(w.buf, j.Traceparent...)
		w.done()
		if j.Tracestate != "" {
			w.next(HeaderTracestate)
			w.buf = append(w.buf, j.Tracestate...)
			w.done()
		}
	}
	if !notBefore.IsZero() {
		w.next(HeaderNotBefore)
		w.buf = strconv.AppendInt(w.buf, notBefore.UnixMilli(), 10)
		w.done()
	}
	if j.PutOffs > 0 {
		w.next(HeaderPutOffs)
		w.buf = strconv.AppendInt(w.buf, int64(j.PutOffs), 10)
		w.done()
	}
	if j.RetryAfter > 0 {
		w.next(HeaderRetryAfter)
		w.buf = strconv.AppendInt(w.buf, j.RetryAfter.Milliseconds(), 10)
		w.done()
	}
	if j.LastStatus != 0 {
		w.next(HeaderStatus)
		w.buf = strconv.AppendInt(w.buf, int64(j.LastStatus), 10)
		w.done()
	}
	if j.LastReason != "" || j.LastError != "" {
		w.next(HeaderError)
		w.buf = appendHeaderText(w.buf, j.LastReason, ": ", j.LastError)
		w.done()
	}
	if dlqReason != "" {
		w.next(HeaderReason)
		w.buf = append(w.buf, dlqReason...)
		w.done()
	}
}

// AppendBundled appends the job, as Bundle would encode its rung record
// for topic due at notBefore, to dst: a parcel of refused deliveries is
// encoded straight from its jobs, without a record each.
func (j *Job) AppendBundled(dst []byte, notBefore time.Time) []byte {
	at := len(dst)
	w := headerWriter{buf: append(dst, 0), bundle: true} // the header count, under 128
	j.writeHeaders(&w, notBefore, "")
	w.buf[at] = byte(w.count)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(j.Event)))
	return append(w.buf, j.Event...)
}

// JobFromRecord reads a job back from a retry or DLQ record.
func JobFromRecord(r *kgo.Record) (*Job, error) {
	var h jobHeaders
	for _, hdr := range r.Headers {
		h.set(hdr.Key, hdr.Value)
	}
	return h.job(r.Value)
}

// jobHeaders holds the values of a job's headers as they are read, before
// they are checked.
type jobHeaders struct {
	kind, attempts, subscription, webhookID, origin, first                []byte
	eventType, eventTime, status, notBefore, putOffs, errText, retryAfter []byte
	eventFormat, traceparent, tracestate                                  []byte
}

// set notes header key's value. Of a header given twice, the first
// counts, as HeaderValue reads it.
func (h *jobHeaders) set(key string, value []byte) {
	var field *[]byte
	switch key {
	case HeaderKind:
		field = &h.kind
	case HeaderAttempt:
		field = &h.attempts
	case HeaderSubscription:
		field = &h.subscription
	case HeaderWebhookID:
		field = &h.webhookID
	case HeaderOrigin:
		field = &h.origin
	case HeaderFirstAttempt:
		field = &h.first
	case HeaderEventType:
		field = &h.eventType
	case HeaderEventTime:
		field = &h.eventTime
	case HeaderStatus:
		field = &h.status
	case HeaderNotBefore:
		field = &h.notBefore
	case HeaderPutOffs:
		field = &h.putOffs
	case HeaderError:
		field = &h.errText
	case HeaderRetryAfter:
		field = &h.retryAfter
	case HeaderEventFormat:
		field = &h.eventFormat
	case HeaderTraceparent:
		field = &h.traceparent
	case HeaderTracestate:
		field = &h.tracestate
	default:
		return
	}
	if *field == nil {
		*field = value[:len(value):len(value)]
		if value == nil {
			*field = []byte{}
		}
	}
}

// strs makes strings of header values, reusing the string it made last
// time for each field when the bytes are the same: the jobs of a bundle
// share their subscription, origin topic, event type and, refused
// together, their error.
type strs struct{ sub, topic, typ, format, reason, err string }

func reuse(last *string, b []byte) string {
	if string(b) != *last { // compared without allocating
		*last = string(b)
	}
	return *last
}

// job checks the headers and makes the job of event.
func (h *jobHeaders) job(event []byte) (*Job, error) { return h.jobWith(event, &strs{}) }

// jobWith is job, making its strings with ss.
func (h *jobHeaders) jobWith(event []byte, ss *strs) (*Job, error) {
	if string(h.kind) != KindDelivery {
		return nil, fmt.Errorf("delivery job: %s is %q, not %q", HeaderKind, h.kind, KindDelivery)
	}
	if len(h.webhookID) == 0 || len(h.subscription) == 0 || len(event) == 0 {
		return nil, fmt.Errorf("delivery job: %s, %s and a value are required", HeaderWebhookID, HeaderSubscription)
	}
	j := &Job{Event: event, WebhookID: string(h.webhookID), SubscriptionID: reuse(&ss.sub, h.subscription), EventType: reuse(&ss.typ, h.eventType),
		EventFormat: reuse(&ss.format, h.eventFormat), Traceparent: string(h.traceparent), Tracestate: string(h.tracestate)}
	if len(h.errText) > 0 {
		reason, msg, _ := bytes.Cut(h.errText, []byte(": "))
		j.LastReason, j.LastError = reuse(&ss.reason, reason), reuse(&ss.err, msg)
	}
	n, ok := parseCount(h.attempts)
	if !ok || n > math.MaxInt32 {
		return nil, fmt.Errorf("delivery job: %s %q is not a count", HeaderAttempt, h.attempts)
	}
	j.Attempts = int(n)
	var err error
	if j.Origin, err = parseOriginBytes(h.origin, &ss.topic); err != nil {
		return nil, fmt.Errorf("delivery job: %w", err)
	}
	ms, ok := parseCount(h.first)
	if !ok {
		return nil, fmt.Errorf("delivery job: %s %q is not unix milliseconds", HeaderFirstAttempt, h.first)
	}
	j.FirstAttempt = time.UnixMilli(ms)
	if ms, ok := parseCount(bytes.TrimPrefix(h.eventTime, []byte("-"))); ok {
		if h.eventTime[0] == '-' {
			ms = -ms // a record timestamp before 1970
		}
		j.EventTime = time.UnixMilli(ms)
	}
	if n, ok := parseCount(h.status); ok && n < 1000 {
		j.LastStatus = int(n)
	}
	if ms, ok := parseCount(h.notBefore); ok {
		j.NotBefore = time.UnixMilli(ms)
	}
	if n, ok := parseCount(h.putOffs); ok && n <= MaxPutOffs {
		j.PutOffs = int(n)
	}
	if ms, ok := parseCount(h.retryAfter); ok && ms <= math.MaxInt64/int64(time.Millisecond) {
		j.RetryAfter = time.Duration(ms) * time.Millisecond
	}
	return j, nil
}

// parseCount reads a decimal number of 1 to 18 digits, without sign: what
// Record writes for counts and unix milliseconds.
func parseCount(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseOriginBytes is parseOrigin of b, reusing *topic for the topic when
// it is the same.
func parseOriginBytes(b []byte, topic *string) (Origin, error) {
	index := 0
	if k := bytes.LastIndexByte(b, '#'); k >= 0 {
		n, ok := parseCount(b[k+1:])
		if !ok || n > math.MaxInt32 {
			return parseOrigin(string(b))
		}
		index, b = int(n), b[:k]
	}
	i := bytes.LastIndexByte(b, '/')
	j := bytes.LastIndexByte(b[:max(i, 0)], '/')
	if i < 0 || j <= 0 {
		return parseOrigin(string(b))
	}
	p, ok1 := parseCount(b[j+1 : i])
	n, ok2 := parseCount(b[i+1:])
	if !ok1 || !ok2 || p > math.MaxInt32 {
		return parseOrigin(string(b)) // the error, as parseOrigin words it
	}
	return Origin{Topic: reuse(topic, b[:j]), Partition: int32(p), Offset: n, Index: index}, nil
}

func parseOrigin(s string) (Origin, error) {
	text := s
	index := int64(0)
	if rest, idx, ok := cutLast(s, "#"); ok {
		var err error
		if index, err = strconv.ParseInt(idx, 10, 32); err != nil || index < 0 {
			return Origin{}, fmt.Errorf("%s %q is not topic/partition/offset[#index]", HeaderOrigin, text)
		}
		s = rest
	}
	// Topic names cannot hold '/' or '#', so the last two fields are
	// numbers.
	rest, off, ok1 := cutLast(s, "/")
	topic, part, ok2 := cutLast(rest, "/")
	o := Origin{Topic: topic}
	p, err1 := strconv.ParseInt(part, 10, 32)
	n, err2 := strconv.ParseInt(off, 10, 64)
	if !ok1 || !ok2 || topic == "" || err1 != nil || err2 != nil {
		return o, fmt.Errorf("%s %q is not topic/partition/offset[#index]", HeaderOrigin, text)
	}
	o.Partition, o.Offset, o.Index = int32(p), n, int(index)
	return o, nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// PoisonRecord is the DLQ record of a log event that cannot be decoded:
// its original key and value, untouched, with the reason in headers. A
// record larger than maxBytes, which the DLQ could never take, keeps its
// first maxBytes less room for headers, with its original size and
// SHA-256 in headers, so that it can still be found and told apart.
func PoisonRecord(topic string, src *kgo.Record, reason, detail string, maxBytes int) *kgo.Record {
	origin := Origin{Topic: src.Topic, Partition: src.Partition, Offset: src.Offset}
	r := &kgo.Record{Topic: topic, Key: src.Key, Value: src.Value}
	r.Headers = append(r.Headers,
		header(HeaderKind, KindPoison),
		header(HeaderOrigin, origin.String()),
		header(HeaderReason, string(Poison(reason))),
		header(HeaderError, headerText(reason+": "+detail)),
	)
	// What hookstream's own headers, the key and the record's framing
	// take, generously.
	budget := maxBytes - len(src.Key) - 4<<10
	size := len(src.Value)
	for _, h := range src.Headers {
		size += len(h.Key) + len(h.Value)
	}
	if size <= budget {
		// Keep the source's own headers after ours, as Kafka Connect does.
		for _, h := range src.Headers {
			r.Headers = append(r.Headers, SourceHeader(h))
		}
		return r
	}
	sum := sha256.Sum256(src.Value)
	r.Value = src.Value[:max(0, min(len(src.Value), budget))]
	r.Headers = append(r.Headers,
		header(HeaderOriginalBytes, strconv.Itoa(len(src.Value))),
		header(HeaderOriginalSHA256, hex.EncodeToString(sum[:])),
	)
	// The source's headers go along while they fit beside the value.
	room := budget - len(r.Value)
	for _, h := range src.Headers {
		if room -= len(h.Key) + len(h.Value); room < 0 {
			break
		}
		r.Headers = append(r.Headers, SourceHeader(h))
	}
	return r
}

// OwnPrefix starts the name of every header hookstream writes.
const OwnPrefix = "hookstream-"

// MovedPrefix is put before a header of hookstream's own name that a
// record hookstream did not write carried, when the record is copied.
const MovedPrefix = "x-original-"

// SourceHeader returns h, a header of a record hookstream did not write,
// as it may be copied into one it writes: a name hookstream uses (in any
// case) is moved aside under MovedPrefix, so that no producer of log
// events can pass for hookstream in a DLQ record.
func SourceHeader(h kgo.RecordHeader) kgo.RecordHeader {
	if len(h.Key) >= len(OwnPrefix) && strings.EqualFold(h.Key[:len(OwnPrefix)], OwnPrefix) {
		h.Key = MovedPrefix + h.Key
	}
	return h
}

// HeaderValue returns the value of the first header named key.
func HeaderValue(r *kgo.Record, key string) (string, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}

func header(k, v string) kgo.RecordHeader { return kgo.RecordHeader{Key: k, Value: []byte(v)} }

// maxHeaderText caps the free-text header values (errors, reasons).
const maxHeaderText = 1024

// headerText caps a header value at 1 KiB of one line.
func headerText(s string) string { return string(appendHeaderText(nil, s, "", "")) }

// appendHeaderText appends the concatenation of parts to b as one line
// (newlines become spaces) of at most maxHeaderText bytes, the last three
// of a cut value being "...", cut between characters.
func appendHeaderText(b []byte, parts ...string) []byte {
	start := len(b)
	for _, p := range parts {
		b = append(b, p...)
	}
	text := b[start:]
	for i, c := range text {
		if c == '\n' || c == '\r' {
			text[i] = ' '
		}
	}
	if len(text) > maxHeaderText {
		cut := maxHeaderText - 3
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut-- // not inside a character
		}
		b = append(b[:start+cut], "..."...)
	}
	return b
}
