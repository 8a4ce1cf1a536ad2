// Package processor is hookstream's pipeline. For a log event read from
// an input topic, and for a delivery job read from a retry rung, it runs
//
//	decode → match → render → sign → send → classify → settle
//
// and returns only once every delivery the record started has a durable
// outcome: delivered, or written with acks=all to the next rung or the
// DLQ.
package processor

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/history"
	"github.com/hookstream/hookstream/ingest"
	"github.com/hookstream/hookstream/internal/workers"
	"github.com/hookstream/hookstream/metrics"
	"github.com/hookstream/hookstream/payload"
	"github.com/hookstream/hookstream/retry"
	"github.com/hookstream/hookstream/subscription"
	"github.com/hookstream/hookstream/tracing"
)

// Producer writes records, waiting for their acknowledgement or calling
// back once it came; a *kgo.Client is one.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
	Produce(ctx context.Context, r *kgo.Record, promise func(*kgo.Record, error))
}

// Subscriptions gives the current subscription set; a
// *subscription.Cache is one.
type Subscriptions interface {
	Current() *subscription.Set
}

// History records delivery attempts; a *history.Recorder is one.
type History interface {
	Record(subscriptionID string, a history.Attempt)
}

// Health is told of the outcome of every attempt; a *health.Monitor is
// one.
type Health interface {
	Observe(subscriptionID string, delivered bool, at time.Time)
	Gone(subscriptionID string)
}

// Options configure a Processor.
type Options struct {
	// Events reads the events of input records, and of delivery jobs.
	Events *ingest.Reader
	// Tracer records a span per attempt; nil records none (trace
	// context is still passed on).
	Tracer        *tracing.Tracer
	Subscriptions Subscriptions
	Sender        *delivery.Sender
	Producer      Producer
	Ladder        retry.Ladder
	Metrics       *metrics.Metrics
	Logger        zerolog.Logger
	// History, when set, is told of every attempt made.
	History History
	// KeepRequests makes the history keep what an attempt sent when its
	// outcome carries it (failed attempts always do; delivered ones when
	// the sender keeps them).
	KeepRequests bool
	// Health, when set, is told of every attempt made, and of every
	// endpoint that answered 410 Gone.
	Health Health
	// Lookup, when set, reads a subscription from the store, to confirm
	// that one missing from (or disabled in) the cache really is before
	// its retries are dropped; a *subscription.Store's Get is one.
	Lookup func(ctx context.Context, id string) (subscription.Subscription, error)
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Linger is how long a rung record waits for others of its
	// subscription and rung, to be written with them as one bundle. Zero
	// writes each on its own.
	Linger time.Duration
	// BundleMaxBytes caps the value of a bundle. Default 64 KiB.
	BundleMaxBytes int
	// MaxHelpers bounds the goroutines that send a record's attempts
	// beside its own, across the process. A record whose attempts find
	// none free sends them one after another on its own goroutine: ten
	// thousand attempts parked on busy endpoints cost their stacks and
	// bodies, and send nothing sooner. Default 256.
	MaxHelpers int
	// MaxRecordBytes is the largest record the DLQ takes
	// (kafka.max_message_bytes); a larger poison record is cut to fit.
	// Default 1 MiB.
	MaxRecordBytes int
}

// Processor handles input and retry records. It is safe for concurrent
// use.
type Processor struct {
	Options
	retries   []prometheus.Counter // hookstream_retries_total of each rung
	retryNext []string             // "retry:<rung>" of each rung, as history shows it
	rungOf    map[string]string    // retry topic → rung name
	helpers   chan struct{}        // a token per helper goroutine sending attempts
	matchPool sync.Pool
	workers   *workers.Pool
	parcels   parcels
}

// New returns a Processor.
func New(opts Options) *Processor {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = 1 << 20
	}
	p := &Processor{Options: opts, rungOf: map[string]string{}, workers: workers.New(10 * time.Second)}
	for _, r := range opts.Ladder.Rungs {
		p.retries = append(p.retries, opts.Metrics.Retries.WithLabelValues(config.RungName(r.Delay)))
		p.retryNext = append(p.retryNext, "retry:"+config.RungName(r.Delay))
		p.rungOf[r.Topic] = config.RungName(r.Delay)
	}
	if opts.MaxHelpers <= 0 {
		opts.MaxHelpers = 256
	}
	p.helpers = make(chan struct{}, opts.MaxHelpers)
	p.matchPool.New = func() any { s := make([]*subscription.Compiled, 0, 8); return &s }
	if opts.BundleMaxBytes <= 0 {
		opts.BundleMaxBytes = 64 << 10
	}
	p.parcels = parcels{producer: opts.Producer, linger: opts.Linger, maxBytes: opts.BundleMaxBytes,
		bundled: func(topic string) { p.Metrics.Bundles.WithLabelValues(p.rungOf[topic]).Inc() }}
	return p
}

