package main

import (
	"os"
	"sync/atomic"
	"testing"
)

// BenchmarkIncrementParallel stores visits from 8 × GOMAXPROCS concurrent
// visitors on the disk of the test's temp directory and reports how many
// visits each flush carried (make bench measures the whole server).
func BenchmarkIncrementParallel(b *testing.B) {
	c, err := OpenCounter(b.TempDir(), quietLogger())
	if err != nil {
		b.Fatal(err)
	}
	var flushes atomic.Int64
	sync := c.syncFile
	c.syncFile = func(f *os.File) error {
		flushes.Add(1)
		return sync(f)
	}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Increment(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if n := flushes.Load(); n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "visits/flush")
	}
}
