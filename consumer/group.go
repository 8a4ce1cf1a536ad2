// Package consumer runs franz-go consumer groups whose offsets are
// committed only past records that have a durable outcome. Records of a
// partition are processed concurrently and complete in any order; a
// per-partition tracker finds the offset below which all are done. A group
// can also hold each record until it is due (the retry rungs): the
// partition is paused while its head record waits, so the poll loop never
// sleeps and heartbeats and rebalances go on.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/hookstream/hookstream/internal/deadline"
	"github.com/hookstream/hookstream/internal/workers"
	"github.com/hookstream/hookstream/metrics"
)

// Handler processes one record. It returns nil once the record has a
// durable outcome; after an error the record is handled again, with
// backoff, until it has one, or left uncommitted for the partition's next
// owner when the group stops or loses the partition. ctx ends only when
// the group gives up draining at shutdown.
type Handler func(ctx context.Context, r *kgo.Record) error

// Options configure a Group.
type Options struct {
	// Group is the consumer group ID.
	Group string
	// Topics are consumed; with Regex they are regular expressions.
	Topics []string
	Regex  bool
	// Due returns when a record may be processed. Nil processes records as
	// soon as they arrive. Due times must not decrease along a partition
	// for records to leave at their due time.
	Due func(*kgo.Record) time.Time
	// MaxWait bounds how long a record waits at the head of its partition
	// for its due time, whatever Due says: a clock that jumped, or a
	// producer that wrote a due time far ahead, must not pause the
	// partition and everything behind the record. 0 sets no bound.
	MaxWait time.Duration
	// Limiter bounds the records in flight; share one across the groups of
	// a process. Required.
	Limiter *Limiter
	// CommitInterval is how often progress is committed. Default 1s.
	CommitInterval time.Duration
	// DrainTimeout bounds the wait for in-flight records at shutdown.
	// Default 30s.
	DrainTimeout time.Duration
	// RevokeWait bounds how long a revocation waits for the records in
	// flight on the partitions it takes away, so that their commit covers
	// them and the next owner does not deliver them again. The group's
	// rebalance waits as long. Default 5s.
	RevokeWait time.Duration
	// StartAtEnd starts a group without committed offsets at the end of
	// its partitions instead of the start.
	StartAtEnd bool
	// MaxPollRecords caps the records taken by one poll. Default 128:
	// polled records wait for room in flight, each holding its fetched
	// batch, so a smaller poll holds less (a 200,000-event drain peaked at
	// 63–64 MB against 67–68 MB with 500, deliveries/s and match-heavy
	// events/s unchanged).
	MaxPollRecords int
	// Client holds the kgo options shared by every client: seed brokers,
	// client ID, logger, hooks, timeouts.
	Client  []kgo.Opt
	Logger  zerolog.Logger
	Metrics *metrics.Metrics
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Group consumes a set of topics as one consumer group.
type Group struct {
	opts   Options
	handle Handler
	cl     *kgo.Client
	log    zerolog.Logger
	runCtx context.Context
	work   [workShards]context.Context // records are handled under these

	mu      sync.Mutex
	parts   map[topicPartition]*partition
	closing bool
	wg      sync.WaitGroup // handlers
	workers *workers.Pool

	failing atomic.Int64 // records being handled again after a failure
	lastErr atomic.Pointer[error]
}

type topicPartition struct {
	topic     string
	partition int32
}

// partition is one assignment of a partition to this member. A revoked
// partition's state is discarded; when it comes back it gets a new one,
// so late completions from an old assignment cannot commit anything.
type partition struct {
	topicPartition
	mu        sync.Mutex
	revoked   bool
	track     tracker
	committed int64
	queue     []*kgo.Record // polled, not yet dispatched
	revoking  bool          // being revoked: no record is taken any more
	arrivals  []arrival     // when the fetches queued arrived, oldest first
	paused    bool
	timer     *time.Timer
}

// arrival is when a fetch of a partition's records arrived, up to and
// including its last offset.
type arrival struct {
	last int64
	at   time.Time
}

// New creates the group's client. Call Run to consume.
func New(opts Options, handle Handler) (*Group, error) {
	if opts.Limiter == nil {
		return nil, errors.New("consumer: Options.Limiter is required")
	}
	if opts.CommitInterval <= 0 {
		opts.CommitInterval = time.Second
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.RevokeWait <= 0 {
		opts.RevokeWait = 5 * time.Second
	}
	if opts.MaxPollRecords <= 0 {
		opts.MaxPollRecords = 128
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &Group{
		opts:    opts,
		handle:  handle,
		log:     opts.Logger.With().Str("group", opts.Group).Logger(),
		parts:   make(map[topicPartition]*partition),
		workers: workers.New(10 * time.Second),
	}
	start := kgo.NewOffset().AtStart()
	if opts.StartAtEnd {
		start = kgo.NewOffset().AtEnd()
	}
	kopts := append([]kgo.Opt{}, opts.Client...)
	kopts = append(kopts,
		kgo.ConsumerGroup(opts.Group),
		kgo.ConsumeTopics(opts.Topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		// A record of an aborted transaction never happened; one of an
		// open transaction may not have yet.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(start),
		kgo.OnPartitionsAssigned(g.assigned),
		kgo.OnPartitionsRevoked(g.revoked),
		kgo.OnPartitionsLost(g.lost),
	)
	if opts.Regex {
		kopts = append(kopts, kgo.ConsumeRegex())
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", opts.Group, err)
	}
	g.cl = cl
	return g, nil
}

// Close releases a group that will not Run, such as when the process
// fails to start. A group that ran closes itself.
func (g *Group) Close() { g.cl.Close() }

// Run consumes until ctx ends, then stops polling, waits up to the drain
// timeout for in-flight records, commits what is durable and leaves the
// group. It returns once the client is closed.
func (g *Group) Run(ctx context.Context) error {
	g.runCtx = ctx
	stop := g.startWork(context.WithoutCancel(ctx))
	defer stop()

	commitDone := make(chan struct{})
	go func() { defer close(commitDone); g.commitLoop(ctx) }()

	g.poll(ctx)

	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
	drained := make(chan struct{})
	go func() { g.wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(g.opts.DrainTimeout):
		g.log.Warn().Dur("drain_timeout", g.opts.DrainTimeout).Msg("in-flight records did not finish; they stay uncommitted and will be redelivered")
		stop()
		<-drained
	}
	<-commitDone
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	g.commit(cctx, g.owned())
	cancel()
	g.cl.Close()
	return nil
}

func (g *Group) poll(ctx context.Context) {
	for {
		fetches := g.cl.PollRecords(ctx, g.opts.MaxPollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			g.cl.AllowRebalance()
			return
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				g.log.Warn().Err(err).Str("topic", topic).Int32("partition", p).Msg("fetch error")
			}
		})
		// Queue the records before letting a rebalance in, so that every
		// queued record belongs to the partition state it is queued on.
		var touched []*partition
		fetches.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if len(ftp.Records) == 0 {
				return
			}
			g.mu.Lock()
			p := g.parts[topicPartition{ftp.Topic, ftp.Partition}]
			g.mu.Unlock()
			if p == nil {
				return
			}
			p.mu.Lock()
			if p.revoking {
				p.mu.Unlock()
				return
			}
			p.queue = append(p.queue, ftp.Records...)
			if g.opts.Due != nil && g.opts.MaxWait > 0 {
				p.arrivals = append(p.arrivals, arrival{last: ftp.Records[len(ftp.Records)-1].Offset, at: g.opts.Now()})
			}
			p.mu.Unlock()
			touched = append(touched, p)
		})
		g.cl.AllowRebalance()
		for _, p := range touched {
			g.pump(p)
		}
	}
}

