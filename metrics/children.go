package metrics

import (
	"maps"
	"sync"
	"sync/atomic"
)

// children looks a vector's children up by their label values without
// hashing the values and taking the vector's lock on every call, as
// WithLabelValues does: the children seen so far are kept in a map that
// is read with one atomic load and copied on the rare write. For label
// values of a small, fixed set looked up on every event or attempt.
type children[K comparable, C any] struct {
	with func(K) C // the vector's child for a key
	mu   sync.Mutex
	seen atomic.Pointer[map[K]C]
}

func newChildren[K comparable, C any](with func(K) C) *children[K, C] {
	c := &children[K, C]{with: with}
	c.seen.Store(&map[K]C{})
	return c
}

// get returns the child for k.
func (c *children[K, C]) get(k K) C {
	if child, ok := (*c.seen.Load())[k]; ok {
		return child
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := *c.seen.Load()
	if child, ok := seen[k]; ok {
		return child
	}
	next := maps.Clone(seen)
	child := c.with(k)
	next[k] = child
	c.seen.Store(&next)
	return child
}
