//go:build !linux

package bench

import "time"

// pidCPU is read from /proc on Linux only; elsewhere the broker-cpu-ns/op
// metric is left out.
func pidCPU(int) (time.Duration, bool) { return 0, false }
