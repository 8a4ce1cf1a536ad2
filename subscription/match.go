package subscription

import (
	"maps"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/hookstream/hookstream/event"
)

// Set is an immutable snapshot of compiled subscriptions with an index
// for matching. Build one with NewSet, change one with With and Without;
// share it freely.
//
// A Set is built in tiers, so that a change costs the size of the change,
// not of every subscription: an index of every subscription built once
// (base, see index); an index of those changed since, built again now
// and then (mid); and the few changed since that, compared with an event
// one by one (recent). Once the recent changes are many (Changes), the
// owner folds them into the middle tier with Compacted, which builds the
// whole index anew only once the middle tier has grown to an eighth of
// it: rebuilding 100,000 subscriptions every 256 changes cost a worker
// 25 ms of CPU each time.
type Set struct {
	base *index
	// mid indexes the enabled values of midDelta, the subscriptions
	// changed since base was built, up to the last compaction: the new
	// value, nil when deleted. Nil when there are none.
	mid      *index
	midDelta map[string]*Compiled
	stale    bitset               // the positions in base of midDelta's subscriptions
	delta    map[string]*Compiled // changed since mid: the new value, nil when deleted
	extra    []*Compiled          // the enabled values of delta, by ID
	n        int
}

// NewSet indexes subs. Disabled subscriptions are kept for lookup by ID
// but never match.
func NewSet(subs []*Compiled) *Set {
	b := newIndex(subs)
	return &Set{base: b, n: len(b.all)}
}

// With returns a copy of s in which c replaces the subscription of its
// ID, or is added.
func (s *Set) With(c *Compiled) *Set { return s.change(c.ID, c) }

// Without returns a copy of s without the subscription id.
func (s *Set) Without(id string) *Set { return s.change(id, nil) }

// Changes returns how many subscriptions changed since the Set was last
// built or compacted.
func (s *Set) Changes() int { return len(s.delta) }

// midShare is the share of the subscriptions the middle tier may hold
// before a compaction builds the whole index anew: at an eighth, a
// worker holding 100,000 rebuilds them once every 12,500 changes, and
// indexes at most that many each 256 changes in between.
const midShare = 8

// Compacted returns s with its recent changes indexed: in the middle
// tier, or, once that holds an eighth of the subscriptions, in an index
// of them all built anew.
func (s *Set) Compacted() *Set {
	if (len(s.midDelta)+len(s.delta))*midShare > len(s.base.all) {
		return NewSet(s.All())
	}
	merged := make(map[string]*Compiled, len(s.midDelta)+len(s.delta))
	maps.Copy(merged, s.midDelta)
	maps.Copy(merged, s.delta)
	vals := make([]*Compiled, 0, len(merged))
	for _, c := range merged {
		if c != nil {
			vals = append(vals, c)
		}
	}
	stale := make(bitset, s.base.words)
	for id := range merged {
		if i, ok := s.base.position(id); ok {
			stale.set(i)
		}
	}
	return &Set{base: s.base, mid: newIndex(vals), midDelta: merged, stale: stale, n: s.n}
}

func (s *Set) change(id string, c *Compiled) *Set {
	_, had := s.Get(id)
	next := &Set{base: s.base, mid: s.mid, midDelta: s.midDelta, stale: s.stale, n: s.n}
	if next.delta = maps.Clone(s.delta); next.delta == nil {
		next.delta = make(map[string]*Compiled, 1)
	}
	next.delta[id] = c
	// extra stays sorted: the change's old value out, its new one in.
	next.extra = make([]*Compiled, 0, len(s.extra)+1)
	i, found := slices.BinarySearchFunc(s.extra, id, hasID)
	next.extra = append(next.extra, s.extra[:i]...)
	if c != nil && c.Enabled {
		next.extra = append(next.extra, c)
	}
	if found {
		i++
	}
	next.extra = append(next.extra, s.extra[i:]...)
	switch {
	case had && c == nil:
		next.n--
	case !had && c != nil:
		next.n++
	}
	return next
}

