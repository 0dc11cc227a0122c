package main

import (
	"encoding/csv"
	"encoding/json"
	"strings"
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

// TestBench_openLoop sends 40 requests at 200 per second: the run takes at
// least the 195 ms the schedule does, whatever the replies, and reports
// the rate offered and the requests sent late.
func TestBench_openLoop(t *testing.T) {
	url := mochi(t)
	r := cli(t, "", "bench", topic("open"), "--serve", "--rate", "200", "--count", "40", "--json", "-s", url)
	require.Equal(t, exitOK, r.code, r.stderr)
	var rep benchReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	t.Logf("open loop: %.3fs, late %d, p50 %v, max %v", rep.Seconds, rep.Late, rep.Latency.P50, rep.Latency.Max)
	assert.Equal(t, "open", rep.Loop)
	assert.InDelta(t, 200, rep.Rate, 0)
	assert.EqualValues(t, 40, rep.OK)
	assert.GreaterOrEqual(t, rep.Seconds, 0.195)
	assert.LessOrEqual(t, rep.Late, rep.Requests)
	assert.Positive(t, rep.Latency.P50)

	r = cli(t, "", "bench", topic("open"), "--serve", "--rate", "1000", "--count", "5", "-s", url)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "open loop at 1000 requests/s)")
	assert.Regexp(t, `(?m)^  late +\d+ sent more than 1ms after due$`, r.stdout)
}

// TestBench_csv prints the report as a CSV header and row, and says
// "1 caller".
func TestBench_csv(t *testing.T) {
	url := mochi(t)
	r := cli(t, "", "bench", topic("csv"), "--serve", "--count", "10", "--csv", "-s", url)
	require.Equal(t, exitOK, r.code, r.stderr)
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	require.NoError(t, err, r.stdout)
	require.Len(t, rows, 2)
	assert.Equal(t, benchCSVHeader, rows[0])
	row := map[string]string{}
	for i, k := range rows[0] {
		row[k] = rows[1][i]
	}
	assert.Equal(t, "10", row["ok"])
	assert.Equal(t, "closed", row["loop"])
	assert.Equal(t, "1", row["callers"])
	assert.NotEqual(t, "0", row["p50_ns"])

	r = cli(t, "", "bench", topic("one"), "--serve", "--count", "3", "-s", url)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, ", 1 caller)\n")
}

// TestBench_tokenReplyV311 runs concurrent callers on MQTT 3.1.1 with
// --token-reply, each request on a token of its own.
func TestBench_tokenReplyV311(t *testing.T) {
	url := mochi(t)
	tp := topic("bench-token")
	r := cli(t, "", "bench", tp, "--serve", "--count", "100", "--callers", "4", "--json",
		"-V", "3.1.1", "--token-reply", tp+"/reply", "-s", url)
	require.Equal(t, exitOK, r.code, r.stderr)
	var rep benchReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	assert.EqualValues(t, 100, rep.OK)
}
