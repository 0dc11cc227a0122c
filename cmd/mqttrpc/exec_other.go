//go:build !unix

package main

import "os/exec"

// killGroup leaves cmd as it is: cancelling it kills sh alone.
func killGroup(*exec.Cmd) {}

// ownGroup leaves cmd as it is: there are no process groups to signal.
func ownGroup(*exec.Cmd) {}

// signalGroup kills sh alone: without SIGTERM, even to stop it gently.
func signalGroup(cmd *exec.Cmd, _ bool) error { return cmd.Process.Kill() }
