package processor

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/hookstream/hookstream/retry"
)

// maxBundleJobs caps the jobs of one bundle, and so the deliveries one
// rung record starts when it comes due: the records in flight are
// bounded by count (delivery.max_in_flight), so a bundle must stay small.
const maxBundleJobs = 64

// parcels gathers the rung records of each subscription and rung made
// within a linger of each other and writes them as one bundle. A failing
// endpoint fails many deliveries at once (all of them while its breaker
// is open): one record for a linger's worth of them costs the broker and
// both ends of it a record, not one per delivery.
type parcels struct {
	producer Producer
	linger   time.Duration
	maxBytes int
	bundled  func(topic string) // a bundle was written to topic

	mu   sync.Mutex
	open map[parcelKey]*parcel
}

type parcelKey struct{ sub, topic string }

// parcel is the records waiting to be written together, and who waits
// for them.
type parcel struct {
	key       parcelKey
	recs      []*kgo.Record
	done      []func(error)
	size      int
	notBefore time.Time
	timer     *time.Timer
}

// add writes rec, the rung record of a job of subscription sub due at
// notBefore, with the others of its parcel, and calls done once the write
// is durable or failed.
func (ps *parcels) add(sub string, rec *kgo.Record, notBefore time.Time, done func(error)) {
	size := retry.BundledSize(rec)
	if ps.linger <= 0 || size >= ps.maxBytes {
		ps.write(&parcel{recs: []*kgo.Record{rec}, done: []func(error){done}})
		return
	}
	key := parcelKey{sub, rec.Topic}
	var ship []*parcel // parcels to write, oldest first
	ps.mu.Lock()
	pc := ps.open[key]
	if pc != nil && pc.size+size > ps.maxBytes {
		ship = append(ship, ps.detach(pc))
		pc = nil
	}
	if pc == nil {
		pc = &parcel{key: key}
		pc.timer = time.AfterFunc(ps.linger, func() { ps.expire(pc) })
		if ps.open == nil {
			ps.open = make(map[parcelKey]*parcel)
		}
		ps.open[key] = pc
	}
	pc.recs = append(pc.recs, rec)
	pc.done = append(pc.done, done)
	pc.size += size
	pc.notBefore = later(pc.notBefore, notBefore)
	if len(pc.recs) >= maxBundleJobs {
		ship = append(ship, ps.detach(pc))
	}
	ps.mu.Unlock()
	for _, pc := range ship {
		ps.write(pc)
	}
}

// detach takes pc out of the open parcels; ps.mu is held.
func (ps *parcels) detach(pc *parcel) *parcel {
	pc.timer.Stop()
	delete(ps.open, pc.key)
	return pc
}

// expire writes pc once its linger is over, unless it left full before.
func (ps *parcels) expire(pc *parcel) {
	ps.mu.Lock()
	mine := ps.open[pc.key] == pc
	if mine {
		delete(ps.open, pc.key)
	}
	ps.mu.Unlock()
	if mine {
		ps.write(pc)
	}
}

// write produces pc's records, one bundle when there are several, and
// tells each waiter the outcome. The write outlives any one caller's
// context: its waiters stop waiting on theirs.
func (ps *parcels) write(pc *parcel) {
	rec := pc.recs[0]
	if len(pc.recs) > 1 {
		rec = retry.Bundle(pc.key.topic, pc.key.sub, pc.notBefore, pc.recs)
		// Timed as its latest job: a rung holds a record no longer than
		// its delay past its time, and none of its jobs may come early.
		for _, r := range pc.recs {
			rec.Timestamp = later(rec.Timestamp, r.Timestamp)
		}
		ps.bundled(pc.key.topic)
	}
	ps.producer.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
		for _, done := range pc.done {
			done(err)
		}
	})
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