// pump dispatches the partition's queued records while they are due,
// blocking on the limiter when the process is full. When the head record
// is not due it pauses the partition and arms a timer for its due time.
func (g *Group) pump(p *partition) {
	for g.headReady(p) {
		// Wait for room without holding the partition's lock: finishing
		// records need it to mark themselves done.
		if err := g.opts.Limiter.Acquire(g.runCtx); err != nil {
			return // shutting down: the records stay uncommitted
		}
		rec, seq, ok := g.take(p)
		if !ok {
			g.opts.Limiter.Release()
			continue
		}
		if !g.dispatch(p, seq, rec) {
			return
		}
	}
}

// headReady reports whether the partition's head record can be taken
// now. Otherwise it resumes a drained partition, or pauses one whose head
// is not due and arms the timer that pumps it again.
func (g *Group) headReady(p *partition) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.revoked || p.revoking {
		return false
	}
	if len(p.queue) == 0 {
		if p.paused {
			g.cl.ResumeFetchPartitions(map[string][]int32{p.topic: {p.partition}})
			p.paused = false
			g.opts.Metrics.Paused.WithLabelValues(g.opts.Group).Dec()
		}
		return false
	}
	wait := g.headWait(p)
	if wait <= 0 {
		return true
	}
	if !p.paused {
		g.cl.PauseFetchPartitions(map[string][]int32{p.topic: {p.partition}})
		p.paused = true
		g.opts.Metrics.Paused.WithLabelValues(g.opts.Group).Inc()
	}
	if p.timer == nil {
		p.timer = time.AfterFunc(wait, func() { g.pump(p) })
	} else {
		p.timer.Reset(wait)
	}
	return false
}