// HandleEvent processes a record of an input topic: decode its events
// (one, or one per log record of an OTLP request), match each, then each
// matching subscription's attempt (render, sign, send, settle).
func (p *Processor) HandleEvent(ctx context.Context, rec *kgo.Record) error {
	p.Metrics.Consumed(rec.Topic).Inc()
	events, poison := p.decode(rec)
	if poison != nil {
		return p.poison(ctx, rec, string(poison.Reason), poison.Detail)
	}
	if len(events) > 0 {
		p.Metrics.Read(cmp.Or(events[0].Format, "json")).Add(float64(len(events)))
	}
	if len(events) == 1 {
		return p.attemptEvent(ctx, rec, 0, events[0])
	}
	return p.attemptEvents(ctx, rec, events)
}

// attemptEvent makes the attempts of ev, the index-th event of rec.
func (p *Processor) attemptEvent(ctx context.Context, rec *kgo.Record, index int, ev *event.Event) error {
	matches, held := p.match(ev)
	defer p.unmatch(held, matches)
	if len(matches) == 0 {
		return nil
	}
	tc := tracing.FromRecord(rec.Headers)
	return p.attemptAll(ctx, len(matches), "", len(matches), func(i int) (*subscription.Compiled, *retry.Job, *event.Event) {
		return matches[i], p.newJob(rec, index, ev, matches[i], tc), ev
	})
}

// maxFanOut bounds how many attempts of a record's several events are
// sent at once.
const maxFanOut = 64

// attemptEvents makes the attempts of events, all of rec, together.
func (p *Processor) attemptEvents(ctx context.Context, rec *kgo.Record, events []*event.Event) error {
	type attempt struct {
		sub   *subscription.Compiled
		index int
	}
	var attempts []attempt
	for i, ev := range events {
		matches, held := p.match(ev)
		for _, sub := range matches {
			attempts = append(attempts, attempt{sub, i})
		}
		p.unmatch(held, matches)
	}
	if len(attempts) == 0 {
		return nil
	}
	tc := tracing.FromRecord(rec.Headers)
	return p.attemptAll(ctx, len(attempts), "", min(len(attempts), maxFanOut), func(i int) (*subscription.Compiled, *retry.Job, *event.Event) {
		a := attempts[i]
		ev := events[a.index]
		return a.sub, p.newJob(rec, a.index, ev, a.sub, tc), ev
	})
}

// Route is one delivery a record starts: the subscription an event of
// the record matches and the webhook-id its attempts carry.
type Route struct {
	SubscriptionID string `json:"subscription_id"`
	WebhookID      string `json:"webhook_id"`
}

// Routes are the deliveries rec starts, as HandleEvent would decode and
// match it now, without making them: what the console follows after it
// publishes an event. A poison record starts none.
func (p *Processor) Routes(rec *kgo.Record) []Route {
	events, poison := p.decode(rec)
	if poison != nil {
		return nil
	}
	var out []Route
	for i, ev := range events {
		origin := retry.Origin{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Index: i}
		for _, sub := range p.Subscriptions.Current().Match(ev, nil) {
			out = append(out, Route{SubscriptionID: sub.ID, WebhookID: WebhookID(origin, rec.Timestamp, sub.ID)})
		}
	}
	return out
}

// newJob is the delivery of ev, the index-th event of rec, to sub,
// continuing the record's trace context tc, or else the event's own.
func (p *Processor) newJob(rec *kgo.Record, index int, ev *event.Event, sub *subscription.Compiled, tc tracing.Context) *retry.Job {
	origin := retry.Origin{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Index: index}
	job := &retry.Job{
		WebhookID:      WebhookID(origin, rec.Timestamp, sub.ID),
		SubscriptionID: sub.ID,
		Origin:         origin,
		EventFormat:    ev.Format,
		EventType:      ev.Type,
		EventTime:      cmp.Or(ev.Time, rec.Timestamp),
		Event:          ev.Raw,
	}
	switch {
	case tc.Traceparent != "":
		job.Traceparent, job.Tracestate = tc.Traceparent, tc.Tracestate
	case ev.Traceparent != "":
		job.Traceparent = ev.Traceparent // the log record's own span
	}
	return job
}

