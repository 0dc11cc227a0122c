//go:build linux

package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pidCPU returns the CPU time (user + system, to the nanosecond) that the
// threads of process pid have used, from /proc/PID/task/*/schedstat, and
// true; false if it cannot be read.
func pidCPU(pid int) (time.Duration, bool) {
	stats, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	if err != nil || len(stats) == 0 {
		return 0, false
	}
	var sum time.Duration
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			return 0, false
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, false
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, false
		}
		sum += time.Duration(ns)
	}
	return sum, true
}