// Len returns the number of subscriptions, enabled or not.
func (s *Set) Len() int { return s.n }

// All returns every subscription sorted by ID.
func (s *Set) All() []*Compiled {
	changed := make([]*Compiled, 0, len(s.midDelta)+len(s.delta))
	for id, c := range s.midDelta {
		if _, newer := s.delta[id]; !newer && c != nil {
			changed = append(changed, c)
		}
	}
	for _, c := range s.delta {
		if c != nil {
			changed = append(changed, c)
		}
	}
	slices.SortFunc(changed, byID)
	// The index is sorted already: merge the changes into it.
	out := make([]*Compiled, 0, s.n)
	for _, c := range s.base.all {
		if _, ok := s.midDelta[c.ID]; ok {
			continue
		}
		if _, ok := s.delta[c.ID]; ok {
			continue
		}
		for len(changed) > 0 && changed[0].ID < c.ID {
			out = append(out, changed[0])
			changed = changed[1:]
		}
		out = append(out, c)
	}
	return append(out, changed...)
}

// Get returns the subscription with the given ID.
func (s *Set) Get(id string) (*Compiled, bool) {
	if c, ok := s.delta[id]; ok {
		return c, c != nil
	}
	if c, ok := s.midDelta[id]; ok {
		return c, c != nil
	}
	return s.base.get(id)
}

// Match appends to dst the enabled subscriptions whose filter ev passes,
// in ID order, and returns the extended slice. With a dst of enough
// capacity it does not allocate.
func (s *Set) Match(ev *event.Event, dst []*Compiled) []*Compiled {
	start := len(dst)
	dst = s.base.match(ev, dst, s.stale, s.delta)
	fromMid := len(dst)
	if s.mid != nil {
		dst = s.mid.match(ev, dst, nil, s.delta)
	}
	fromExtra := len(dst)
	for _, c := range s.extra {
		if c.Matches(ev) {
			dst = append(dst, c)
		}
	}
	// Each tier's matches are in ID order: merge them.
	if len(dst) > fromMid {
		dst = mergeSorted(dst, fromMid, fromExtra)
		dst = mergeSorted(dst, start, fromMid)
	}
	return dst
}

// mergeSorted merges dst[lo:mid] and dst[mid:], each in ID order, in
// place. It works in dst's spare capacity, in which it copies the second
// run (the later tiers' matches, the fewer), so that a dst of enough
// capacity allocates nothing.
func mergeSorted(dst []*Compiled, lo, mid int) []*Compiled {
	n := len(dst)
	if lo == mid || mid == n {
		return dst
	}
	dst = append(dst, dst[mid:]...)
	right := dst[n:]
	i, k := mid-1, n-1
	for j := len(right) - 1; j >= 0; k-- {
		if i >= lo && byID(dst[i], right[j]) > 0 {
			dst[k] = dst[i]
			i--
		} else {
			dst[k] = right[j]
			j--
		}
	}
	clear(right) // hold no subscription past its set
	return dst[:n]
}

// index is the matching index of a set of subscriptions, built once.
//
// It keeps, for each of type, level and source, the enabled subscriptions
// that accept each value (postings) and a bitset of those that accept any
// value. Matching ORs each field's two together, ANDs the three a machine
// word at a time and runs the full filter only on the survivors, so
// events are not compared against every subscription.
type index struct {
	all     []*Compiled // sorted by ID
	enabled []*Compiled // bit i of every bitset is enabled[i]
	words   int

	typeOf, levelOf, sourceOf    map[string]*postings
	anyType, anyLevel, anySource bitset // no filter on that field
	globSource                   bitset // has source globs: check each
	maybeSource                  bitset // anySource | globSource
	// eqs index, for each path, the subscriptions whose first eq
	// predicate reads it, by the value it wants: ten thousand
	// subscriptions that tell events apart by a field are not each
	// evaluated.
	eqs []eqIndex

	scratch sync.Pool // of *scratch
}