// take pops the head record if it is still there and due, and starts
// tracking it.
func (g *Group) take(p *partition) (*kgo.Record, uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.revoked || len(p.queue) == 0 || g.headWait(p) > 0 {
		return nil, 0, false
	}
	rec := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	for len(p.arrivals) > 0 && p.arrivals[0].last <= rec.Offset {
		p.arrivals = p.arrivals[1:] // the fetches taken whole
	}
	return rec, p.track.add(rec.Offset), true
}

// headWait is how long the partition's head record has yet to wait:
// until it is due, and no longer than MaxWait since it arrived. Records
// that arrived together wait out MaxWait together, so a run of records
// due far ahead holds the partition once, not once each. p.mu is held.
func (g *Group) headWait(p *partition) time.Duration {
	if g.opts.Due == nil {
		return 0
	}
	r, now := p.queue[0], g.opts.Now()
	wait := g.opts.Due(r).Sub(now)
	if g.opts.MaxWait > 0 && wait > 0 {
		wait = min(wait, p.arrived(r.Offset, now).Add(g.opts.MaxWait).Sub(now))
	}
	return wait
}

// arrived returns when the queued record at offset arrived: the fetches
// before it were dropped as their records were taken. p.mu is held.
func (p *partition) arrived(offset int64, now time.Time) time.Time {
	for _, a := range p.arrivals {
		if a.last >= offset {
			return a.at
		}
	}
	return now
}

func (g *Group) dispatch(p *partition, seq uint64, rec *kgo.Record) bool {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		g.opts.Limiter.Release()
		return false
	}
	g.wg.Add(1)
	g.mu.Unlock()
	g.workers.Go(func() {
		defer g.wg.Done()
		defer g.opts.Limiter.Release()
		if !g.handleUntilDone(g.work[seq%workShards], p, rec) {
			return
		}
		p.mu.Lock()
		if !p.revoked {
			p.track.done(seq)
		}
		p.mu.Unlock()
	})
	return true
}

// workShards is how many contexts the records in flight are handled
// under, stopped together. An attempt's timeout joins a context under its
// record's: were hundreds of records in flight to share one, every
// attempt would contend for its lock.
const workShards = 16

