// Package dlq reads hookstream's dead-letter topic for operators and
// replays what is in it.
//
// A DLQ record is addressed by "<partition>-<offset>". Listing scans the
// topic partition by partition from the offsets a filter implies, up to a
// scan budget, and returns a cursor to go on from. Replaying writes each
// selected delivery to the first retry rung with a fresh attempt count and
// its webhook-id unchanged, so receivers that deduplicate see one
// delivery. Kafka records cannot be removed: a replayed record stays in
// the DLQ, and replaying it twice sends it twice.
package dlq

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/retry"
)

// HeaderReplayedFrom marks a retry record written by a replay with the DLQ
// record it came from, "<topic>/<partition>/<offset>".
const HeaderReplayedFrom = "hookstream-replayed-from"

// pollTimeout bounds the wait for records a scan knows are there.
const pollTimeout = 10 * time.Second

// MaxValueBytes caps the event shown per listed record.
const MaxValueBytes = 4096

// Record is one DLQ record as the API lists it.
type Record struct {
	ID           string            `json:"id"`
	Partition    int32             `json:"partition"`
	Offset       int64             `json:"offset"`
	Time         time.Time         `json:"time"`
	Kind         string            `json:"kind"` // delivery or poison
	Subscription string            `json:"subscription,omitempty"`
	WebhookID    string            `json:"webhook_id,omitempty"`
	Reason       string            `json:"reason"`
	Error        string            `json:"error,omitempty"`
	Attempts     int               `json:"attempts"`
	Origin       string            `json:"origin,omitempty"`
	Headers      map[string]string `json:"headers"`
	// Value is the original event as text, cut at MaxValueBytes.
	Value          string `json:"value"`
	ValueBytes     int    `json:"value_bytes"`
	ValueTruncated bool   `json:"value_truncated,omitempty"`
}

// Filter selects DLQ records. Zero fields select everything.
type Filter struct {
	Subscription string
	Since, Until time.Time
	// IDs are "<partition>-<offset>" addresses.
	IDs []string
}

// ParseID splits a "<partition>-<offset>" address.
func ParseID(id string) (partition int32, offset int64, err error) {
	ps, os, ok := strings.Cut(id, "-")
	p, err1 := strconv.ParseInt(ps, 10, 32)
	o, err2 := strconv.ParseInt(os, 10, 64)
	if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
		return 0, 0, fmt.Errorf("%q is not <partition>-<offset>", id)
	}
	return int32(p), o, nil
}

// Reader lists and replays the DLQ.
type Reader struct {
	// Client produces replays and answers metadata; a scan uses a
	// consumer of its own, made with ConsumerOpts.
	Client       *kgo.Client
	ConsumerOpts []kgo.Opt
	Topic        string
	// FirstRung is the retry topic replays are written to.
	FirstRung string
	// ScanBudget caps the records one call reads. Default 100,000.
	ScanBudget int
	Now        func() time.Time
}

// span is the offsets [from, to) of one partition a scan reads.
type span struct {
	partition int32
	from, to  int64
}

// Page is one page of a listing.
type Page struct {
	Records []Record `json:"data"`
	// Next continues the listing; empty once the scan reached the end.
	Next    string `json:"next_cursor,omitempty"`
	Scanned int    `json:"scanned"`
}

// List returns up to limit records matching f, from cursor on.
func (r *Reader) List(ctx context.Context, f Filter, limit int, cursor string) (Page, error) {
	spans, err := r.spans(ctx, f, cursor)
	if err != nil {
		return Page{}, err
	}
	var page Page
	next, err := r.scan(ctx, spans, f, func(rec *kgo.Record) bool {
		page.Records = append(page.Records, describe(rec))
		return len(page.Records) < limit
	}, &page.Scanned)
	page.Next = next
	return page, err
}

// Result reports a replay.
type Result struct {
	Scanned  int `json:"scanned"`
	Matched  int `json:"matched"`
	Replayed int `json:"replayed"`
	// SkippedPoison counts matched records that are undecodable log
	// events, not deliveries: there is nothing to deliver them to.
	SkippedPoison int `json:"skipped_poison"`
	// Next, when set, is where a scan stopped at its budget; replay again
	// with it as cursor to go on.
	Next   string `json:"next_cursor,omitempty"`
	DryRun bool   `json:"dry_run"`
}