// decode is the decode stage: the events of rec, or why it is poison.
func (p *Processor) decode(rec *kgo.Record) ([]*event.Event, *event.PoisonError) {
	events, err := p.Events.Read(rec)
	if err != nil {
		var poison *event.PoisonError
		if !errors.As(err, &poison) {
			poison = &event.PoisonError{Reason: event.ReasonInvalidJSON, Detail: err.Error()}
		}
		return nil, poison
	}
	return events, nil
}

// match is the match stage: the subscriptions ev matches, in a slice
// held from a pool until unmatch gives it back once the attempts are
// settled. When one of them renders the event's fields, they are decoded
// here, once, before the attempts read them at once.
func (p *Processor) match(ev *event.Event) (matches []*subscription.Compiled, held *[]*subscription.Compiled) {
	held = p.matchPool.Get().(*[]*subscription.Compiled)
	matches = p.Subscriptions.Current().Match(ev, (*held)[:0])
	if len(matches) == 0 {
		return matches, held
	}
	p.Metrics.EventsMatched.Inc()
	p.Metrics.Matches.Add(float64(len(matches)))
	for _, sub := range matches {
		if sub.Render.NeedsFields() {
			ev.Fields()
			break
		}
	}
	return matches, held
}

// unmatch gives back the slice match held, with matches in it (it may
// have grown).
func (p *Processor) unmatch(held *[]*subscription.Compiled, matches []*subscription.Compiled) {
	clear(matches)
	*held = matches[:0]
	p.matchPool.Put(held)
}

// attemptAll makes n attempts, the i-th of at(i) (its event is nil for
// a retry), read from rung (empty for the input), and returns once each
// is settled. Attempts an open circuit breaker refuses are settled in the
// background while the others are sent, up to fanOut at a time; the first
// runs on this goroutine.
func (p *Processor) attemptAll(ctx context.Context, n int, rung string, fanOut int,
	at func(int) (*subscription.Compiled, *retry.Job, *event.Event)) error {
	if n == 1 {
		sub, job, ev := at(0)
		return p.attempt(ctx, sub, job, rung, ev)
	}
	var refused *pending
	var small [4]sendable // most events match a few subscriptions
	live := small[:0]
	for i := range n {
		sub, job, ev := at(i)
		if out, ok := p.Sender.Refused(sub); ok {
			p.settle(ctx, sub, job, rung, p.Now(), out, &refused)
			continue
		}
		live = append(live, sendable{sub, job, ev})
	}
	var err error
	switch len(live) {
	case 0: // all refused
	case 1:
		err = p.deliver(ctx, live[0].sub, live[0].job, rung, live[0].ev)
	default:
		err = p.sendAll(ctx, live, rung, fanOut)
	}
	if werr := refused.wait(ctx); werr != nil {
		err = errors.Join(err, werr)
	}
	return err
}

// sendable is an attempt to send, of ev (nil for a retry).
type sendable struct {
	sub *subscription.Compiled
	job *retry.Job
	ev  *event.Event
}

// sendAll sends the attempts of live, up to fanOut at a time, with
// helpers from the pool while it has them; this goroutine sends the rest.
func (p *Processor) sendAll(ctx context.Context, live []sendable, rung string, fanOut int) error {
	attempts := slices.Clone(live) // the helpers read them: live stays on the caller's stack
	errs := make([]error, len(attempts))
	var next atomic.Int32
	run := func() {
		for i := int(next.Add(1)) - 1; i < len(attempts); i = int(next.Add(1)) - 1 {
			a := attempts[i]
			errs[i] = p.deliver(ctx, a.sub, a.job, rung, a.ev)
		}
	}
	var wg sync.WaitGroup
helpers:
	for range min(len(attempts), fanOut) - 1 {
		select {
		case p.helpers <- struct{}{}:
		default:
			break helpers
		}
		wg.Add(1)
		p.workers.Go(func() { defer wg.Done(); defer func() { <-p.helpers }(); run() })
	}
	run()
	wg.Wait()
	return errors.Join(errs...)
}

// bundleFanOut is how many of a bundle's jobs are sent at once.
const bundleFanOut = 16

