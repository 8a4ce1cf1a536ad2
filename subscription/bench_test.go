package subscription

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// BenchmarkMatch matches one event against sets of mixed subscriptions:
// levels, exact sources, source globs and numeric predicates.
//
// "subs=10000/tiers" is the same set at its costliest to match between
// compactions: built from the others, an eighth of them in its middle
// tier and compactAt more changed since, each to what it was.
func BenchmarkMatch(b *testing.B) {
	for _, bc := range []struct {
		n     int
		tiers bool
	}{{1, false}, {100, false}, {10000, false}, {10000, true}} {
		n := bc.n
		name := fmt.Sprintf("subs=%d", n)
		if bc.tiers {
			name += "/tiers"
		}
		b.Run(name, func(b *testing.B) {
			subs := make([]*Compiled, 0, n)
			for i := range n {
				f := Filter{Levels: []string{[]string{"error", "warn", "info"}[i%3]}}
				switch i % 4 {
				case 0:
					f.Sources = []string{fmt.Sprintf("svc-%d", i%97)}
				case 1:
					f.Sources = []string{fmt.Sprintf("svc-%d*", i%13)}
				case 2:
					f.Where = []Predicate{{Path: "metadata.amount", Op: OpGt, Value: float64(i % 500)}}
				case 3:
					f.Types = []string{fmt.Sprintf("type.%d", i%50)}
				}
				c, err := Compile(valid(func(s *Subscription) { s.ID = fmt.Sprintf("sub_%06d", i); s.Filter = f }))
				if err != nil {
					b.Fatal(err)
				}
				subs = append(subs, c)
			}
			set := NewSet(subs)
			if bc.tiers {
				mid := n / midShare
				for _, c := range subs[:mid] {
					set = set.With(c)
				}
				set = set.Compacted()
				for _, c := range subs[mid : mid+compactAt] {
					set = set.With(c)
				}
				if set.mid == nil || set.Changes() != compactAt {
					b.Fatal("the set is not in three tiers")
				}
			}
			ev := mustEvent(b, `{"type":"type.7","level":"error","source":"svc-3","metadata":{"amount":250}}`)
			dst := make([]*Compiled, 0, n)
			b.ReportAllocs()
			matched := 0
			for b.Loop() {
				dst = set.Match(ev, dst[:0])
				matched += len(dst)
			}
			b.ReportMetric(float64(matched)/float64(b.N), "matches/op")
		})
	}
}

// BenchmarkWorstRegexFilter matches a 100 KB message against the costliest
// filter allowed: regexes up to MaxFilterInsts together, each matching,
// examining DefaultMaxMatchBytes. (Before the bounds, five `.{0,1000}z$`
// over the whole message took seconds of CPU for one event.)
func BenchmarkWorstRegexFilter(b *testing.B) {
	regex := ".{0,120}z" // 243 instructions
	var where []Predicate
	for range MaxFilterInsts / 243 {
		where = append(where, Predicate{Path: "message", Op: OpRegex, Value: regex})
	}
	c, err := Compile(valid(func(s *Subscription) { s.Filter.Where = where }))
	if err != nil {
		b.Fatal(err)
	}
	// Each regex finds its z at the end of what it examines.
	msg := strings.Repeat("a", DefaultMaxMatchBytes-1) + "z" + strings.Repeat("a", 96<<10)
	ev := mustEvent(b, `{"type":"t","message":"`+msg+`"}`)
	for b.Loop() {
		if !c.Matches(ev) {
			b.Fatal("no match")
		}
	}
}

// BenchmarkMatchEq matches one event against 10,000 subscriptions that
// each want their own value of one field (an eq predicate and nothing
// else): through the index, and by running every filter.
func BenchmarkMatchEq(b *testing.B) {
	const n = 10000
	subs := make([]*Compiled, 0, n)
	for i := range n {
		f := Filter{Where: []Predicate{{Path: "metadata.bucket", Op: OpEq, Value: float64(i)}}}
		c, err := Compile(valid(func(s *Subscription) { s.ID = fmt.Sprintf("sub_%06d", i); s.Filter = f }))
		if err != nil {
			b.Fatal(err)
		}
		subs = append(subs, c)
	}
	set := NewSet(subs)
	ev := mustEvent(b, `{"type":"t","level":"info","metadata":{"bucket":4242,"amount":1}}`)
	b.Run("index", func(b *testing.B) {
		dst := make([]*Compiled, 0, 1)
		for b.Loop() {
			if dst = set.Match(ev, dst[:0]); len(dst) != 1 {
				b.Fatalf("%d matches", len(dst))
			}
		}
	})
	b.Run("every filter", func(b *testing.B) {
		for b.Loop() {
			matched := 0
			for _, c := range subs {
				if c.Matches(ev) {
					matched++
				}
			}
			if matched != 1 {
				b.Fatalf("%d matches", matched)
			}
		}
	})
}

