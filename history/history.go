// Package history keeps what operators ask about deliveries after the
// fact: the recent attempts of each subscription and its running totals,
// in Redis, shared by every worker.
//
// Recording is off the delivery path. Record appends to an in-memory
// buffer that keeps at most the newest Limit attempts per subscription;
// Run writes the buffer to Redis every flush interval in one pipeline, so
// Redis sees at most Limit list pushes per subscription per interval
// however fast deliveries go. History is observability, not an outcome:
// attempts buffered when a worker dies are lost, deliveries are not.
package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// Attempt is one delivery attempt as the attempts API shows it.
type Attempt struct {
	Time      time.Time `json:"time"`
	WebhookID string    `json:"webhook_id"`
	// Number counts the attempts of this delivery, from 1.
	Number int `json:"attempt"`
	// Rung is the retry rung the attempt was made from ("1s", "2s", …),
	// or "" for the first attempt, straight from the input topic.
	Rung      string  `json:"rung"`
	Outcome   string  `json:"outcome"` // delivered, retryable or permanent
	Reason    string  `json:"reason"`
	Status    int     `json:"status,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
	// Next is where the delivery went after this attempt: "retry:<rung>",
	// "dlq", or "" once delivered.
	Next string `json:"next,omitempty"`
	// Request is what a failed attempt sent, its secrets masked; the
	// attempts delivered do not keep theirs.
	Request *Request `json:"request,omitempty"`
	// Response is the start of a failed attempt's response body.
	Response string `json:"response,omitempty"`
}

// MaxBody is how much of a request or response body an attempt keeps.
const MaxBody = 4 << 10

// Request is a request as an attempt sent it.
type Request struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	// BodyBytes is the whole body's size; Body holds at most MaxBody.
	BodyBytes int `json:"body_bytes"`
}

// Totals count a subscription's attempts since it was created.
type Totals struct {
	Attempts     int64 `json:"attempts"`
	Delivered    int64 `json:"delivered"`
	Failed       int64 `json:"failed"`
	Retried      int64 `json:"retried"`
	DeadLettered int64 `json:"dead_lettered"`
	// LastAttempt is the time of the newest attempt, if any.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
}

// SuccessRate is delivered over attempts, or 0 before any attempt.
func (t Totals) SuccessRate() float64 {
	if t.Attempts == 0 {
		return 0
	}
	return float64(t.Delivered) / float64(t.Attempts)
}

// Add sums two totals, keeping the newer last attempt.
func (t Totals) Add(o Totals) Totals {
	t.Attempts += o.Attempts
	t.Delivered += o.Delivered
	t.Failed += o.Failed
	t.Retried += o.Retried
	t.DeadLettered += o.DeadLettered
	if o.LastAttempt.After(t.LastAttempt) {
		t.LastAttempt = o.LastAttempt
	}
	return t
}

// Options configure a Recorder.
type Options struct {
	// Prefix starts every key, as the subscription store's does.
	Prefix string
	// Limit is how many attempts are kept per subscription. Default 100.
	Limit int
	// FlushInterval is how often buffered attempts are written. Default 1s.
	FlushInterval time.Duration
	// Known, when set, says whether a subscription still exists; the
	// attempts of one deleted since they were buffered are not written,
	// so its history, once forgotten, does not come back.
	Known  func(id string) bool
	Logger zerolog.Logger
}

// Recorder buffers attempts and writes them to Redis.
type Recorder struct {
	rdb   redis.UniversalClient
	opts  Options
	mu    sync.Mutex
	subs  map[string]*pending
	flush chan struct{}
}

// pending is what one subscription recorded since the last flush: the
// newest attempts in a ring of at most Limit, and the counts of all of
// them.
type pending struct {
	ring   []Attempt
	next   int // once the ring is full, the index of the oldest, written next
	totals Totals
}

// New returns a Recorder writing to rdb.
func New(rdb redis.UniversalClient, opts Options) *Recorder {
	if opts.Limit <= 0 {
		opts.Limit = 100
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	return &Recorder{rdb: rdb, opts: opts, subs: map[string]*pending{}, flush: make(chan struct{}, 1)}
}

// Record buffers one attempt of subscription id. It never blocks on Redis.
func (r *Recorder) Record(id string, a Attempt) {
	r.mu.Lock()
	p := r.subs[id]
	if p == nil {
		p = &pending{}
		r.subs[id] = p
	}
	// The ring grows to Limit as attempts come: most subscriptions make
	// a few attempts an interval, and a ring of Limit for each of
	// thousands would be most of the heap.
	if len(p.ring) < r.opts.Limit {
		p.ring = append(p.ring, a)
	} else {
		p.ring[p.next] = a
		p.next = (p.next + 1) % len(p.ring)
	}
	p.totals = p.totals.Add(count(a))
	r.mu.Unlock()
}

func count(a Attempt) Totals {
	t := Totals{Attempts: 1, LastAttempt: a.Time}
	if a.Outcome == "delivered" {
		t.Delivered = 1
	} else {
		t.Failed = 1
	}
	switch {
	case a.Next == "dlq":
		t.DeadLettered = 1
	case strings.HasPrefix(a.Next, "retry:"):
		t.Retried = 1
	}
	return t
}

// Flush asks Run to write what is buffered now; tests use it.
func (r *Recorder) Flush() {
	select {
	case r.flush <- struct{}{}:
	default:
	}
}

// Run writes buffered attempts every flush interval until ctx ends, then
// once more.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			r.write(fctx)
			cancel()
			return
		case <-t.C:
		case <-r.flush:
		}
		r.write(ctx)
	}
}

func (r *Recorder) write(ctx context.Context) {
	r.mu.Lock()
	subs := r.subs
	r.subs = make(map[string]*pending, len(subs))
	r.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	_, err := r.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for id, p := range subs {
			if r.opts.Known != nil && !r.opts.Known(id) {
				continue
			}
			list := r.attemptsKey(id)
			vals := make([]any, 0, len(p.ring))
			// Oldest first, so that after LPUSH the newest is at the head.
			for i := range len(p.ring) {
				a := p.ring[(p.next+i)%len(p.ring)]
				b, _ := json.Marshal(a)
				vals = append(vals, b)
			}
			pl.LPush(ctx, list, vals...)
			pl.LTrim(ctx, list, 0, int64(r.opts.Limit-1))
			totals := r.totalsKey(id)
			pl.HIncrBy(ctx, totals, "attempts", p.totals.Attempts)
			pl.HIncrBy(ctx, totals, "delivered", p.totals.Delivered)
			pl.HIncrBy(ctx, totals, "failed", p.totals.Failed)
			pl.HIncrBy(ctx, totals, "retried", p.totals.Retried)
			pl.HIncrBy(ctx, totals, "dead_lettered", p.totals.DeadLettered)
			pl.Eval(ctx, maxScript, []string{totals}, "last_attempt", p.totals.LastAttempt.UnixMilli())
		}
		return nil
	})
	if err != nil {
		// Put nothing back: history is best effort, and a long Redis
		// outage must not grow the buffer without bound.
		r.opts.Logger.Warn().Err(err).Int("subscriptions", len(subs)).Msg("delivery history not written")
	}
}

// maxScript sets a hash field to ARGV[2] unless it holds a larger number.
var maxScript = `
local cur = tonumber(redis.call("HGET", KEYS[1], ARGV[1]) or "0")
if tonumber(ARGV[2]) > cur then redis.call("HSET", KEYS[1], ARGV[1], ARGV[2]) end
return 0`

// A subscription's keys share the hash tag {id}, so that deleting both
// is one command on a Redis Cluster.
func (r *Recorder) attemptsKey(id string) string { return r.opts.Prefix + ":attempts:{" + id + "}" }
func (r *Recorder) totalsKey(id string) string   { return r.opts.Prefix + ":totals:{" + id + "}" }

// Attempts returns up to limit of a subscription's newest attempts, the
// newest first.
func (r *Recorder) Attempts(ctx context.Context, id string, limit int) ([]Attempt, error) {
	raw, err := r.rdb.LRange(ctx, r.attemptsKey(id), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("read attempts of %s: %w", id, err)
	}
	out := make([]Attempt, 0, len(raw))
	for _, s := range raw {
		var a Attempt
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			return nil, fmt.Errorf("decode an attempt of %s: %w", id, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Totals returns the totals of each of ids; a subscription without
// attempts has zero totals.
func (r *Recorder) Totals(ctx context.Context, ids []string) (map[string]Totals, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := r.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = pl.HGetAll(ctx, r.totalsKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read delivery totals: %w", err)
	}
	out := make(map[string]Totals, len(ids))
	for i, id := range ids {
		m := cmds[i].Val()
		n := func(k string) int64 { v, _ := strconv.ParseInt(m[k], 10, 64); return v }
		t := Totals{Attempts: n("attempts"), Delivered: n("delivered"), Failed: n("failed"),
			Retried: n("retried"), DeadLettered: n("dead_lettered")}
		if ms := n("last_attempt"); ms > 0 {
			t.LastAttempt = time.UnixMilli(ms).UTC()
		}
		out[id] = t
	}
	return out, nil
}

// Forget deletes a subscription's history, when it is deleted.
func (r *Recorder) Forget(ctx context.Context, id string) error {
	r.mu.Lock()
	delete(r.subs, id)
	r.mu.Unlock()
	if err := r.rdb.Del(ctx, r.attemptsKey(id), r.totalsKey(id)).Err(); err != nil {
		return fmt.Errorf("delete history of %s: %w", id, err)
	}
	return nil
}
