package consumer

import (
	"math/rand/v2"
	"testing"
)

func TestTrackerOutOfOrder(t *testing.T) {
	tests := []struct {
		name    string
		offsets []int64
		order   []int // indexes into offsets, in completion order
		want    []int64
	}{
		{"in order", []int64{0, 1, 2}, []int{0, 1, 2}, []int64{1, 2, 3}},
		{"reverse", []int64{0, 1, 2}, []int{2, 1, 0}, []int64{-1, -1, 3}},
		{"middle first", []int64{5, 6, 7, 8}, []int{1, 0, 3, 2}, []int64{-1, 7, 7, 9}},
		{"gaps from compaction", []int64{10, 14, 20}, []int{1, 0, 2}, []int64{-1, 15, 21}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker()
			seqs := make([]uint64, len(tt.offsets))
			for i, o := range tt.offsets {
				seqs[i] = tr.add(o)
			}
			for i, idx := range tt.order {
				tr.done(seqs[idx])
				if got := tr.committable(); got != tt.want[i] {
					t.Fatalf("after completing offset %d: committable = %d, want %d", tt.offsets[idx], got, tt.want[i])
				}
			}
			if tr.outstanding() != 0 {
				t.Errorf("outstanding = %d after all done", tr.outstanding())
			}
		})
	}
}

func TestTrackerIgnoresUnknownAndRepeatedCompletions(t *testing.T) {
	tr := newTracker()
	a, b := tr.add(0), tr.add(1)
	tr.done(a)
	tr.done(a)
	tr.done(999)
	if got := tr.committable(); got != 1 {
		t.Fatalf("committable = %d, want 1", got)
	}
	tr.done(b)
	if got := tr.committable(); got != 2 {
		t.Fatalf("committable = %d, want 2", got)
	}
}

// TestTrackerRandom completes a long stream in random order, adding while
// completing, and checks the invariant: the committable offset is always
// one past the longest done prefix.
func TestTrackerRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	tr := newTracker()
	done := map[int64]bool{}
	var pending []struct {
		off int64
		seq uint64
	}
	next, lastAdded := int64(0), int64(-1)
	for step := 0; step < 20000; step++ {
		if len(pending) < 200 && r.IntN(2) == 0 {
			off := next
			lastAdded = off
			next += 1 + int64(r.IntN(2)) // sometimes a gap
			pending = append(pending, struct {
				off int64
				seq uint64
			}{off, tr.add(off)})
			continue
		}
		if len(pending) == 0 {
			continue
		}
		i := r.IntN(len(pending))
		p := pending[i]
		pending = append(pending[:i], pending[i+1:]...)
		tr.done(p.seq)
		done[p.off] = true
		lowest := next
		for _, q := range pending {
			lowest = min(lowest, q.off)
		}
		c := tr.committable()
		if c > lowest {
			t.Fatalf("step %d: committable %d passes pending offset %d", step, c, lowest)
		}
		if len(pending) == 0 && c != lastAdded+1 {
			t.Fatalf("step %d: nothing pending but committable %d, want %d", step, c, lastAdded+1)
		}
	}
	if len(tr.entries) > 1024 {
		t.Errorf("tracker kept %d entries for at most 200 outstanding", len(tr.entries))
	}
}
