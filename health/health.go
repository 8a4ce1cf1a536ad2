// Package health disables the subscriptions whose endpoints are gone: at
// once when an endpoint answers 410 Gone, and when every attempt to a
// subscription has failed for delivery.disable_after, counted across
// every worker. A subscription hookstream disabled shows why and when,
// and operators hear of it through a metric, a log line and a system
// event published to the input topic, which any subscription can route
// on (to a Slack channel, to on-call).
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/delivery"
	"github.com/hookstream/hookstream/subscription"
)

// EventType is the type of the system event published when hookstream
// disables a subscription.
const EventType = "hookstream.subscription.disabled"

// Store disables subscriptions; a *subscription.Store is one.
type Store interface {
	Disable(ctx context.Context, id string, reason subscription.DisabledReason, at time.Time) (subscription.Subscription, bool, error)
}

// Producer writes records and waits for their acknowledgement; a
// *kgo.Client is one.
type Producer interface {
	ProduceSync(ctx context.Context, rs ...*kgo.Record) kgo.ProduceResults
}

// Options configure a Monitor.
type Options struct {
	Store Store
	// Redis keeps, per subscription, since when every attempt failed.
	Redis redis.UniversalClient
	// Prefix starts every key, as the subscription store's does.
	Prefix string
	// DisableOnGone disables a subscription whose endpoint answers 410.
	DisableOnGone bool
	// DisableAfter disables a subscription whose every attempt failed for
	// this long; 0 never does.
	DisableAfter time.Duration
	// Producer and Topic publish the system event of each subscription
	// disabled; with no Topic none is published.
	Producer Producer
	Topic    string
	// Disabled counts the subscriptions disabled, by reason.
	Disabled *prometheus.CounterVec
	// Applied, when set, is called after a subscription was disabled, so
	// that this worker stops matching it at once.
	Applied func(ctx context.Context, id string)
	// FlushInterval is how often observed attempts are written to Redis.
	// Default 1s.
	FlushInterval time.Duration
	Logger        zerolog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Monitor watches the outcomes of attempts. Observe and Gone are cheap
// and never wait on Redis; Run does the writing.
type Monitor struct {
	opts Options
	wake chan struct{}

	mu   sync.Mutex
	seen map[string]*seen // by subscription, since the last flush
	gone map[string]bool  // subscriptions whose endpoint answered 410
}

// seen is what one worker saw of a subscription's attempts in a flush
// interval: its latest success, and its first failure after that.
type seen struct{ ok, failed time.Time }

// New returns a Monitor; Run starts it.
func New(opts Options) *Monitor {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Monitor{opts: opts, wake: make(chan struct{}, 1), seen: map[string]*seen{}, gone: map[string]bool{}}
}

// Observe notes an attempt of subscription id made at, and whether it
// delivered.
func (m *Monitor) Observe(id string, delivered bool, at time.Time) {
	if m.opts.DisableAfter <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.seen[id]
	if s == nil {
		s = &seen{}
		m.seen[id] = s
	}
	switch {
	case delivered:
		if at.After(s.ok) {
			s.ok, s.failed = at, time.Time{}
		}
	case s.failed.IsZero() && at.After(s.ok):
		s.failed = at
	}
}

// Gone notes that subscription id's endpoint answered 410 Gone.
func (m *Monitor) Gone(id string) {
	if !m.opts.DisableOnGone {
		return
	}
	m.mu.Lock()
	m.gone[id] = true
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run writes what was observed every flush interval, and disables
// subscriptions, until ctx ends; then it flushes once more.
func (m *Monitor) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			m.flush(fctx)
			cancel()
			return
		case <-t.C:
		case <-m.wake:
		}
		m.flush(ctx)
	}
}

// failingScript folds one worker's observations of a subscription into
// its health hash and returns since when (unix ms) every attempt has
// failed, or 0 when the latest attempt known delivered.
//
//	KEYS[1] the hash; ARGV[1] latest success (ms, 0 for none), ARGV[2]
//	first failure after it (ms, 0 for none), ARGV[3] expiry (ms)
var failingScript = redis.NewScript(`
local ok, failed = tonumber(ARGV[1]), tonumber(ARGV[2])
local okAt = tonumber(redis.call('HGET', KEYS[1], 'ok') or '0')
if ok > okAt then
  okAt = ok
  redis.call('HSET', KEYS[1], 'ok', ok)
end
local since = tonumber(redis.call('HGET', KEYS[1], 'failing_since') or '0')
if since <= okAt then since = 0 end
if failed > okAt and (since == 0 or failed < since) then since = failed end
if since > 0 then
  redis.call('HSET', KEYS[1], 'failing_since', since)
else
  redis.call('HDEL', KEYS[1], 'failing_since')
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return since
`)