// HandleJob processes a delivery job, or a bundle of them, from a retry
// rung. The attempt uses the subscription as it is now; a job whose
// subscription was deleted or disabled is dropped. A job whose endpoint
// asked for a later attempt than its rung's delay goes round the last
// rung again without an attempt.
func (p *Processor) HandleJob(ctx context.Context, rec *kgo.Record) error {
	subID, jobs, err := readJobs(rec)
	if err != nil {
		p.Metrics.JobsDropped.WithLabelValues("undecodable").Inc()
		return p.poison(ctx, rec, "invalid_job", err.Error())
	}
	sub, err := p.subscription(ctx, subID, len(jobs))
	if sub == nil {
		return err
	}
	if !sub.Enabled {
		return p.deadLetter(ctx, sub, jobs, retry.Disabled(string(sub.DisabledReason)))
	}
	now := p.Now()
	var held *pending
	due := jobs[:0:0]
	for _, job := range jobs {
		if at := p.Ladder.Due(job, now); at.After(now) {
			if held == nil {
				held = newPending()
			}
			p.hold(ctx, sub, job, at, held)
			continue
		}
		due = append(due, job)
	}
	if len(due) > 0 {
		late := p.Metrics.RetryLateness.WithLabelValues(p.rungOf[rec.Topic])
		for _, job := range due {
			if !job.NotBefore.IsZero() {
				late.Observe(max(0, now.Sub(job.NotBefore).Seconds()))
			}
		}
	}
	if len(due) > 0 {
		err = p.attemptAll(ctx, len(due), p.rungOf[rec.Topic], bundleFanOut, func(i int) (*subscription.Compiled, *retry.Job, *event.Event) {
			return sub, due[i], nil
		})
	}
	if held != nil {
		err = errors.Join(err, held.wait(ctx))
	}
	return err
}

// readJobs reads the job or the bundle of jobs of a rung record.
func readJobs(rec *kgo.Record) (string, []*retry.Job, error) {
	if retry.IsBundle(rec) {
		return retry.JobsFromBundle(rec)
	}
	job, err := retry.JobFromRecord(rec)
	if err != nil {
		return "", nil, err
	}
	return job.SubscriptionID, []*retry.Job{job}, nil
}

