package consumer

import "testing"

// BenchmarkTracker adds records and completes them slightly out of order,
// as concurrent deliveries do.
func BenchmarkTracker(b *testing.B) {
	tr := newTracker()
	const window = 64
	var seqs [window]uint64
	off := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		i := off % window
		if off >= window {
			// Complete the record added window records ago, in a scrambled order.
			tr.done(seqs[(i*7)%window])
		}
		seqs[(i*7)%window] = tr.add(off)
		off++
	}
}
