//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// killGroup runs cmd in a process group of its own and makes cancelling it
// kill the whole group, so that what sh started dies with it.
func killGroup(cmd *exec.Cmd) {
	ownGroup(cmd)
	cmd.Cancel = func() error { return signalGroup(cmd, true) }
}

// ownGroup makes cmd, once started, the leader of a process group of its
// own, so that a signal to the group reaches what sh started too.
func ownGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends the process group of cmd, started after ownGroup,
// SIGKILL if kill, SIGTERM otherwise.
func signalGroup(cmd *exec.Cmd, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(-cmd.Process.Pid, sig)
}
