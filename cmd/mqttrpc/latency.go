package main

import (
	"math"
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
		P50:  percentile(ds, 50),
		P90:  percentile(ds, 90),
		P99:  percentile(ds, 99),
		P999: percentile(ds, 99.9),
		Max:  ds[len(ds)-1],
		Mean: sum / time.Duration(len(ds)),
	}
}

// percentile returns the p-th percentile of sorted by the nearest-rank
// method: the smallest value that at least p percent of the values do not
// exceed. sorted must not be empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