// BenchmarkIndexMemory reports the heap the matching index keeps per
// subscription, read after a collection, when every subscription filters
// on a value of its own (a tenant's source, say) and when they share a
// thousand types.
func BenchmarkIndexMemory(b *testing.B) {
	const n = 20000
	for _, tt := range []struct {
		name   string
		filter func(i int) Filter
	}{
		{"own source", func(i int) Filter { return Filter{Sources: []string{fmt.Sprintf("tenant-%d", i)}} }},
		{"own type and source", func(i int) Filter {
			return Filter{Types: []string{fmt.Sprintf("type.%d", i)}, Sources: []string{fmt.Sprintf("tenant-%d", i)}}
		}},
		{"1000 types", func(i int) Filter { return Filter{Types: []string{fmt.Sprintf("type.%d", i%1000)}} }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			subs := make([]*Compiled, n)
			for i := range subs {
				c, err := Compile(valid(func(s *Subscription) { s.ID = fmt.Sprintf("sub_%06d", i); s.Filter = tt.filter(i) }))
				if err != nil {
					b.Fatal(err)
				}
				subs[i] = c
			}
			var perSub float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				set := NewSet(subs)
				runtime.GC()
				runtime.ReadMemStats(&after)
				perSub = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
				runtime.KeepAlive(set)
			}
			b.ReportMetric(perSub, "bytes/subscription")
		})
	}
}

// compactSubs compiles n subscriptions that each want one type of a
// thousand, a level, one source of a hundred and a numeric predicate,
// like the control plane scenario of hookstream-bench; the function
// compiles the i-th again, by another name.
func compactSubs(b *testing.B, n int) ([]*Compiled, func(i int, name string) *Compiled) {
	b.Helper()
	compile := func(i int, name string) *Compiled {
		c, err := Compile(valid(func(s *Subscription) {
			s.ID, s.Name = fmt.Sprintf("sub_%07d", i), name
			s.Filter = Filter{Types: []string{fmt.Sprintf("type.%d", i%1000)}, Levels: []string{"error"},
				Sources: []string{fmt.Sprintf("svc-%d", i%100)},
				Where:   []Predicate{{Path: "metadata.amount", Op: OpGte, Value: float64(i % 500)}}}
		}))
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	subs := make([]*Compiled, n)
	for i := range subs {
		subs[i] = compile(i, "stored")
	}
	return subs, compile
}

// BenchmarkCompact builds a set of 100,000 subscriptions anew from one
// with compactAt changes, as a worker does once its middle tier holds an
// eighth of them.
func BenchmarkCompact(b *testing.B) {
	const n = 100000
	subs, compile := compactSubs(b, n)
	set := NewSet(subs)
	for i := range compactAt {
		set = set.With(compile(i*(n/compactAt)+7, "changed"))
	}
	b.ReportAllocs()
	for b.Loop() {
		NewSet(set.All())
	}
}

// BenchmarkChanges applies compactAt changes to a set of 100,000
// subscriptions and compacts it, as a worker does while changes keep
// coming: an op is the changes and their compaction, over a run long
// enough to include whole rebuilds. "rebuild" builds the whole index
// anew at each compaction instead, as workers did before the middle
// tier.
func BenchmarkChanges(b *testing.B) {
	const n = 100000
	subs, compile := compactSubs(b, n)
	changes := make([]*Compiled, 4096)
	for i := range changes {
		changes[i] = compile(i*7919%n, "changed")
	}
	for _, bc := range []struct {
		name    string
		compact func(*Set) *Set
	}{
		{"tiered", (*Set).Compacted},
		{"rebuild", func(s *Set) *Set { return NewSet(s.All()) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			set, next := NewSet(subs), 0
			b.ReportAllocs()
			for b.Loop() {
				for range compactAt {
					set = set.With(changes[next%len(changes)])
					next++
				}
				set = bc.compact(set)
			}
		})
	}
}