// subscription returns the subscription of jobs retried, or nil when it
// was deleted or disabled by an operator and they are dropped. The jobs
// of a subscription that hookstream disabled are not dropped: the caller
// dead-letters them. Before dropping anything it asks the store, when
// there is one: a worker whose cache missed a change, or cannot reach
// Redis, must not drop jobs of a subscription that exists; it returns an
// error instead, and the record is handled again once the cache caught
// up.
func (p *Processor) subscription(ctx context.Context, id string, jobs int) (*subscription.Compiled, error) {
	sub, ok := p.Subscriptions.Current().Get(id)
	reason := ""
	switch {
	case !ok:
		reason = "subscription_deleted"
	case !sub.Enabled && sub.DisabledReason == "":
		reason = "subscription_disabled"
	default:
		return sub, nil
	}
	if p.Lookup != nil {
		stored, err := p.Lookup(ctx, id)
		switch {
		case errors.Is(err, subscription.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("retries of subscription %s: cannot confirm in the store that it is gone: %w", id, err)
		case !ok || stored.Enabled || stored.DisabledReason != "":
			return nil, fmt.Errorf("retries of subscription %s: this worker's cache is behind the store", id)
		}
	}
	p.Metrics.JobsDropped.WithLabelValues(reason).Add(float64(jobs))
	p.Logger.Info().Str("subscription", id).Int("jobs", jobs).Str("reason", reason).Msg("retries dropped")
	return nil, nil
}

// deadLetter writes jobs to the DLQ without an attempt, each as a record
// of its own, for reason.
func (p *Processor) deadLetter(ctx context.Context, sub *subscription.Compiled, jobs []*retry.Job, reason retry.DLQReason) error {
	w := newPending()
	written := p.Metrics.DLQWrites.WithLabelValues(reason.Label()).Inc
	for _, job := range jobs {
		s := settlement{rec: job.Record(p.Ladder.DLQ, time.Time{}, reason), topic: p.Ladder.DLQ, next: "dlq", dlqReason: reason}
		p.writeInto(ctx, sub.ID, s, w, written)
	}
	p.Logger.Info().Str("subscription", sub.ID).Int("jobs", len(jobs)).Str("dlq_reason", string(reason)).
		Msg("retries of a disabled subscription dead-lettered")
	return w.wait(ctx)
}

// hold writes job, not due before at, round the last rung again without
// an attempt; wait on into learns the outcome.
func (p *Processor) hold(ctx context.Context, sub *subscription.Compiled, job *retry.Job, at time.Time, into *pending) {
	step := p.Ladder.Hold(at)
	s := settlement{job: job, topic: step.Topic, rung: step.Rung, notBefore: step.NotBefore}
	p.writeInto(ctx, sub.ID, s, into, p.Metrics.RetriesHeld.Inc)
}

// attempt makes one attempt of job, read from rung (empty for the
// input), and settles it. ev is job's decoded event, nil for a retry.
func (p *Processor) attempt(ctx context.Context, sub *subscription.Compiled, job *retry.Job, rung string, ev *event.Event) error {
	if out, ok := p.Sender.Refused(sub); ok {
		return p.finish(ctx, sub, job, rung, p.Now(), out)
	}
	return p.deliver(ctx, sub, job, rung, ev)
}

// deliver makes one attempt of job: render, sign, send (which
// classifies), then settle.
func (p *Processor) deliver(ctx context.Context, sub *subscription.Compiled, job *retry.Job, rung string, ev *event.Event) error {
	now := p.Now()
	req, err := p.render(sub, job, ev)
	if err != nil {
		return p.finish(ctx, sub, job, rung, now, renderFailed(err))
	}
	p.sign(sub, &req, now)
	ctx, span := p.trace(ctx, sub, job, rung, &req)
	out := p.Sender.Send(ctx, sub, &req)
	span.End(out.Status, out.Class.String(), string(out.Reason))
	return p.finish(ctx, sub, job, rung, now, out)
}

// trace is the trace stage: req carries the delivery's trace context,
// and when spans are recorded the attempt gets one, which req carries
// instead. A delivery that came without a trace continues the one its
// first attempt began.
func (p *Processor) trace(ctx context.Context, sub *subscription.Compiled, job *retry.Job, rung string, req *delivery.Request) (context.Context, tracing.Attempt) {
	parent := tracing.Context{Traceparent: job.Traceparent, Tracestate: job.Tracestate}
	if !p.Tracer.On() {
		req.Traceparent, req.Tracestate = parent.Traceparent, parent.Tracestate
		return ctx, tracing.Attempt{}
	}
	ctx, span, tc := p.Tracer.Start(ctx, parent,
		attribute.String("hookstream.subscription", sub.ID), attribute.String("hookstream.webhook_id", job.WebhookID),
		attribute.Int("hookstream.attempt", job.Attempts+1), attribute.String("hookstream.rung", cmp.Or(rung, "input")),
		attribute.String("server.address", sub.Host))
	req.Traceparent, req.Tracestate = tc.Traceparent, tc.Tracestate
	if job.Traceparent == "" {
		job.Traceparent, job.Tracestate = tc.Traceparent, tc.Tracestate
	}
	return ctx, span
}

// render is the render stage: the request sub's endpoint expects for
// job's event. ev is the decoded event, or nil for a retried job, whose
// event is decoded again when its format reads more than its type.
func (p *Processor) render(sub *subscription.Compiled, job *retry.Job, ev *event.Event) (delivery.Request, error) {
	if ev == nil {
		ev = &event.Event{Raw: job.Event, Type: job.EventType, Format: job.EventFormat}
		if sub.Render.NeedsEvent() {
			var err error
			if ev, err = p.Events.Stored(job.EventFormat, job.Event); err != nil {
				return delivery.Request{}, err
			}
		}
	}
	in := payload.Input{WebhookID: job.WebhookID, SubscriptionID: sub.ID, URL: sub.URL, Event: ev, Time: job.EventTime}
	r, err := sub.Render.Render(&in, nil)
	return delivery.Request{Request: r, WebhookID: job.WebhookID}, err
}

// renderFailed is the outcome of an attempt whose payload could not be
// rendered: retrying cannot help.
func renderFailed(err error) delivery.Outcome {
	return delivery.Outcome{Class: delivery.Permanent, Reason: delivery.ReasonRenderFailed, Err: err}
}

// sign is the sign stage: it stamps req with now and, when sub's
// deliveries are signed, signs it with every key that may sign.
func (p *Processor) sign(sub *subscription.Compiled, req *delivery.Request, now time.Time) {
	req.Timestamp = now
	if sub.Render.Signed() {
		req.Signature = sub.Signer.Signatures(req.WebhookID, now, req.Body)
	}
}

// Prepare renders and signs a delivery of raw, a log event, to sub as an
// attempt would, without sending it: for test deliveries and previews.
func (p *Processor) Prepare(sub *subscription.Compiled, webhookID string, raw []byte, now time.Time) (delivery.Request, error) {
	ev, err := p.Events.JSON().Decode(raw)
	if err != nil {
		return delivery.Request{}, err
	}
	job := &retry.Job{WebhookID: webhookID, SubscriptionID: sub.ID, EventType: ev.Type, EventTime: cmp.Or(ev.Time, now), Event: raw}
	req, err := p.render(sub, job, ev)
	if err != nil {
		return req, err
	}
	p.sign(sub, &req, now)
	return req, nil
}

// finish settles an attempt made at now and waits until its outcome is
// durable.
func (p *Processor) finish(ctx context.Context, sub *subscription.Compiled, job *retry.Job, rung string, now time.Time, out delivery.Outcome) error {
	if out.Reason == delivery.ReasonCanceled {
		// Shutting down: this attempt does not count and the record stays
		// uncommitted, to be redelivered.
		return fmt.Errorf("attempt canceled: %w", ctx.Err())
	}
	var w *pending
	p.settle(ctx, sub, job, rung, now, out, &w)
	return w.wait(ctx)
}

// settle counts an attempt made (or refused) at now, decides where it
// goes and makes that durable in the background; wait on *into learns the
// outcome. *into is made when there is something to wait for: most
// attempts are delivered and have nothing to write. It is the one place
// an attempt is settled.
func (p *Processor) settle(ctx context.Context, sub *subscription.Compiled, job *retry.Job, rung string, now time.Time, out delivery.Outcome, into **pending) {
	out = p.count(job, now, out)
	s := p.plan(sub, job, out)
	if s.topic == "" {
		p.settled(sub, job, rung, now, out, s)
		return
	}
	if *into == nil {
		*into = newPending()
	}
	(*into).add()
	st := settlings.Get().(*settling)
	*st = settling{p: p, sub: sub, job: job, rung: rung, now: now, out: out, s: s, into: *into}
	p.write(ctx, sub.ID, st)
}

// writeInto makes s durable in the background, then calls then; wait on
// into learns the outcome.
func (p *Processor) writeInto(ctx context.Context, sub string, s settlement, into *pending, then func()) {
	into.add()
	st := settlings.Get().(*settling)
	*st = settling{p: p, s: s, into: into, then: then}
	p.write(ctx, sub, st)
}

// settling is an attempt whose outcome is being made durable, with what
// is done once it is: one value per attempt, where closures would make
// several. It goes back to settlings once told the outcome.
type settling struct {
	p    *Processor
	sub  *subscription.Compiled
	job  *retry.Job
	rung string
	now  time.Time
	out  delivery.Outcome
	s    settlement
	into *pending
	then func() // instead of settled, for writes that are not attempts
}

// settlings recycles the settling of each write: refused deliveries make
// one each, at the rate events come in.
var settlings = sync.Pool{New: func() any { return new(settling) }}

// written is told the outcome of the write, once.
func (st *settling) written(err error) {
	switch {
	case err != nil:
		st.into.fail(st.p.produceError(st.s.topic, err))
	case st.then != nil:
		st.then()
	default:
		st.p.settled(st.sub, st.job, st.rung, st.now, st.out, st.s)
	}
	into := st.into
	*st = settling{}
	settlings.Put(st)
	into.done()
}

// write makes st's settlement durable in the background and tells st the
// outcome: a job for a rung goes with its subscription's parcel, a DLQ
// record on its own.
func (p *Processor) write(ctx context.Context, sub string, st *settling) {
	if st.s.rec != nil {
		p.Producer.Produce(ctx, st.s.rec, func(_ *kgo.Record, err error) { st.written(err) })
		return
	}
	// A rung record is timed by the clock its not-before was read from.
	stamp := st.s.stamp
	if stamp.IsZero() {
		stamp = p.Now()
	}
	p.parcels.add(sub, st.s.topic, st.s.job, st.s.notBefore, stamp, st)
}

// pending collects the outcomes of records written in the background.
// It comes from newPending and goes back to the pool when wait returns
// with every write done: wait is its last use.
type pending struct {
	mu      sync.Mutex
	n       int           // writes not done
	waiting bool          // someone waits for n to drop to 0
	idle    chan struct{} // given a value when n drops to 0 while someone waits
	err     error
}

// pendings recycles pending values, one per event or bundle that writes.
var pendings = sync.Pool{New: func() any { return &pending{idle: make(chan struct{}, 1)} }}

func newPending() *pending { return pendings.Get().(*pending) }

func (w *pending) add() {
	w.mu.Lock()
	w.n++
	w.mu.Unlock()
}

func (w *pending) done() {
	w.mu.Lock()
	w.n--
	wake := w.n == 0 && w.waiting
	if wake {
		w.waiting = false
	}
	w.mu.Unlock()
	if wake {
		w.idle <- struct{}{} // never blocks: one value per wait, and room for it
	}
}

func (w *pending) fail(err error) {
	w.mu.Lock()
	w.err = errors.Join(w.err, err)
	w.mu.Unlock()
}

// wait returns once every write is done, with their errors, or when ctx
// ends: a write the broker does not acknowledge must not hold a shutdown.
// A nil *pending has nothing to wait for.
func (w *pending) wait(ctx context.Context) error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	if w.n > 0 {
		w.waiting = true
		w.mu.Unlock()
		select {
		case <-w.idle:
		case <-ctx.Done():
			// Its writes are yet to be told: w stays out of the pool.
			return fmt.Errorf("waiting for retry and DLQ writes: %w", ctx.Err())
		}
		w.mu.Lock()
	}
	err := w.err
	w.err = nil
	w.mu.Unlock()
	pendings.Put(w)
	return err
}