// postings are the positions of the enabled subscriptions that accept one
// value of a field: a bitset when they are more than one in 32 of them,
// else the positions themselves. A bitset for every value would cost each
// value words*8 bytes, and the index the square of the subscriptions when
// each wants a value of its own (a tenant's source): 1.25 GB for 100,000.
type postings struct {
	bits bitset  // when dense
	list []int32 // otherwise, ascending
}

// fieldBits returns the subscriptions that accept a field's value as two
// bitsets to OR (the second may be nil): those that accept any value
// and the value's postings. Listed postings are set in a copy of the
// first in scratch.
func fieldBits(anyValue bitset, p *postings, scratch bitset) (bitset, bitset) {
	switch {
	case p == nil:
		return anyValue, nil
	case p.bits != nil:
		return anyValue, p.bits
	}
	copy(scratch, anyValue)
	for _, i := range p.list {
		scratch.set(int(i))
	}
	return scratch, nil
}

// scratch is what matching one event works in.
type scratch struct {
	cand, typ, level, source, keep bitset
}

// eqIndex is the index of the eq predicates on one path.
type eqIndex struct {
	path    event.Path
	indexed bitset        // the subscriptions indexed on this path
	byValue map[any][]int // their positions, by the value their predicate wants
}

type bitset []uint64

func (b bitset) set(i int) { b[i/64] |= 1 << (uint(i) % 64) }

func newIndex(subs []*Compiled) *index {
	all := slices.Clone(subs)
	if !slices.IsSortedFunc(all, byID) {
		slices.SortFunc(all, byID)
	}
	s := &index{all: all}
	for _, c := range all {
		if c.Enabled {
			s.enabled = append(s.enabled, c)
		}
	}
	s.words = (len(s.enabled) + 63) / 64
	newBits := func() bitset { return make(bitset, s.words) }
	s.anyType, s.anyLevel, s.anySource, s.globSource = newBits(), newBits(), newBits(), newBits()
	types, levels, sources := map[string][]int32{}, map[string][]int32{}, map[string][]int32{}
	for i, c := range s.enabled {
		if len(c.Filter.Types) == 0 {
			s.anyType.set(i)
		}
		for _, t := range c.Filter.Types {
			types[t] = append(types[t], int32(i))
		}
		if len(c.levels) == 0 {
			s.anyLevel.set(i)
		}
		for _, l := range c.levels {
			levels[l] = append(levels[l], int32(i))
		}
		if len(c.sources) == 0 && len(c.globs) == 0 {
			s.anySource.set(i)
		}
		for src := range c.sources {
			sources[src] = append(sources[src], int32(i))
		}
		if len(c.globs) > 0 {
			s.globSource.set(i)
		}
		s.indexEq(c, i, newBits)
	}
	s.maybeSource = newBits()
	for w := range s.maybeSource {
		s.maybeSource[w] = s.anySource[w] | s.globSource[w]
	}
	s.typeOf, s.levelOf, s.sourceOf = s.postings(types), s.postings(levels), s.postings(sources)
	s.scratch.New = func() any {
		b := make(bitset, 5*s.words)
		w := s.words
		return &scratch{cand: b[:w:w], typ: b[w : 2*w : 2*w], level: b[2*w : 3*w : 3*w], source: b[3*w : 4*w : 4*w], keep: b[4*w:]}
	}
	return s
}

// postings turns the positions gathered for each value into postings.
func (s *index) postings(byValue map[string][]int32) map[string]*postings {
	out := make(map[string]*postings, len(byValue))
	for v, list := range byValue {
		if len(list) > 2*s.words { // 4 bytes each against 8 a word
			b := make(bitset, s.words)
			for _, i := range list {
				b.set(int(i))
			}
			out[v] = &postings{bits: b}
			continue
		}
		out[v] = &postings{list: slices.Clip(list)}
	}
	return out
}

