package retry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kgo"
)

// KindBundle marks a rung record that carries several delivery jobs of
// one subscription, written together because they failed together (most
// often refused by the subscription's open circuit breaker). Bundles only
// ever go to retry rungs: the DLQ holds one delivery per record.
const KindBundle = "bundle"

// HeaderJobs is the number of jobs a bundle carries.
const HeaderJobs = "hookstream-jobs"

// maxBundleHeaders bounds the headers of one job read from a bundle: a
// job has a dozen, and a corrupt count must not allocate much.
const maxBundleHeaders = 64

// BundledSize is the number of bytes rec, a job's rung record, takes in a
// bundle.
func BundledSize(rec *kgo.Record) int {
	n := uvarintLen(len(rec.Headers)) + uvarintLen(len(rec.Value)) + len(rec.Value)
	for _, h := range rec.Headers {
		n += uvarintLen(len(h.Key)) + len(h.Key) + uvarintLen(len(h.Value)) + len(h.Value)
	}
	return n
}

// Bundle encodes recs, rung records of jobs of subscription sub made by
// Job.Record, as one record for topic, due at notBefore, keyed like the
// first of them. Its value is each job's headers and event in turn:
//
//	uvarint(headers) { uvarint(len) key uvarint(len) value }… uvarint(len) event
//
// so reading a bundle back parses no JSON either.
func Bundle(topic, sub string, notBefore time.Time, recs []*kgo.Record) *kgo.Record {
	size := 0
	for _, r := range recs {
		size += BundledSize(r)
	}
	value := make([]byte, 0, size)
	for _, r := range recs {
		value = appendBundledEntry(value, r.Headers, r.Value)
	}
	return BundleRecord(topic, sub, notBefore, recs[0].Key, value, len(recs))
}

// appendBundledEntry appends one job's headers and event as a bundle
// holds them.
func appendBundledEntry(value []byte, hs []kgo.RecordHeader, event []byte) []byte {
	value = binary.AppendUvarint(value, uint64(len(hs)))
	for _, h := range hs {
		value = binary.AppendUvarint(value, uint64(len(h.Key)))
		value = append(value, h.Key...)
		value = binary.AppendUvarint(value, uint64(len(h.Value)))
		value = append(value, h.Value...)
	}
	value = binary.AppendUvarint(value, uint64(len(event)))
	return append(value, event...)
}

// BundleRecord is the bundle of n jobs of subscription sub whose entries
// (Job.AppendBundled) make value, for topic, due at notBefore, keyed key.
func BundleRecord(topic, sub string, notBefore time.Time, key, value []byte, n int) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: key, Value: value, Headers: []kgo.RecordHeader{
		header(HeaderKind, KindBundle),
		header(HeaderSubscription, sub),
		header(HeaderJobs, strconv.Itoa(n)),
		header(HeaderNotBefore, strconv.FormatInt(notBefore.UnixMilli(), 10)),
	}}
}

// IsBundle reports whether r is a bundle of jobs.
func IsBundle(r *kgo.Record) bool {
	kind, _ := HeaderValue(r, HeaderKind)
	return kind == KindBundle
}

// JobsFromBundle reads back the jobs of a bundle, all of its subscription.
// Their events share the record's value.
func JobsFromBundle(r *kgo.Record) (string, []*Job, error) {
	if !IsBundle(r) {
		return "", nil, fmt.Errorf("bundle: %s is not %q", HeaderKind, KindBundle)
	}
	sub, _ := HeaderValue(r, HeaderSubscription)
	count, _ := HeaderValue(r, HeaderJobs)
	n, err := strconv.Atoi(count)
	if sub == "" || err != nil || n < 1 || n > len(r.Value) {
		return "", nil, fmt.Errorf("bundle: %s and a %s count are required, got %q and %q", HeaderSubscription, HeaderJobs, sub, count)
	}
	jobs := make([]*Job, 0, n)
	rest := r.Value
	var ss strs
	for i := range n {
		var job *Job
		job, rest, err = readBundled(rest, &ss)
		if err != nil {
			return "", nil, fmt.Errorf("bundle: job %d of %d: %w", i+1, n, err)
		}
		if job.SubscriptionID != sub {
			return "", nil, fmt.Errorf("bundle: job %d of %d is of subscription %q, not %q", i+1, n, job.SubscriptionID, sub)
		}
		jobs = append(jobs, job)
	}
	if len(rest) > 0 {
		return "", nil, fmt.Errorf("bundle: %d bytes after its %d jobs", len(rest), n)
	}
	return sub, jobs, nil
}

var errTruncated = errors.New("truncated")

// readBundled reads one job from the front of b: its headers, read in
// place, and its event, which shares b's array.
func readBundled(b []byte, ss *strs) (*Job, []byte, error) {
	n, b, ok := readLen(b)
	if !ok || n > maxBundleHeaders {
		return nil, nil, fmt.Errorf("header count: %w", errTruncated)
	}
	var h jobHeaders
	for i := range n {
		var k, v []byte
		if k, b, ok = readBytes(b); !ok {
			return nil, nil, fmt.Errorf("header %d: %w", i+1, errTruncated)
		}
		if v, b, ok = readBytes(b); !ok {
			return nil, nil, fmt.Errorf("header %s: %w", k, errTruncated)
		}
		// The key is only compared: it need not be copied.
		h.set(unsafe.String(unsafe.SliceData(k), len(k)), v)
	}
	event, b, ok := readBytes(b)
	if !ok {
		return nil, nil, fmt.Errorf("event: %w", errTruncated)
	}
	job, err := h.jobWith(event, ss)
	return job, b, err
}

// readLen reads a uvarint length that fits in what follows it.
func readLen(b []byte) (int, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return 0, nil, false
	}
	return int(n), b[k:], true
}

// readBytes reads a length-prefixed field, sharing b's array.
func readBytes(b []byte) ([]byte, []byte, bool) {
	n, b, ok := readLen(b)
	if !ok {
		return nil, nil, false
	}
	return b[:n:n], b[n:], true
}

func uvarintLen(n int) int {
	k := 1
	for ; n >= 0x80; n >>= 7 {
		k++
	}
	return k
}