// count notes an attempt of job made (or refused, or put off) at now and
// returns its outcome. A delivery put off more than retry.MaxPutOffs
// times in a row because its endpoint was saturated counts as a failed
// attempt; one waiting for its endpoint's rate limit waits as long as it
// takes.
func (p *Processor) count(job *retry.Job, now time.Time, out delivery.Outcome) delivery.Outcome {
	if job.Attempts == 0 {
		job.FirstAttempt = now
	}
	switch {
	case out.NotAttempted && out.Reason != delivery.ReasonSaturated:
	case out.NotAttempted && job.PutOffs < retry.MaxPutOffs:
		job.PutOffs++
	default:
		out.NotAttempted = false
		job.Attempts++
		job.PutOffs = 0
	}
	p.Metrics.Attempt(out.Class.String(), string(out.Reason)).Inc()
	if out.Latency > 0 && out.Reason != delivery.ReasonCircuitOpen {
		p.Metrics.AttemptTook(out.Class.String()).Observe(out.Latency.Seconds())
	}
	return out
}

// settlement is where a finished attempt goes: the topic that gives it
// its durable outcome (empty when delivered) and what is written there,
// and where history shows it went next: "", "retry:<rung>" or "dlq".
type settlement struct {
	topic     string      // where it is written; empty when delivered
	job       *retry.Job  // written to a rung, with its parcel
	rec       *kgo.Record // written to the DLQ, on its own
	next      string
	rung      int             // the rung's index, for a retry
	notBefore time.Time       // when a retry is due
	stamp     time.Time       // the clock reading notBefore came from; zero: read it at the write
	dlqReason retry.DLQReason // for the DLQ
}