// indexEq indexes c, the i-th enabled subscription, on its first eq
// predicate. Values are the scalars eq compares (string, float64, bool,
// nil), equal as map keys exactly when scalarEqual says so.
func (s *index) indexEq(c *Compiled, i int, newBits func() bitset) {
	for _, p := range c.where {
		if p.op != OpEq {
			continue
		}
		text := p.path.String()
		k := slices.IndexFunc(s.eqs, func(e eqIndex) bool { return e.path.String() == text })
		if k < 0 {
			s.eqs = append(s.eqs, eqIndex{path: p.path, indexed: newBits(), byValue: map[any][]int{}})
			k = len(s.eqs) - 1
		}
		e := &s.eqs[k]
		e.indexed.set(i)
		e.byValue[p.want] = append(e.byValue[p.want], i)
		return
	}
}

// position returns the position of subscription id among the enabled.
func (s *index) position(id string) (int, bool) {
	return slices.BinarySearchFunc(s.enabled, id, hasID)
}

func (s *index) get(id string) (*Compiled, bool) {
	i, ok := slices.BinarySearchFunc(s.all, id, hasID)
	if !ok {
		return nil, false
	}
	return s.all[i], true
}

// match appends to dst the enabled subscriptions whose filter ev passes,
// in ID order, leaving out those changed since: at the positions set in
// stale (nil for none) or in skip.
func (s *index) match(ev *event.Event, dst []*Compiled, stale bitset, skip map[string]*Compiled) []*Compiled {
	if s.words == 0 {
		return dst
	}
	sc := s.scratch.Get().(*scratch)
	cand := sc.cand
	t1, t2 := fieldBits(s.anyType, s.typeOf[ev.Type], sc.typ)
	l1, l2 := fieldBits(s.anyLevel, s.levelOf[ev.Level], sc.level)
	s1, s2 := fieldBits(s.maybeSource, s.sourceOf[ev.Source], sc.source)
	for w := range cand {
		t, l, src := t1[w], l1[w], s1[w]
		if t2 != nil {
			t |= t2[w]
		}
		if l2 != nil {
			l |= l2[w]
		}
		if s2 != nil {
			src |= s2[w]
		}
		cand[w] = t & l & src
	}
	if stale != nil {
		for w := range cand {
			cand[w] &^= stale[w]
		}
	}
	for _, e := range s.eqs {
		if !anySet(cand) {
			break
		}
		// The subscriptions indexed here pass only if the event holds
		// the value they want; the others are not excluded.
		var want []int
		if v, ok := e.path.Lookup(ev.Fields()); ok && isScalar(v) {
			want = e.byValue[v]
		}
		keep := sc.keep
		clear(keep)
		for _, i := range want {
			if cand.has(i) {
				keep.set(i)
			}
		}
		for w := range cand {
			cand[w] = cand[w]&^e.indexed[w] | keep[w]
		}
	}
	for w, word := range cand {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			c := s.enabled[i]
			if len(skip) > 0 {
				if _, changed := skip[c.ID]; changed {
					continue
				}
			}
			if !s.globSource.has(i) || c.matchSource(ev.Source) {
				if c.matchWhere(ev) {
					dst = append(dst, c)
				}
			}
		}
	}
	s.scratch.Put(sc)
	return dst
}

// byID orders subscriptions by ID.
func byID(a, b *Compiled) int { return strings.Compare(a.ID, b.ID) }

// hasID compares a subscription's ID with id, to search by ID.
func hasID(c *Compiled, id string) int { return strings.Compare(c.ID, id) }

func anySet(b bitset) bool {
	for _, w := range b {
		if w != 0 {
			return true
		}
	}
	return false
}

func (b bitset) has(i int) bool { return b[i/64]&(1<<(uint(i)%64)) != 0 }
