package delivery

import (
	"fmt"
	"strconv"
	"strings"
	"time"

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
)

// Kinds of retry and DLQ records.
const (
	KindDelivery = "delivery"
	KindPoison   = "poison"
)

// Origin locates the log event a delivery came from.
type Origin struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func (o Origin) String() string {
	return o.Topic + "/" + strconv.FormatInt(int64(o.Partition), 10) + "/" + strconv.FormatInt(o.Offset, 10)
}

// Job is a delivery that failed and waits for its next attempt, or gave
// up. Its record's value is the original event, byte for byte; everything
// else travels in headers, so reading a job parses no JSON and a DLQ
// record can be replayed as it is.
type Job struct {
	WebhookID      string
	SubscriptionID string
	Attempts       int
	FirstAttempt   time.Time
	Origin         Origin
	EventType      string
	EventTime      time.Time
	LastStatus     int
	LastReason     string
	LastError      string
	Event          []byte
}

// Record encodes the job for topic, due at notBefore (zero for the DLQ),
// with the reason it is in the DLQ (empty on a rung).
func (j *Job) Record(topic string, notBefore time.Time, dlqReason string) *kgo.Record {
	r := &kgo.Record{Topic: topic, Key: []byte(j.WebhookID), Value: j.Event}
	r.Headers = make([]kgo.RecordHeader, 0, 12)
	r.Headers = append(r.Headers,
		header(HeaderKind, KindDelivery),
		header(HeaderAttempt, strconv.Itoa(j.Attempts)),
		header(HeaderSubscription, j.SubscriptionID),
		header(HeaderWebhookID, j.WebhookID),
		header(HeaderOrigin, j.Origin.String()),
		header(HeaderFirstAttempt, strconv.FormatInt(j.FirstAttempt.UnixMilli(), 10)),
		header(HeaderEventType, j.EventType),
		header(HeaderEventTime, strconv.FormatInt(j.EventTime.UnixMilli(), 10)),
	)
	if !notBefore.IsZero() {
		r.Headers = append(r.Headers, header(HeaderNotBefore, strconv.FormatInt(notBefore.UnixMilli(), 10)))
	}
	if j.LastStatus != 0 {
		r.Headers = append(r.Headers, header(HeaderStatus, strconv.Itoa(j.LastStatus)))
	}
	if j.LastReason != "" || j.LastError != "" {
		r.Headers = append(r.Headers, header(HeaderError, headerText(j.LastReason+": "+j.LastError)))
	}
	if dlqReason != "" {
		r.Headers = append(r.Headers, header(HeaderReason, dlqReason))
	}
	return r
}

// JobFromRecord reads a job back from a retry or DLQ record.
func JobFromRecord(r *kgo.Record) (*Job, error) {
	j := &Job{Event: r.Value}
	var kind, attempts, origin, first, eventTime, status string
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case HeaderKind:
			kind = v
		case HeaderAttempt:
			attempts = v
		case HeaderSubscription:
			j.SubscriptionID = v
		case HeaderWebhookID:
			j.WebhookID = v
		case HeaderOrigin:
			origin = v
		case HeaderFirstAttempt:
			first = v
		case HeaderEventType:
			j.EventType = v
		case HeaderEventTime:
			eventTime = v
		case HeaderStatus:
			status = v
		case HeaderError:
			j.LastReason, j.LastError, _ = strings.Cut(v, ": ")
		}
	}
	if kind != KindDelivery {
		return nil, fmt.Errorf("delivery job: %s is %q, not %q", HeaderKind, kind, KindDelivery)
	}
	if j.WebhookID == "" || j.SubscriptionID == "" || len(j.Event) == 0 {
		return nil, fmt.Errorf("delivery job: %s, %s and a value are required", HeaderWebhookID, HeaderSubscription)
	}
	var err error
	if j.Attempts, err = strconv.Atoi(attempts); err != nil || j.Attempts < 0 {
		return nil, fmt.Errorf("delivery job: %s %q is not a count", HeaderAttempt, attempts)
	}
	if j.Origin, err = parseOrigin(origin); err != nil {
		return nil, fmt.Errorf("delivery job: %w", err)
	}
	ms, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("delivery job: %s %q is not unix milliseconds", HeaderFirstAttempt, first)
	}
	j.FirstAttempt = time.UnixMilli(ms)
	if ms, err := strconv.ParseInt(eventTime, 10, 64); err == nil {
		j.EventTime = time.UnixMilli(ms)
	}
	j.LastStatus, _ = strconv.Atoi(status)
	return j, nil
}

func parseOrigin(s string) (Origin, error) {
	// Topic names cannot hold '/', so the last two fields are numbers.
	rest, off, ok1 := cutLast(s, "/")
	topic, part, ok2 := cutLast(rest, "/")
	o := Origin{Topic: topic}
	p, err1 := strconv.ParseInt(part, 10, 32)
	n, err2 := strconv.ParseInt(off, 10, 64)
	if !ok1 || !ok2 || topic == "" || err1 != nil || err2 != nil {
		return o, fmt.Errorf("%s %q is not topic/partition/offset", HeaderOrigin, s)
	}
	o.Partition, o.Offset = int32(p), n
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
// its original key and value, untouched, with the reason in headers.
func PoisonRecord(topic string, src *kgo.Record, reason, detail string) *kgo.Record {
	origin := Origin{Topic: src.Topic, Partition: src.Partition, Offset: src.Offset}
	r := &kgo.Record{Topic: topic, Key: src.Key, Value: src.Value}
	r.Headers = append(r.Headers,
		header(HeaderKind, KindPoison),
		header(HeaderOrigin, origin.String()),
		header(HeaderReason, "poison:"+reason),
		header(HeaderError, headerText(reason+": "+detail)),
	)
	// Keep the source's own headers after ours, as Kafka Connect does.
	r.Headers = append(r.Headers, src.Headers...)
	return r
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

// headerText caps a header value at 1 KiB of one line.
func headerText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 1024 {
		s = s[:1021] + "..."
	}
	return s
}
