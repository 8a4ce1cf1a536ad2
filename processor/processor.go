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
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/event"
	"github.com/hookstream/hookstream/history"
	"github.com/hookstream/hookstream/internal/workers"
	"github.com/hookstream/hookstream/metrics"
	"github.com/hookstream/hookstream/subscription"
)

// Producer writes records and waits for their acknowledgement; a
// *kgo.Client is one.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
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

// Options configure a Processor.
type Options struct {
	Decoder       *event.Decoder
	Subscriptions Subscriptions
	Sender        *delivery.Sender
	Producer      Producer
	Ladder        delivery.Ladder
	Metrics       *metrics.Metrics
	Logger        zerolog.Logger
	// History, when set, is told of every attempt made.
	History History
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Processor handles input and retry records. It is safe for concurrent
// use.
type Processor struct {
	Options
	rungNames []string
	retryNext []string          // "retry:<rung>" of each rung, as history shows it
	rungOf    map[string]string // retry topic → rung name
	matchPool sync.Pool
	workers   *workers.Pool
}

// New returns a Processor.
func New(opts Options) *Processor {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Processor{Options: opts, rungOf: map[string]string{}, workers: workers.New(10 * time.Second)}
	for _, r := range opts.Ladder.Rungs {
		p.rungNames = append(p.rungNames, config.RungName(r.Delay))
		p.retryNext = append(p.retryNext, "retry:"+config.RungName(r.Delay))
		p.rungOf[r.Topic] = config.RungName(r.Delay)
	}
	p.matchPool.New = func() any { s := make([]*subscription.Compiled, 0, 8); return &s }
	return p
}

// HandleEvent processes a log event from an input topic.
func (p *Processor) HandleEvent(ctx context.Context, rec *kgo.Record) error {
	p.Metrics.EventsConsumed.WithLabelValues(rec.Topic).Inc()
	ev, err := p.Decoder.Decode(rec.Value)
	if err != nil {
		var poison *event.PoisonError
		if !errors.As(err, &poison) {
			poison = &event.PoisonError{Reason: event.ReasonInvalidJSON, Detail: err.Error()}
		}
		return p.poison(ctx, rec, string(poison.Reason), poison.Detail)
	}
	bp := p.matchPool.Get().(*[]*subscription.Compiled)
	matches := p.Subscriptions.Current().Match(ev, (*bp)[:0])
	defer func() {
		clear(matches)
		*bp = matches[:0]
		p.matchPool.Put(bp)
	}()
	if len(matches) == 0 {
		return nil
	}
	p.Metrics.EventsMatched.Inc()
	p.Metrics.Matches.Add(float64(len(matches)))

	origin := delivery.Origin{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset}
	evTime := ev.Time
	if evTime.IsZero() {
		evTime = rec.Timestamp
	}
	job := func(sub *subscription.Compiled) *delivery.Job {
		return &delivery.Job{
			WebhookID:      WebhookID(origin, rec.Timestamp, sub.ID),
			SubscriptionID: sub.ID,
			Origin:         origin,
			EventType:      ev.Type,
			EventTime:      evTime,
			Event:          rec.Value,
		}
	}
	if len(matches) == 1 {
		return p.attempt(ctx, matches[0], job(matches[0]), "")
	}
	// Each subscription's delivery runs on its own, so a slow endpoint
	// holds back only its own attempt; the first runs here.
	errs := make([]error, len(matches))
	var wg sync.WaitGroup
	for i, sub := range matches[1:] {
		wg.Add(1)
		p.workers.Go(func() {
			defer wg.Done()
			errs[i+1] = p.attempt(ctx, sub, job(sub), "")
		})
	}
	errs[0] = p.attempt(ctx, matches[0], job(matches[0]), "")
	wg.Wait()
	return errors.Join(errs...)
}

// HandleJob processes a delivery job from a retry rung. The attempt uses
// the subscription as it is now; a job whose subscription was deleted or
// disabled is dropped.
func (p *Processor) HandleJob(ctx context.Context, rec *kgo.Record) error {
	job, err := delivery.JobFromRecord(rec)
	if err != nil {
		p.Metrics.JobsDropped.WithLabelValues("undecodable").Inc()
		return p.poison(ctx, rec, "invalid_job", err.Error())
	}
	sub, ok := p.Subscriptions.Current().Get(job.SubscriptionID)
	switch {
	case !ok:
		p.Metrics.JobsDropped.WithLabelValues("subscription_deleted").Inc()
		p.Logger.Info().Str("subscription", job.SubscriptionID).Str("webhook_id", job.WebhookID).Msg("retry dropped: subscription deleted")
		return nil
	case !sub.Enabled:
		p.Metrics.JobsDropped.WithLabelValues("subscription_disabled").Inc()
		p.Logger.Info().Str("subscription", job.SubscriptionID).Str("webhook_id", job.WebhookID).Msg("retry dropped: subscription disabled")
		return nil
	}
	return p.attempt(ctx, sub, job, p.rungOf[rec.Topic])
}

// attempt renders, signs and sends one attempt of job, read from rung
// (empty for the input), then settles it.
func (p *Processor) attempt(ctx context.Context, sub *subscription.Compiled, job *delivery.Job, rung string) error {
	now := p.Now()
	if job.Attempts == 0 {
		job.FirstAttempt = now
	}
	out, refused := p.Sender.Refused(sub)
	if !refused {
		env := delivery.Envelope{
			ID:             job.WebhookID,
			Type:           job.EventType,
			Timestamp:      job.EventTime,
			SubscriptionID: sub.ID,
			Data:           job.Event,
		}
		body := env.AppendJSON(make([]byte, 0, len(job.Event)+192))
		out = p.Sender.Send(ctx, sub, job.WebhookID, body)
	}
	if out.Reason == "canceled" {
		// Shutting down: this attempt does not count and the record stays
		// uncommitted, to be redelivered.
		return fmt.Errorf("attempt canceled: %w", ctx.Err())
	}
	if !out.NotAttempted {
		job.Attempts++
	}
	p.Metrics.Deliveries.WithLabelValues(out.Class.String(), out.Reason).Inc()
	if out.Latency > 0 && out.Reason != "circuit_open" {
		p.Metrics.AttemptDuration.WithLabelValues(out.Class.String()).Observe(out.Latency.Seconds())
	}
	next, err := p.settle(ctx, sub, job, out)
	if err == nil && p.History != nil && !out.NotAttempted {
		a := history.Attempt{Time: now, WebhookID: job.WebhookID, Number: job.Attempts, Rung: rung,
			Outcome: out.Class.String(), Reason: out.Reason, Status: out.Status,
			LatencyMS: float64(out.Latency.Microseconds()) / 1000, Next: next}
		if out.Err != nil {
			a.Error = job.LastError // settle has formatted it
		}
		p.History.Record(sub.ID, a)
	}
	return err
}

// settle gives a finished attempt its durable outcome and says where the
// delivery went: "" when delivered, "retry:<rung>" or "dlq".
func (p *Processor) settle(ctx context.Context, sub *subscription.Compiled, job *delivery.Job, out delivery.Outcome) (string, error) {
	if out.Class == delivery.Delivered {
		// The common path: no child logger, no allocation unless debugging.
		p.Logger.Debug().Str("subscription", sub.ID).Str("webhook_id", job.WebhookID).
			Int("status", out.Status).Dur("latency", out.Latency).Msg("delivered")
		return "", nil
	}
	job.LastStatus, job.LastReason = out.Status, out.Reason
	if out.Err != nil {
		job.LastError = out.Err.Error()
	}
	if out.Class == delivery.Retryable {
		step := p.Ladder.Next(job.Attempts, sub.MaxAttempts, out.RetryAfter, p.Now())
		if step.Rung >= 0 {
			if err := p.produce(ctx, job.Record(step.Topic, step.NotBefore, "")); err != nil {
				return "", err
			}
			p.Metrics.Retries.WithLabelValues(p.rungNames[step.Rung]).Inc()
			p.Logger.Debug().Str("subscription", sub.ID).Str("webhook_id", job.WebhookID).Int("attempt", job.Attempts).
				Str("reason", out.Reason).Str("topic", step.Topic).Time("not_before", step.NotBefore).Msg("retry scheduled")
			return p.retryNext[step.Rung], nil
		}
		return "dlq", p.deadLetter(ctx, sub, job, out, "exhausted")
	}
	return "dlq", p.deadLetter(ctx, sub, job, out, "permanent:"+out.Reason)
}

func (p *Processor) deadLetter(ctx context.Context, sub *subscription.Compiled, job *delivery.Job, out delivery.Outcome, reason string) error {
	if err := p.produce(ctx, job.Record(p.Ladder.DLQ, time.Time{}, reason)); err != nil {
		return err
	}
	p.Metrics.DLQWrites.WithLabelValues(dlqLabel(reason)).Inc()
	p.Logger.Warn().Str("subscription", sub.ID).Str("webhook_id", job.WebhookID).Int("attempt", job.Attempts).
		Str("reason", out.Reason).Str("dlq_reason", reason).Str("error", job.LastError).Msg("delivery dead-lettered")
	return nil
}

func (p *Processor) poison(ctx context.Context, rec *kgo.Record, reason, detail string) error {
	p.Metrics.Poison.WithLabelValues(reason).Inc()
	if err := p.produce(ctx, delivery.PoisonRecord(p.Ladder.DLQ, rec, reason, detail)); err != nil {
		return err
	}
	p.Metrics.DLQWrites.WithLabelValues("poison").Inc()
	p.Logger.Warn().Str("topic", rec.Topic).Int32("partition", rec.Partition).Int64("offset", rec.Offset).
		Str("reason", reason).Str("detail", detail).Msg("poison record dead-lettered")
	return nil
}

// produce writes rec and waits for acks=all. The client retries what can
// be retried; an error here means the record has no durable outcome.
func (p *Processor) produce(ctx context.Context, rec *kgo.Record) error {
	if err := p.Producer.ProduceSync(ctx, rec).FirstErr(); err != nil {
		p.Metrics.ProduceErrors.WithLabelValues(rec.Topic).Inc()
		return fmt.Errorf("write to %s: %w", rec.Topic, err)
	}
	return nil
}

// dlqLabel keeps the DLQ metric's label set bounded: "permanent:http_4xx"
// stays, anything else is its first word.
func dlqLabel(reason string) string {
	if strings.HasPrefix(reason, "permanent:") || reason == "exhausted" {
		return reason
	}
	kind, _, _ := strings.Cut(reason, ":")
	return kind
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// WebhookID derives a delivery's webhook-id from the log event's place in
// Kafka and the subscription, so every retry and every redelivery after a
// crash or rebalance carries the same id and receivers can deduplicate.
func WebhookID(origin delivery.Origin, recordTime time.Time, subscriptionID string) string {
	h := sha256.New()
	var buf [20]byte
	h.Write([]byte(origin.Topic))
	h.Write([]byte{0})
	binary.BigEndian.PutUint32(buf[0:4], uint32(origin.Partition))
	binary.BigEndian.PutUint64(buf[4:12], uint64(origin.Offset))
	binary.BigEndian.PutUint64(buf[12:20], uint64(recordTime.UnixMilli()))
	h.Write(buf[:])
	h.Write([]byte(subscriptionID))
	var sum [sha256.Size]byte
	return "msg_" + idEncoding.EncodeToString(h.Sum(sum[:0])[:16])
}
