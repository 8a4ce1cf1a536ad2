package consumer

// tracker follows the records of one partition from dispatch to durable
// outcome. Records complete in any order; the committable offset is the
// one below which every dispatched record is done. Offsets need not be
// contiguous (compaction and transaction markers leave gaps).
type tracker struct {
	entries []entry // entries[head:] are dispatched and not yet passed
	head    int
	base    uint64 // sequence number of entries[head]
	next    int64  // committable offset; -1 before any record is done
}

type entry struct {
	offset int64
	done   bool
}

func newTracker() tracker { return tracker{next: -1} }

// add notes a dispatched record and returns its sequence number. Offsets
// must be added in increasing order.
func (t *tracker) add(offset int64) uint64 {
	t.entries = append(t.entries, entry{offset: offset})
	return t.base + uint64(len(t.entries)-t.head) - 1
}

// done marks the record with sequence number seq as having a durable
// outcome and advances the committable offset past every leading done
// record. Unknown sequence numbers are ignored.
func (t *tracker) done(seq uint64) {
	live := t.entries[t.head:]
	if seq < t.base || seq-t.base >= uint64(len(live)) {
		return
	}
	live[seq-t.base].done = true
	n := 0
	for n < len(live) && live[n].done {
		n++
	}
	if n == 0 {
		return
	}
	t.next = live[n-1].offset + 1
	t.head += n
	t.base += uint64(n)
	// Compact once the passed prefix dominates, so memory stays bounded
	// by the outstanding records at amortised constant cost.
	if t.head >= 64 && t.head*2 >= len(t.entries) {
		k := copy(t.entries, t.entries[t.head:])
		t.entries = t.entries[:k]
		t.head = 0
	}
}

// committable returns the offset to commit, -1 when there is none yet.
func (t *tracker) committable() int64 { return t.next }

// outstanding counts dispatched records not yet passed.
func (t *tracker) outstanding() int { return len(t.entries) - t.head }
