package testenv

import (
	"testing"
	"time"
)

// Eventually polls cond every 10ms until it holds or timeout passes, then
// fails the test with msg. args are evaluated when Eventually is called,
// not when it fails: pass nothing that other goroutines write.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
