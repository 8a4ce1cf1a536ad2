//go:build faults

package main

import (
	"fmt"
	"os"
	"time"
)

// The fault suite runs a worker whose clock is off by
// HOOKSTREAM_FAULT_CLOCK_SKEW (a Go duration, e.g. 1h or -30s), as a host
// whose clock drifted would be.
func init() {
	v := os.Getenv("HOOKSTREAM_FAULT_CLOCK_SKEW")
	if v == "" {
		return
	}
	skew, err := time.ParseDuration(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "HOOKSTREAM_FAULT_CLOCK_SKEW: %v\n", err)
		os.Exit(2)
	}
	clock = func() time.Time { return time.Now().Add(skew) }
}