// startWork makes the contexts records are handled under, as children of
// parent, each a deadline.Group whose attempts share their timers; stop
// ends them.
func (g *Group) startWork(parent context.Context) (stop context.CancelFunc) {
	var cancels [workShards]context.CancelFunc
	for i := range g.work {
		g.work[i], cancels[i] = deadline.NewGroup(parent)
	}
	return func() {
		for _, c := range cancels {
			c()
		}
	}
}

// Backoff of a record whose handling failed: it doubles from
// retryBackoff to maxRetryBackoff.
const (
	retryBackoff    = 100 * time.Millisecond
	maxRetryBackoff = 10 * time.Second
)

// handleUntilDone handles rec until it has a durable outcome, trying
// again with backoff after a failure (a write the broker refused, a
// topic gone): a record left undone would stop its partition's commits
// until it changed owner. It gives up, leaving the record uncommitted for
// the next owner, when the group stops or the partition is revoked.
func (g *Group) handleUntilDone(ctx context.Context, p *partition, rec *kgo.Record) bool {
	backoff := retryBackoff
	for try := 1; ; try++ {
		err := g.handle(ctx, rec)
		if err == nil {
			if try > 1 {
				g.failing.Add(-1)
				g.log.Info().Str("topic", rec.Topic).Int32("partition", rec.Partition).Int64("offset", rec.Offset).
					Int("tries", try).Msg("record handled after failures")
			}
			return true
		}
		if try == 1 {
			g.failing.Add(1)
		}
		g.lastErr.Store(&err)
		p.mu.Lock()
		revoked := p.revoked
		p.mu.Unlock()
		stopped := g.runCtx.Err() != nil || ctx.Err() != nil || revoked
		g.log.Warn().Err(err).Str("topic", rec.Topic).Int32("partition", rec.Partition).Int64("offset", rec.Offset).
			Int("try", try).Bool("giving_up", stopped).Msg("record has no durable outcome")
		if stopped {
			g.failing.Add(-1)
			return false
		}
		g.opts.Metrics.HandlerRetries.WithLabelValues(g.opts.Group).Inc()
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-g.runCtx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, maxRetryBackoff)
	}
}

// Failing returns how many records are being handled again after a
// failure, and the latest failure.
func (g *Group) Failing() (int, error) {
	n := int(g.failing.Load())
	if n == 0 {
		return 0, nil
	}
	if err := g.lastErr.Load(); err != nil {
		return n, *err
	}
	return n, nil
}

func (g *Group) assigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	g.mu.Lock()
	n := 0
	for topic, parts := range assigned {
		for _, pn := range parts {
			tp := topicPartition{topic, pn}
			g.parts[tp] = &partition{topicPartition: tp, track: newTracker(), committed: -1}
			n++
		}
	}
	g.mu.Unlock()
	// Pause state lives in the client, not the assignment: clear any left
	// from an earlier assignment of the same partitions.
	cl.ResumeFetchPartitions(assigned)
	g.opts.Metrics.Rebalances.WithLabelValues(g.opts.Group, "assigned").Add(float64(n))
	g.log.Info().Interface("partitions", assigned).Msg("partitions assigned")
}

func (g *Group) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	g.finishInFlight(revoked)
	parts := g.release(revoked, "revoked")
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	g.commit(cctx, parts)
	cl.ResumeFetchPartitions(revoked)
}

