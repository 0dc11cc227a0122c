package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBench_serveJSON measures 200 round trips against the command's own
// echo responder, on each protocol version, and reads the JSON report.
func TestBench_serveJSON(t *testing.T) {
	url := mochi(t)
	for _, version := range []string{"5", "3.1.1"} {
		t.Run("v"+version, func(t *testing.T) {
			tp := topic("bench")
			args := []string{"bench", tp, "--serve", "--count", "200", "--callers", "4", "--size", "64",
				"--json", "-q", "1", "-s", url, "-V", version}
			if version == "3.1.1" {
				args = append(args, "--reply-topic", tp+"/reply")
			}
			r := cli(t, "", args...)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Empty(t, r.stderr, "no progress line when stderr is not a terminal")

			var rep benchReport
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
			assert.EqualValues(t, 200, rep.Requests)
			assert.EqualValues(t, 200, rep.OK)
			assert.Zero(t, rep.Errors)
			assert.Empty(t, rep.FirstError)
			assert.Equal(t, 4, rep.Callers)
			assert.Positive(t, rep.Throughput)
			l := rep.Latency
			assert.Positive(t, l.P50)
			assert.True(t, l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max, "%+v", l)
		})
	}
}

// TestBench_failures benchmarks a topic nobody answers: the report counts
// the failures, and the exit code is the first failure's.
func TestBench_failures(t *testing.T) {
	url := mochi(t)
	r := cli(t, "", "bench", topic("nobody"), "--count", "2", "--timeout", "100ms", "-s", url)
	assert.Equal(t, exitTimeout, r.code, r.stderr)
	assert.Contains(t, r.stdout, "2: 0 ok, 2 errors")
	assert.Contains(t, r.stdout, "first error")
}
