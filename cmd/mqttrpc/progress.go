package main

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progressEvery is how often the progress line is redrawn.
const progressEvery = 500 * time.Millisecond

// startProgress redraws a one-line status of a bench run on stderr, if it
// is a terminal, until the function it returns is called; that call clears
// the line and returns once nothing more is drawn.
func startProgress(stderr io.Writer, ok, fails *atomic.Int64, start time.Time) (stop func()) {
	if !isTerminal(stderr) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(stderr, "\r\033[K")
				return
			case <-t.C:
				n := ok.Load()
				fmt.Fprintf(stderr, "\r\033[K%d ok  %d errors  %.0f round trips/s  %v",
					n, fails.Load(), float64(n)/time.Since(start).Seconds(), time.Since(start).Round(time.Second))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
