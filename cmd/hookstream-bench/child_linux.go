package main

import (
	"os/exec"
	"syscall"
)

// child makes cmd, a process the bench starts and stops, die with the
// bench: an interrupted run must not leave a worker or a redis-server
// behind to share the machine with the next.
func child(cmd *exec.Cmd) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}
