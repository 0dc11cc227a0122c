package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPercentile_nearestRank(t *testing.T) {
	ds := make([]time.Duration, 1000)
	for i := range ds {
		ds[i] = time.Duration(1000-i) * time.Millisecond // reversed: summarize sorts
	}
	got := summarize(ds)
	assert.Equal(t, latencies{
		P50:  500 * time.Millisecond,
		P90:  900 * time.Millisecond,
		P99:  990 * time.Millisecond,
		P999: 999 * time.Millisecond,
		Max:  1000 * time.Millisecond,
		Mean: 500500 * time.Microsecond,
	}, got)
}

func TestPercentile_fewValues(t *testing.T) {
	one := []time.Duration{7}
	assert.Equal(t, latencies{P50: 7, P90: 7, P99: 7, P999: 7, Max: 7, Mean: 7}, summarize(one))
	assert.Equal(t, latencies{}, summarize(nil))
	two := []time.Duration{2, 1}
	got := summarize(two)
	assert.Equal(t, time.Duration(1), got.P50)
	assert.Equal(t, time.Duration(2), got.P90)
}
