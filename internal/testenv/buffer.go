package testenv

import (
	"bytes"
	"fmt"
	"sync"
)

// Buffer collects what is written to it from any goroutine: a process's
// output or a logger's, read while they still write.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Tail is the last n bytes written.
func (b *Buffer) Tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := b.b.Bytes()
	return string(all[max(0, len(all)-n):])
}

// End formats, when it is formatted, as the last n bytes written: for
// messages built before the output is complete.
func (b *Buffer) End(n int) fmt.Stringer { return end{b, n} }

type end struct {
	b *Buffer
	n int
}

func (e end) String() string { return e.b.Tail(e.n) }