// Replay writes every delivery matching f, from cursor on, to the first
// retry rung, due now, with acks=all. With dryRun it only counts.
func (r *Reader) Replay(ctx context.Context, f Filter, cursor string, dryRun bool) (Result, error) {
	spans, err := r.spans(ctx, f, cursor)
	if err != nil {
		return Result{}, err
	}
	res := Result{DryRun: dryRun}
	var batch []*kgo.Record
	flush := func() error {
		if len(batch) == 0 || dryRun {
			batch = batch[:0]
			return nil
		}
		if err := r.Client.ProduceSync(ctx, batch...).FirstErr(); err != nil {
			return fmt.Errorf("write replays to %s: %w", r.FirstRung, err)
		}
		res.Replayed += len(batch)
		batch = batch[:0]
		return nil
	}
	var produceErr error
	now := r.now()
	res.Next, err = r.scan(ctx, spans, f, func(rec *kgo.Record) bool {
		res.Matched++
		job, err := retry.JobFromRecord(rec)
		if err != nil {
			res.SkippedPoison++
			return true
		}
		job.Attempts = 0
		out := job.Record(r.FirstRung, now, "")
		out.Headers = append(out.Headers, kgo.RecordHeader{Key: HeaderReplayedFrom,
			Value: []byte(r.Topic + "/" + strconv.Itoa(int(rec.Partition)) + "/" + strconv.FormatInt(rec.Offset, 10))})
		batch = append(batch, out)
		if len(batch) == 500 {
			produceErr = flush()
		}
		return produceErr == nil
	}, &res.Scanned)
	if err == nil {
		err = produceErr
	}
	if err == nil {
		err = flush()
	}
	if dryRun {
		res.Replayed = 0
	}
	return res, err
}

func (r *Reader) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// spans works out which offsets of which partitions a scan reads.
func (r *Reader) spans(ctx context.Context, f Filter, cursor string) ([]span, error) {
	adm := kadm.NewClient(r.Client)
	starts, err := adm.ListStartOffsets(ctx, r.Topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", r.Topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, r.Topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", r.Topic, err)
	}
	if err := ends.Error(); err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", r.Topic, err)
	}
	var after, before kadm.ListedOffsets
	if !f.Since.IsZero() {
		if after, err = adm.ListOffsetsAfterMilli(ctx, f.Since.UnixMilli(), r.Topic); err != nil {
			return nil, fmt.Errorf("find offsets after %s: %w", f.Since, err)
		}
	}
	if !f.Until.IsZero() {
		if before, err = adm.ListOffsetsAfterMilli(ctx, f.Until.UnixMilli()+1, r.Topic); err != nil {
			return nil, fmt.Errorf("find offsets after %s: %w", f.Until, err)
		}
	}
	cp, co, hasCursor, err := parseCursor(cursor)
	if err != nil {
		return nil, err
	}
	wanted := map[int32][2]int64{} // partition → [min, max] offset of IDs
	for _, id := range f.IDs {
		p, o, err := ParseID(id)
		if err != nil {
			return nil, err
		}
		w, ok := wanted[p]
		if !ok {
			w = [2]int64{o, o}
		}
		wanted[p] = [2]int64{min(w[0], o), max(w[1], o)}
	}
	var spans []span
	for p, end := range ends[r.Topic] {
		s := span{partition: p, from: 0, to: end.Offset}
		if st, ok := starts.Lookup(r.Topic, p); ok && st.Err == nil {
			s.from = st.Offset
		}
		if o, ok := after.Lookup(r.Topic, p); ok && o.Err == nil && o.Offset >= 0 {
			s.from = max(s.from, o.Offset)
		}
		if o, ok := before.Lookup(r.Topic, p); ok && o.Err == nil && o.Offset >= 0 {
			s.to = min(s.to, o.Offset)
		}
		if len(f.IDs) > 0 {
			w, ok := wanted[p]
			if !ok {
				continue
			}
			s.from, s.to = max(s.from, w[0]), min(s.to, w[1]+1)
		}
		if hasCursor {
			if p < cp {
				continue
			}
			if p == cp {
				s.from = max(s.from, co)
			}
		}
		if s.from < s.to {
			spans = append(spans, s)
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return int(a.partition - b.partition) })
	return spans, nil
}

// scan reads spans in order and calls fn with each record matching f
// until fn returns false or the budget is spent. It returns the cursor of
// the first record not handled, or "" when every span was read.
func (r *Reader) scan(ctx context.Context, spans []span, f Filter, fn func(*kgo.Record) bool, scanned *int) (string, error) {
	budget := r.ScanBudget
	if budget <= 0 {
		budget = 100_000
	}
	ids := make(map[string]bool, len(f.IDs))
	for _, id := range f.IDs {
		p, o, _ := ParseID(id)
		ids[recordID(p, o)] = true
	}
	for _, s := range spans {
		opts := append(slices.Clone(r.ConsumerOpts), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
			r.Topic: {s.partition: kgo.NewOffset().At(s.from)},
		}))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return "", fmt.Errorf("dlq consumer: %w", err)
		}
		next, done, err := r.scanSpan(ctx, cl, s, f, ids, fn, scanned, &budget)
		cl.Close()
		if err != nil || !done {
			return next, err
		}
	}
	return "", nil
}