// finishInFlight stops taking records of the given partitions and waits,
// up to RevokeWait, until none of theirs is in flight. Lost partitions
// are not waited for: their offsets can no longer be committed. Nor are
// the partitions of a group shutting down: Run waits for what it
// dispatched, and a record taken but not dispatched then never finishes.
func (g *Group) finishInFlight(m map[string][]int32) {
	var parts []*partition
	g.mu.Lock()
	wait := !g.closing
	for topic, ps := range m {
		for _, pn := range ps {
			if p := g.parts[topicPartition{topic, pn}]; p != nil {
				parts = append(parts, p)
			}
		}
	}
	g.mu.Unlock()
	for _, p := range parts {
		p.mu.Lock()
		p.revoking, p.queue, p.arrivals = true, nil, nil
		p.mu.Unlock()
	}
	inFlight := func() int {
		n := 0
		for _, p := range parts {
			p.mu.Lock()
			n += p.track.outstanding()
			p.mu.Unlock()
		}
		return n
	}
	deadline := time.Now().Add(g.opts.RevokeWait)
	for n := inFlight(); n > 0 && wait; n = inFlight() {
		if time.Now().After(deadline) {
			g.log.Warn().Int("in_flight", n).Dur("revoke_wait", g.opts.RevokeWait).
				Msg("records in flight on revoked partitions did not finish; the next owner delivers them again")
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (g *Group) lost(_ context.Context, cl *kgo.Client, lost map[string][]int32) {
	g.release(lost, "lost")
	cl.ResumeFetchPartitions(lost)
}

// release ends this member's assignment of the given partitions and
// returns their states, whose durable progress may still be committed.
// Records in flight for them finish, but their completion is ignored.
func (g *Group) release(m map[string][]int32, kind string) []*partition {
	var out []*partition
	g.mu.Lock()
	for topic, parts := range m {
		for _, pn := range parts {
			tp := topicPartition{topic, pn}
			if p := g.parts[tp]; p != nil {
				delete(g.parts, tp)
				out = append(out, p)
			}
		}
	}
	g.mu.Unlock()
	for _, p := range out {
		p.mu.Lock()
		p.revoked = true
		p.queue, p.arrivals = nil, nil
		if p.timer != nil {
			p.timer.Stop()
		}
		if p.paused {
			p.paused = false
			g.opts.Metrics.Paused.WithLabelValues(g.opts.Group).Dec()
		}
		p.mu.Unlock()
	}
	g.opts.Metrics.Rebalances.WithLabelValues(g.opts.Group, kind).Add(float64(len(out)))
	if len(out) > 0 {
		g.log.Info().Interface("partitions", m).Str("kind", kind).Msg("partitions released")
	}
	return out
}

func (g *Group) owned() []*partition {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*partition, 0, len(g.parts))
	for _, p := range g.parts {
		out = append(out, p)
	}
	return out
}

func (g *Group) commitLoop(ctx context.Context) {
	tick := time.NewTicker(g.opts.CommitInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			g.commit(ctx, g.owned())
		}
	}
}

// commit synchronously commits the durable progress of parts that has
// not been committed yet.
func (g *Group) commit(ctx context.Context, parts []*partition) {
	offsets := make(map[string]map[int32]kgo.EpochOffset)
	pending := 0
	for _, p := range parts {
		p.mu.Lock()
		next := p.track.committable()
		pending += p.track.outstanding() + len(p.queue)
		if next > p.committed {
			if offsets[p.topic] == nil {
				offsets[p.topic] = make(map[int32]kgo.EpochOffset)
			}
			offsets[p.topic][p.partition] = kgo.EpochOffset{Epoch: -1, Offset: next}
		}
		p.mu.Unlock()
	}
	g.opts.Metrics.Uncommitted.WithLabelValues(g.opts.Group).Set(float64(pending))
	if len(offsets) == 0 {
		return
	}
	var commitErr error
	g.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					commitErr = fmt.Errorf("%s/%d: %w", t.Topic, rp.Partition, err)
				}
			}
		}
	})
	if commitErr != nil {
		g.opts.Metrics.Commits.WithLabelValues(g.opts.Group, "error").Inc()
		if ctx.Err() == nil {
			g.log.Warn().Err(commitErr).Msg("offset commit failed; it is retried with the next commit")
		}
		return
	}
	g.opts.Metrics.Commits.WithLabelValues(g.opts.Group, "ok").Inc()
	for _, p := range parts {
		p.mu.Lock()
		if eo, ok := offsets[p.topic][p.partition]; ok && eo.Offset > p.committed {
			p.committed = eo.Offset
		}
		p.mu.Unlock()
	}
}