// plan decides where a finished attempt goes.
func (p *Processor) plan(sub *subscription.Compiled, job *retry.Job, out delivery.Outcome) settlement {
	if out.Class == delivery.Delivered {
		return settlement{}
	}
	job.LastStatus, job.LastReason = out.Status, string(out.Reason)
	if out.Err != nil {
		job.LastError = out.Err.Error()
		if len(out.Body) > 0 {
			// It quotes the response, which may echo what was sent.
			job.LastError = subscription.MaskIn(job.LastError, delivery.SentSecrets(sub, out.Sent))
		}
	}
	var reason retry.DLQReason
	if out.Class == delivery.Retryable {
		var step retry.Step
		now := p.Now()
		if out.NotAttempted {
			step = p.Ladder.PutOff(now)
		} else {
			step = p.Ladder.Next(job.Attempts, sub.MaxAttempts, out.RetryAfter, now)
		}
		job.RetryAfter = step.RetryAfter
		if step.Rung >= 0 {
			return settlement{job: job, topic: step.Topic, next: p.retryNext[step.Rung], rung: step.Rung, notBefore: step.NotBefore, stamp: now}
		}
		reason = retry.DLQExhausted
	} else if out.Reason == delivery.ReasonGone {
		reason = retry.DLQGone
	} else {
		reason = retry.Permanent(string(out.Reason))
	}
	return settlement{rec: job.Record(p.Ladder.DLQ, time.Time{}, reason), topic: p.Ladder.DLQ, next: "dlq", dlqReason: reason}
}

