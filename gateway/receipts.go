package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookstream/hookstream/subscription"
)

// Receipt is one request a source received, as GET
// /v1/sources/{id}/receipts shows it.
type Receipt struct {
	Time time.Time `json:"time"`
	// Outcome is published, duplicate, answered or the refusal's reason.
	Outcome    string  `json:"outcome"`
	DeliveryID string  `json:"delivery_id,omitempty"`
	Type       string  `json:"type,omitempty"`
	Status     int     `json:"status"`
	LatencyMS  float64 `json:"latency_ms"`
	Detail     string  `json:"detail,omitempty"`
}

// Receipts keeps the recent receipts of each source in Redis, best
// effort: they are buffered and written in one pipeline every flush
// interval, at most Limit per source, and dropped (and counted) when the
// buffer is full.
type Receipts struct {
	rdb    redis.UniversalClient
	prefix string
	limit  int

	mu      sync.Mutex
	pending map[string][]Receipt
	size    int
	dropped int
}

// DefaultReceipts is how many receipts are kept per source.
const DefaultReceipts = 100

// maxPendingReceipts bounds what waits for a flush.
const maxPendingReceipts = 10000

// NewReceipts returns receipts kept under prefix in rdb.
func NewReceipts(rdb redis.UniversalClient, prefix string) *Receipts {
	return &Receipts{rdb: rdb, prefix: subscription.HashTag(prefix), limit: DefaultReceipts, pending: map[string][]Receipt{}}
}

func (r *Receipts) key(source string) string { return r.prefix + ":inbound:receipts:" + source }

// Add notes a receipt of source.
func (r *Receipts) Add(source string, rc Receipt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.size >= maxPendingReceipts {
		r.dropped++
		return
	}
	r.pending[source] = append(r.pending[source], rc)
	r.size++
}

// Flush writes the buffered receipts.
func (r *Receipts) Flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	r.pending, r.size = map[string][]Receipt{}, 0
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	pipe := r.rdb.Pipeline()
	for source, rcs := range batch {
		rcs = rcs[max(0, len(rcs)-r.limit):]
		values := make([]any, len(rcs))
		for i, rc := range rcs {
			b, _ := json.Marshal(rc)
			values[i] = b
		}
		pipe.LPush(ctx, r.key(source), values...)
		pipe.LTrim(ctx, r.key(source), 0, int64(r.limit-1))
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Run flushes every interval until ctx ends, then once more.
func (r *Receipts) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = r.Flush(fctx)
			cancel()
			return
		case <-t.C:
			_ = r.Flush(ctx)
		}
	}
}

// Recent reads up to limit receipts of source, newest first.
func (r *Receipts) Recent(ctx context.Context, source string, limit int) ([]Receipt, error) {
	raw, err := r.rdb.LRange(ctx, r.key(source), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("read receipts of %s: %w", source, err)
	}
	out := make([]Receipt, 0, len(raw))
	for _, s := range raw {
		var rc Receipt
		if json.Unmarshal([]byte(s), &rc) == nil {
			out = append(out, rc)
		}
	}
	return out, nil
}

// Delete forgets source's receipts.
func (r *Receipts) Delete(ctx context.Context, source string) error {
	return r.rdb.Del(ctx, r.key(source)).Err()
}
