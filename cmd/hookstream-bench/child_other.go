//go:build !linux

package main

import "os/exec"

// child is cmd as it is: only Linux can tie a child's life to the bench's.
func child(cmd *exec.Cmd) *exec.Cmd { return cmd }
