//go:build !unix

package main

import "os/exec"

// killGroup leaves cmd as it is: cancelling it kills sh alone.
func killGroup(*exec.Cmd) {}