func (m *Monitor) key(id string) string { return m.opts.Prefix + ":health:" + id }

func (m *Monitor) flush(ctx context.Context) {
	m.mu.Lock()
	seenNow, goneNow := m.seen, m.gone
	m.seen, m.gone = map[string]*seen{}, map[string]bool{}
	m.mu.Unlock()

	for id := range goneNow {
		if err := m.disable(ctx, id, subscription.DisabledGone); err != nil {
			m.mu.Lock()
			m.gone[id] = true // tried again at the next flush
			m.mu.Unlock()
		}
	}
	if len(seenNow) == 0 {
		return
	}
	// The hash outlives the longest failing stretch that matters.
	expiry := strconv.FormatInt((2 * m.opts.DisableAfter).Milliseconds(), 10)
	ids := make([]string, 0, len(seenNow))
	cmds := make([]*redis.Cmd, 0, len(seenNow))
	// EVAL, not EVALSHA: a pipeline cannot load a script it misses.
	_, err := m.opts.Redis.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for id, s := range seenNow {
			ids = append(ids, id)
			cmds = append(cmds, failingScript.Eval(ctx, pl, []string{m.key(id)}, ms(s.ok), ms(s.failed), expiry))
		}
		return nil
	})
	if err != nil {
		// What was seen is lost; the next failures say it again.
		m.opts.Logger.Warn().Err(err).Int("subscriptions", len(ids)).Msg("endpoint health not written")
		return
	}
	now := m.opts.Now()
	for i, cmd := range cmds {
		since, err := cmd.Int64()
		if err != nil || since == 0 || now.Sub(time.UnixMilli(since)) < m.opts.DisableAfter {
			continue
		}
		_ = m.disable(ctx, ids[i], subscription.DisabledFailing)
	}
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// disable disables subscription id and, when this call did, tells.
func (m *Monitor) disable(ctx context.Context, id string, reason subscription.DisabledReason) error {
	now := m.opts.Now()
	sub, changed, err := m.opts.Store.Disable(ctx, id, reason, now)
	switch {
	case errors.Is(err, subscription.ErrNotFound):
		return nil
	case err != nil:
		m.opts.Logger.Warn().Err(err).Str("subscription", id).Str("reason", string(reason)).Msg("subscription not disabled; trying again")
		return err
	case !changed:
		return nil
	}
	if m.opts.Disabled != nil {
		m.opts.Disabled.WithLabelValues(string(reason)).Inc()
	}
	m.opts.Logger.Warn().Str("subscription", id).Str("name", sub.Name).Str("url", delivery.RedactURL(sub.URL)).
		Str("reason", string(reason)).Msg("subscription disabled")
	if m.opts.Applied != nil {
		m.opts.Applied(ctx, id)
	}
	m.publish(ctx, sub, reason, now)
	return nil
}

// Event is the system event published when hookstream disables a
// subscription: a log event like any other, which subscriptions match
// by its type, source and level.
type Event struct {
	Type         string                      `json:"type"`
	Source       string                      `json:"source"`
	Level        string                      `json:"level"`
	Timestamp    time.Time                   `json:"timestamp"`
	Message      string                      `json:"message"`
	Reason       subscription.DisabledReason `json:"reason"`
	Subscription struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		URL  string `json:"url"` // without credentials, query or fragment
	} `json:"subscription"`
}

func (m *Monitor) publish(ctx context.Context, sub subscription.Subscription, reason subscription.DisabledReason, at time.Time) {
	if m.opts.Topic == "" || m.opts.Producer == nil {
		return
	}
	ev := Event{Type: EventType, Source: "hookstream", Level: "warn", Timestamp: at.UTC(), Reason: reason}
	ev.Subscription.ID, ev.Subscription.Name, ev.Subscription.URL = sub.ID, sub.Name, delivery.RedactURL(sub.URL)
	switch reason {
	case subscription.DisabledGone:
		ev.Message = fmt.Sprintf("subscription %q (%s) disabled: its endpoint answered 410 Gone", sub.Name, sub.ID)
	default:
		ev.Message = fmt.Sprintf("subscription %q (%s) disabled: every attempt failed for %s", sub.Name, sub.ID, m.opts.DisableAfter)
	}
	value, err := json.Marshal(ev)
	if err != nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rec := &kgo.Record{Topic: m.opts.Topic, Key: []byte(sub.ID), Value: value}
	if err := m.opts.Producer.ProduceSync(pctx, rec).FirstErr(); err != nil {
		m.opts.Logger.Error().Err(err).Str("subscription", sub.ID).Str("topic", m.opts.Topic).Msg("system event of a disabled subscription not published")
	}
}
