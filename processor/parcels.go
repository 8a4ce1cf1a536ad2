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

// parcels gathers the rung jobs of each subscription and rung made within
// a linger of each other and writes them as one bundle. A failing
// endpoint fails many deliveries at once (all of them while its breaker
// is open): one record for a linger's worth of them costs the broker and
// both ends of it a record, not one per delivery. Each job is encoded
// straight into its parcel's bundle, without a record of its own.
type parcels struct {
	producer Producer
	linger   time.Duration
	maxBytes int
	bundled  func(topic string) // a bundle was written to topic

	mu      sync.Mutex
	open    map[parcelKey]*parcel
	entries sync.Pool // of *entryBuf
	values  sync.Pool // of *[]byte, a parcel's bundle, back once written
}

type parcelKey struct{ sub, topic string }

// writer is told the outcome of a write.
type writer interface{ written(err error) }

// entryBuf is the scratch a job is encoded in before it joins a parcel.
type entryBuf struct{ entry []byte }

// parcel is the jobs waiting to be written together, and who waits for
// them.
type parcel struct {
	key       parcelKey
	jobs      []*retry.Job
	first     time.Time // the first job's not-before, for a parcel of one
	value     *[]byte   // the jobs' bundle entries, from parcels.values
	done      []writer
	notBefore time.Time // the latest of the jobs'
	stamp     time.Time // when the latest job was settled
	timer     *time.Timer
}

// add writes job, due at notBefore and settled at now, to topic with the
// others of its parcel, and tells done once the write is durable or
// failed.
func (ps *parcels) add(sub, topic string, job *retry.Job, notBefore, now time.Time, done writer) {
	key := parcelKey{sub, topic}
	if ps.linger <= 0 {
		ps.write(&parcel{key: key, jobs: []*retry.Job{job}, first: notBefore, done: []writer{done}, stamp: now})
		return
	}
	b, _ := ps.entries.Get().(*entryBuf)
	if b == nil {
		b = &entryBuf{}
	}
	b.entry = job.AppendBundled(b.entry[:0], notBefore)
	defer ps.entries.Put(b)
	if len(b.entry) >= ps.maxBytes {
		ps.write(&parcel{key: key, jobs: []*retry.Job{job}, first: notBefore, done: []writer{done}, stamp: now})
		return
	}
	var ship []*parcel // parcels to write, oldest first
	ps.mu.Lock()
	pc := ps.open[key]
	if pc != nil && len(*pc.value)+len(b.entry) > ps.maxBytes {
		ship = append(ship, ps.detach(pc))
		pc = nil
	}
	if pc == nil {
		value, _ := ps.values.Get().(*[]byte)
		if value == nil {
			value = new([]byte)
			*value = make([]byte, 0, ps.maxBytes)
		}
		pc = &parcel{key: key, first: notBefore, value: value}
		pc.timer = time.AfterFunc(ps.linger, func() { ps.expire(pc) })
		if ps.open == nil {
			ps.open = make(map[parcelKey]*parcel)
		}
		ps.open[key] = pc
	}
	pc.jobs = append(pc.jobs, job)
	pc.done = append(pc.done, done)
	*pc.value = append(*pc.value, b.entry...)
	pc.notBefore = later(pc.notBefore, notBefore)
	pc.stamp = later(pc.stamp, now)
	if len(pc.jobs) >= maxBundleJobs {
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

// write produces pc: its job's own record when it holds one, else one
// bundle, timed as its latest job (a rung holds a record no longer than
// its delay past its time, and none of its jobs may come early), and
// tells each waiter the outcome. The write outlives any one caller's
// context: its waiters stop waiting on theirs.
func (ps *parcels) write(pc *parcel) {
	var rec *kgo.Record
	value := pc.value // given back once the record is written
	if len(pc.jobs) == 1 {
		rec = pc.jobs[0].Record(pc.key.topic, pc.first, "")
		ps.release(value)
		value = nil
	} else {
		rec = retry.BundleRecord(pc.key.topic, pc.key.sub, pc.notBefore, []byte(pc.jobs[0].WebhookID), *value, len(pc.jobs))
		ps.bundled(pc.key.topic)
	}
	rec.Timestamp = pc.stamp
	ps.producer.Produce(context.Background(), rec, func(_ *kgo.Record, err error) {
		// The client is done with the record: its bundle may be reused.
		ps.release(value)
		for _, done := range pc.done {
			done.written(err)
		}
	})
}

// release gives a parcel's bundle buffer back.
func (ps *parcels) release(value *[]byte) {
	if value != nil {
		*value = (*value)[:0]
		ps.values.Put(value)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
