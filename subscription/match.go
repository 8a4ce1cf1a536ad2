package subscription

import (
	"math/bits"
	"sort"
	"sync"

	"github.com/hookstream/hookstream/event"
)

// Set is an immutable snapshot of compiled subscriptions with an index
// for matching. Build one with NewSet; share it freely.
//
// The index keeps, for each of type, level and source, a bitset of the
// enabled subscriptions that accept each value plus a bitset of those that
// accept any value. Matching ANDs three bitsets a machine word at a time
// and runs the full filter only on the survivors, so events are not
// compared against every subscription.
type Set struct {
	all     []*Compiled // sorted by ID
	byID    map[string]*Compiled
	enabled []*Compiled // bit i of every bitset is enabled[i]
	words   int

	typeOf, levelOf, sourceOf    map[string]bitset
	anyType, anyLevel, anySource bitset // no filter on that field
	globSource                   bitset // has source globs: check each

	scratch sync.Pool
}

type bitset []uint64

func (b bitset) set(i int) { b[i/64] |= 1 << (uint(i) % 64) }

// NewSet indexes subs. Disabled subscriptions are kept for lookup by ID
// but never match.
func NewSet(subs []*Compiled) *Set {
	all := append([]*Compiled(nil), subs...)
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	s := &Set{
		all:      all,
		byID:     make(map[string]*Compiled, len(all)),
		typeOf:   map[string]bitset{},
		levelOf:  map[string]bitset{},
		sourceOf: map[string]bitset{},
	}
	for _, c := range all {
		s.byID[c.ID] = c
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
	}
	s.scratch.New = func() any { b := make(bitset, s.words); return &b }
	return s
}

// Len returns the number of subscriptions, enabled or not.
func (s *Set) Len() int { return len(s.all) }

// All returns every subscription sorted by ID. The slice must not be
// modified.
func (s *Set) All() []*Compiled { return s.all }

// Get returns the subscription with the given ID.
func (s *Set) Get(id string) (*Compiled, bool) {
	c, ok := s.byID[id]
	return c, ok
}

// Match appends to dst the enabled subscriptions whose filter ev passes,
// in ID order, and returns the extended slice. With a dst of enough
// capacity it does not allocate.
func (s *Set) Match(ev *event.Event, dst []*Compiled) []*Compiled {
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
	for w, word := range cand {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			c := s.enabled[i]
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

func (b bitset) has(i int) bool { return b[i/64]&(1<<(uint(i)%64)) != 0 }
