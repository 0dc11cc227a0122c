package main

import (
	"slices"
	"time"
)

// latencies are the percentiles of a bench run's round trips, marshalled to
// JSON as nanoseconds.
type latencies struct {
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p99.9"`
	Max  time.Duration `json:"max"`
	Mean time.Duration `json:"mean"`
}

// summarize returns the percentiles of ds, which it sorts. All are zero
// when ds is empty.
func summarize(ds []time.Duration) latencies {
	if len(ds) == 0 {
		return latencies{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return latencies{
		P50:  percentile(ds, 500),
		P90:  percentile(ds, 900),
		P99:  percentile(ds, 990),
		P999: percentile(ds, 999),
		Max:  ds[len(ds)-1],
		Mean: sum / time.Duration(len(ds)),
	}
}

// percentile returns the percentile of sorted given in thousandths (999 for
// p99.9) by the nearest-rank method: the smallest value that at least that
// share of the values do not exceed. Integer arithmetic keeps the rank
// exact. sorted must not be empty.
func percentile(sorted []time.Duration, perMille int) time.Duration {
	rank := (perMille*len(sorted) + 999) / 1000 // ceil(perMille/1000 × n)
	return sorted[max(rank, 1)-1]
}