func (r *Reader) scanSpan(ctx context.Context, cl *kgo.Client, s span, f Filter, ids map[string]bool,
	fn func(*kgo.Record) bool, scanned *int, budget *int) (next string, done bool, err error) {
	at := s.from
	for at < s.to {
		pctx, cancel := context.WithTimeout(ctx, pollTimeout)
		fetches := cl.PollFetches(pctx)
		stalled := pctx.Err() != nil
		cancel()
		if err := ctx.Err(); err != nil {
			return "", false, err
		}
		if stalled {
			return "", false, fmt.Errorf("read %s/%d: no record for %s at offset %d, below the end offset %d",
				r.Topic, s.partition, pollTimeout, at, s.to)
		}
		var ferr error
		fetches.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return "", false, fmt.Errorf("read %s/%d: %w", r.Topic, s.partition, ferr)
		}
		for _, rec := range fetches.Records() {
			if rec.Offset < at {
				continue
			}
			if rec.Offset >= s.to {
				return "", true, nil
			}
			if *budget == 0 {
				return cursorAt(s.partition, rec.Offset), false, nil
			}
			*budget--
			*scanned++
			at = rec.Offset + 1
			if !matches(rec, f, ids) {
				continue
			}
			if !fn(rec) {
				if at >= s.to {
					// The span is finished; go on at the next partition.
					return cursorAt(s.partition+1, 0), false, nil
				}
				return cursorAt(s.partition, at), false, nil
			}
		}
	}
	return "", true, nil
}

func matches(rec *kgo.Record, f Filter, ids map[string]bool) bool {
	if len(ids) > 0 && !ids[recordID(rec.Partition, rec.Offset)] {
		return false
	}
	if !f.Since.IsZero() && rec.Timestamp.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && rec.Timestamp.After(f.Until) {
		return false
	}
	if f.Subscription != "" {
		sub, _ := retry.HeaderValue(rec, retry.HeaderSubscription)
		return sub == f.Subscription
	}
	return true
}

func recordID(p int32, o int64) string {
	return strconv.FormatInt(int64(p), 10) + "-" + strconv.FormatInt(o, 10)
}

func describe(rec *kgo.Record) Record {
	d := Record{
		ID: recordID(rec.Partition, rec.Offset), Partition: rec.Partition, Offset: rec.Offset,
		Time: rec.Timestamp.UTC(), Headers: make(map[string]string, len(rec.Headers)), ValueBytes: len(rec.Value),
	}
	for _, h := range rec.Headers {
		if _, seen := d.Headers[h.Key]; seen {
			continue // the first counts, as for every reader of these records
		}
		v := string(h.Value)
		d.Headers[h.Key] = v
		switch h.Key {
		case retry.HeaderKind:
			d.Kind = v
		case retry.HeaderSubscription:
			d.Subscription = v
		case retry.HeaderWebhookID:
			d.WebhookID = v
		case retry.HeaderReason:
			d.Reason = v
		case retry.HeaderError:
			d.Error = v
		case retry.HeaderOrigin:
			d.Origin = v
		case retry.HeaderAttempt:
			d.Attempts, _ = strconv.Atoi(v)
		}
	}
	value := rec.Value
	if len(value) > MaxValueBytes {
		value = value[:MaxValueBytes]
		// Do not cut a UTF-8 sequence in two.
		for i := len(value) - 1; i >= len(value)-utf8.UTFMax && i >= 0; i-- {
			if utf8.RuneStart(value[i]) {
				if !utf8.FullRune(value[i:]) {
					value = value[:i]
				}
				break
			}
		}
		d.ValueTruncated = true
	}
	d.Value = string(value)
	return d
}

// A cursor is "<partition>-<offset>" of the next record to read, in
// base64 so that clients treat it as opaque.
func cursorAt(p int32, o int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(recordID(p, o)))
}

// ErrBadCursor is returned for a cursor this package did not make.
var ErrBadCursor = errors.New("invalid cursor")

func parseCursor(c string) (int32, int64, bool, error) {
	if c == "" {
		return 0, 0, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, 0, false, ErrBadCursor
	}
	p, o, err := ParseID(string(b))
	if err != nil {
		return 0, 0, false, ErrBadCursor
	}
	return p, o, true, nil
}
