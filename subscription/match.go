package subscription

import (
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
// A Set is an index built once (see index) and the few subscriptions
// changed since, so that a change costs the size of the change, not of
// every subscription: once the changes are many (Changes), the owner
// builds a new Set with NewSet.
type Set struct {
	base  *index
	delta map[string]*Compiled // changed since base: the new value, nil when deleted
	extra []*Compiled          // the enabled values of delta, by ID
	n     int
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

// Changes returns how many subscriptions changed since the Set was built.
func (s *Set) Changes() int { return len(s.delta) }

func (s *Set) change(id string, c *Compiled) *Set {
	_, had := s.Get(id)
	next := &Set{base: s.base, delta: make(map[string]*Compiled, len(s.delta)+1), n: s.n}
	for k, v := range s.delta {
		next.delta[k] = v
	}
	next.delta[id] = c
	for _, v := range next.delta {
		if v != nil && v.Enabled {
			next.extra = append(next.extra, v)
		}
	}
	slices.SortFunc(next.extra, func(a, b *Compiled) int { return strings.Compare(a.ID, b.ID) })
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
	out := make([]*Compiled, 0, s.n)
	for _, c := range s.base.all {
		if _, changed := s.delta[c.ID]; !changed {
			out = append(out, c)
		}
	}
	for _, c := range s.delta {
		if c != nil {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *Compiled) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Get returns the subscription with the given ID.
func (s *Set) Get(id string) (*Compiled, bool) {
	if c, ok := s.delta[id]; ok {
		return c, c != nil
	}
	return s.base.get(id)
}

// Match appends to dst the enabled subscriptions whose filter ev passes,
// in ID order, and returns the extended slice. With a dst of enough
// capacity it does not allocate.
func (s *Set) Match(ev *event.Event, dst []*Compiled) []*Compiled {
	start := len(dst)
	dst = s.base.match(ev, dst, s.delta)
	if len(s.extra) == 0 {
		return dst
	}
	fromBase := len(dst)
	for _, c := range s.extra {
		if c.Matches(ev) {
			dst = append(dst, c)
		}
	}
	if fromBase > start && len(dst) > fromBase {
		slices.SortFunc(dst[start:], func(a, b *Compiled) int { return strings.Compare(a.ID, b.ID) })
	}
	return dst
}

// index is the matching index of a set of subscriptions, built once.
//
// It keeps, for each of type, level and source, a bitset of the enabled
// subscriptions that accept each value plus a bitset of those that accept
// any value. Matching ANDs three bitsets a machine word at a time and
// runs the full filter only on the survivors, so events are not compared
// against every subscription.
type index struct {
	all     []*Compiled // sorted by ID
	enabled []*Compiled // bit i of every bitset is enabled[i]
	words   int

	typeOf, levelOf, sourceOf    map[string]bitset
	anyType, anyLevel, anySource bitset // no filter on that field
	globSource                   bitset // has source globs: check each
	// eqs index, for each path, the subscriptions whose first eq
	// predicate reads it, by the value it wants: ten thousand
	// subscriptions that tell events apart by a field are not each
	// evaluated.
	eqs []eqIndex

	scratch sync.Pool
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
	all := append([]*Compiled(nil), subs...)
	slices.SortFunc(all, func(a, b *Compiled) int { return strings.Compare(a.ID, b.ID) })
	s := &index{
		all:      all,
		typeOf:   map[string]bitset{},
		levelOf:  map[string]bitset{},
		sourceOf: map[string]bitset{},
	}
	for _, c := range all {
		if c.Enabled {
			s.enabled = append(s.enabled, c)
		}
	}
	s.words = (len(s.enabled) + 63) / 64
	newBits := func() bitset { return make(bitset, s.words) }
	s.anyType, s.anyLevel, s.anySource, s.globSource = newBits(), newBits(), newBits(), newBits()
	index := func(m map[string]bitset, key string, i int) {
		b, ok := m[key]
		if !ok {
			b = newBits()
			m[key] = b
		}
		b.set(i)
	}
	for i, c := range s.enabled {
		if len(c.Filter.Types) == 0 {
			s.anyType.set(i)
		}
		for _, t := range c.Filter.Types {
			index(s.typeOf, t, i)
		}
		if len(c.levels) == 0 {
			s.anyLevel.set(i)
		}
		for _, l := range c.levels {
			index(s.levelOf, l, i)
		}
		if len(c.sources) == 0 && len(c.globs) == 0 {
			s.anySource.set(i)
		}
		for src := range c.sources {
			index(s.sourceOf, src, i)
		}
		if len(c.globs) > 0 {
			s.globSource.set(i)
		}
		s.indexEq(c, i, newBits)
	}
	s.scratch.New = func() any { b := make(bitset, s.words); return &b }
	return s
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

func (s *index) get(id string) (*Compiled, bool) {
	i, ok := slices.BinarySearchFunc(s.all, id, func(c *Compiled, id string) int { return strings.Compare(c.ID, id) })
	if !ok {
		return nil, false
	}
	return s.all[i], true
}

// match appends to dst the enabled subscriptions whose filter ev passes,
// in ID order, leaving out those in skip.
func (s *index) match(ev *event.Event, dst []*Compiled, skip map[string]*Compiled) []*Compiled {
	if s.words == 0 {
		return dst
	}
	bp := s.scratch.Get().(*bitset)
	cand := *bp
	types, levels, sources := s.typeOf[ev.Type], s.levelOf[ev.Level], s.sourceOf[ev.Source]
	for w := range s.words {
		t := s.anyType[w]
		if types != nil {
			t |= types[w]
		}
		l := s.anyLevel[w]
		if levels != nil {
			l |= levels[w]
		}
		src := s.anySource[w] | s.globSource[w]
		if sources != nil {
			src |= sources[w]
		}
		cand[w] = t & l & src
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
		kp := s.scratch.Get().(*bitset)
		keep := *kp
		clear(keep)
		for _, i := range want {
			if cand.has(i) {
				keep.set(i)
			}
		}
		for w := range cand {
			cand[w] = cand[w]&^e.indexed[w] | keep[w]
		}
		s.scratch.Put(kp)
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
	s.scratch.Put(bp)
	return dst
}

func anySet(b bitset) bool {
	for _, w := range b {
		if w != 0 {
			return true
		}
	}
	return false
}

func (b bitset) has(i int) bool { return b[i/64]&(1<<(uint(i)%64)) != 0 }