// settled counts and logs an attempt whose outcome is durable, and adds it
// to the delivery history.
func (p *Processor) settled(sub *subscription.Compiled, job *retry.Job, rung string, now time.Time, out delivery.Outcome, s settlement) {
	switch {
	case s.topic == "":
		// The common path: no child logger, no allocation unless debugging.
		p.Logger.Debug().Str("subscription", sub.ID).Str("webhook_id", job.WebhookID).
			Int("status", out.Status).Dur("latency", out.Latency).Msg("delivered")
	case s.next == "dlq":
		p.Metrics.DLQWrites.WithLabelValues(s.dlqReason.Label()).Inc()
		p.Logger.Warn().Str("subscription", sub.ID).Str("webhook_id", job.WebhookID).Int("attempt", job.Attempts).
			Str("reason", string(out.Reason)).Str("dlq_reason", string(s.dlqReason)).Str("error", job.LastError).Msg("delivery dead-lettered")
	default:
		p.retries[s.rung].Inc()
		p.Logger.Debug().Str("subscription", sub.ID).Str("webhook_id", job.WebhookID).Int("attempt", job.Attempts).
			Str("reason", string(out.Reason)).Str("topic", s.topic).Msg("retry scheduled")
	}
	if out.NotAttempted {
		return
	}
	if p.Health != nil {
		p.Health.Observe(sub.ID, out.Class == delivery.Delivered, now)
		if out.Reason == delivery.ReasonGone {
			p.Health.Gone(sub.ID)
		}
	}
	if p.History == nil {
		return
	}
	a := history.Attempt{Time: now, WebhookID: job.WebhookID, Number: job.Attempts, Rung: rung,
		Outcome: out.Class.String(), Reason: string(out.Reason), Status: out.Status,
		LatencyMS: float64(out.Latency.Microseconds()) / 1000, Next: s.next}
	if out.Err != nil {
		a.Error = job.LastError // plan has formatted it
	}
	if out.Sent != nil && p.KeepRequests {
		a.Request, a.Response = sentRequest(sub, out)
	}
	p.History.Record(sub.ID, a)
}

// sentRequest is what a failed attempt sent and the start of what came
// back, as the history keeps them: secrets masked, bodies cut at
// history.MaxBody.
func sentRequest(sub *subscription.Compiled, out delivery.Outcome) (*history.Request, string) {
	secrets := delivery.SentSecrets(sub, out.Sent)
	shown := history.Request(out.Sent.Show(sub, secrets, history.MaxBody))
	return &shown, delivery.ShowText(out.Body[:min(len(out.Body), history.MaxBody)], secrets)
}

func (p *Processor) poison(ctx context.Context, rec *kgo.Record, reason, detail string) error {
	p.Metrics.Poison.WithLabelValues(reason).Inc()
	if err := p.produce(ctx, retry.PoisonRecord(p.Ladder.DLQ, rec, reason, detail, p.MaxRecordBytes)); err != nil {
		return err
	}
	p.Metrics.DLQWrites.WithLabelValues(retry.Poison(reason).Label()).Inc()
	p.Logger.Warn().Str("topic", rec.Topic).Int32("partition", rec.Partition).Int64("offset", rec.Offset).
		Str("reason", reason).Str("detail", detail).Msg("poison record dead-lettered")
	return nil
}

// produce writes rec and waits for acks=all. The client retries what can
// be retried; an error here means the record has no durable outcome.
func (p *Processor) produce(ctx context.Context, rec *kgo.Record) error {
	if err := p.Producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return p.produceError(rec.Topic, err)
	}
	return nil
}

func (p *Processor) produceError(topic string, err error) error {
	p.Metrics.ProduceErrors.WithLabelValues(topic).Inc()
	return fmt.Errorf("write to %s: %w", topic, err)
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// WebhookID derives a delivery's webhook-id from the log event's place in
// Kafka (its record, and its index among the record's events) and the
// subscription, so every retry and every redelivery after a
// crash or rebalance carries the same id and receivers can deduplicate.
func WebhookID(origin retry.Origin, recordTime time.Time, subscriptionID string) string {
	h := sha256.New()
	var buf [20]byte
	h.Write([]byte(origin.Topic))
	h.Write([]byte{0})
	binary.BigEndian.PutUint32(buf[0:4], uint32(origin.Partition))
	binary.BigEndian.PutUint64(buf[4:12], uint64(origin.Offset))
	binary.BigEndian.PutUint64(buf[12:20], uint64(recordTime.UnixMilli()))
	h.Write(buf[:])
	h.Write([]byte(subscriptionID))
	if origin.Index > 0 {
		// The place of one of a record's several events; the first keeps
		// the id a record of one event has.
		binary.BigEndian.PutUint32(buf[0:4], uint32(origin.Index))
		h.Write([]byte{0})
		h.Write(buf[:4])
	}
	var sum [sha256.Size]byte
	id := make([]byte, 0, len("msg_")+26) // 16 bytes are 26 base32 digits unpadded
	id = append(id, "msg_"...)
	return string(idEncoding.AppendEncode(id, h.Sum(sum[:0])[:16]))
}
