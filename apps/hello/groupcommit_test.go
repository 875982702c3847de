package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// wait bounds every wait below; it only matters when a test fails.
const wait = 10 * time.Second

// flushGate replaces a counter's fsync so the test decides when each flush
// may finish: every flush reports its number on entered, then waits for one
// token on release. It counts the flushes too.
type flushGate struct {
	entered chan int
	release chan struct{}
	calls   atomic.Int32
	fail    map[int]error // flush number → error to return instead of syncing
}

func gateFlushes(t *testing.T, c *Counter) *flushGate {
	t.Helper()
	g := &flushGate{entered: make(chan int, 100), release: make(chan struct{}, 100), fail: map[int]error{}}
	c.syncFile = func(f *os.File) error {
		n := int(g.calls.Add(1))
		g.entered <- n
		<-g.release
		if err := g.fail[n]; err != nil {
			return err
		}
		return f.Sync()
	}
	// A failing test must not leave flushes (and their visitors) blocked.
	t.Cleanup(func() { close(g.release) })
	return g
}

// awaitFlush waits until flush number n is in flight (holding the disk).
func (g *flushGate) awaitFlush(t *testing.T, n int) {
	t.Helper()
	select {
	case got := <-g.entered:
		if got != n {
			t.Fatalf("flush %d started, want flush %d", got, n)
		}
	case <-time.After(wait):
		t.Fatalf("flush %d never started", n)
	}
}

// finishFlush lets the flush in flight complete.
func (g *flushGate) finishFlush() { g.release <- struct{}{} }

type visit struct {
	n   uint64
	err error
}

func startVisit(c *Counter, answers chan<- visit) {
	go func() {
		n, err := c.Increment()
		answers <- visit{n, err}
	}()
}

// awaitQueued waits until n visits wait for the next flush.
func awaitQueued(t *testing.T, c *Counter, n uint64) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		c.mu.Lock()
		queued := uint64(0)
		if c.pending != nil {
			queued = c.pending.visits
		}
		c.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d visits wait for the next flush, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func expectNoAnswer(t *testing.T, answers <-chan visit, why string) {
	t.Helper()
	select {
	case a := <-answers:
		t.Fatalf("visit answered (%d, %v) %s", a.n, a.err, why)
	default:
	}
}

func receive(t *testing.T, answers <-chan visit, n int) []visit {
	t.Helper()
	var got []visit
	for len(got) < n {
		select {
		case a := <-answers:
			got = append(got, a)
		case <-time.After(wait):
			t.Fatalf("%d of %d visits answered", len(got), n)
		}
	}
	return got
}

func fileCount(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, counterFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Visitors that arrive while a flush is in flight are all stored by the next
// flush, each answered only after that flush, each with a count of its own.
func TestCounterConcurrentVisitorsShareOneFlush(t *testing.T) {
	dir := t.TempDir()
	c := openCounter(t, dir)
	g := gateFlushes(t, c)
	answers := make(chan visit, 100)

	startVisit(c, answers)
	g.awaitFlush(t, 1) // the first visit holds the disk

	const queued = 8
	for i := 0; i < queued; i++ {
		startVisit(c, answers)
	}
	awaitQueued(t, c, queued)
	expectNoAnswer(t, answers, "before its flush")

	g.finishFlush()
	if first := receive(t, answers, 1)[0]; first.err != nil || first.n != 1 {
		t.Fatalf("first visit = %d, %v; want 1", first.n, first.err)
	}
	g.awaitFlush(t, 2) // the queued visits, together
	expectNoAnswer(t, answers, "while the flush holding it is still in flight")
	if c.Value() != 1 || fileCount(t, dir) != "1\n" {
		t.Fatalf("during the shared flush: Value %d, file %q; want 1 (only what is stored)", c.Value(), fileCount(t, dir))
	}

	g.finishFlush()
	var counts []uint64
	for len(counts) < queued {
		select {
		case a := <-answers:
			if a.err != nil {
				t.Fatal(a.err)
			}
			counts = append(counts, a.n)
		case n := <-g.entered:
			t.Fatalf("flush %d started with %d of %d queued visits answered: they did not share one flush", n, len(counts), queued)
		case <-time.After(wait):
			t.Fatalf("%d of %d queued visits answered", len(counts), queued)
		}
	}
	slices.Sort(counts)
	if want := []uint64{2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(counts, want) {
		t.Fatalf("queued visits got %v, want each of %v once", counts, want)
	}
	if n := g.calls.Load(); n != 2 {
		t.Fatalf("%d flushes for 1+%d visits, want 2: the queued visits must share one", n, queued)
	}
	if c.Value() != 1+queued || fileCount(t, dir) != "9\n" {
		t.Fatalf("after the shared flush: Value %d, file %q; want 9", c.Value(), fileCount(t, dir))
	}
}

// A visit that finds the disk idle is flushed at once, not held back to wait
// for others: one visit at a time means one flush per visit.
func TestCounterLoneVisitFlushesAtOnce(t *testing.T) {
	c := openCounter(t, t.TempDir())
	g := gateFlushes(t, c)
	answers := make(chan visit, 1)
	for want := uint64(1); want <= 3; want++ {
		startVisit(c, answers)
		g.awaitFlush(t, int(want))
		g.finishFlush()
		if a := receive(t, answers, 1)[0]; a.err != nil || a.n != want {
			t.Fatalf("visit = %d, %v; want %d", a.n, a.err, want)
		}
	}
}

// When a shared flush fails, every visit it held gets the error, the stored
// count stays, and the next visit takes the next number: no count a client
// saw is lost and none is skipped.
func TestCounterFailedSharedFlushFailsItsVisits(t *testing.T) {
	dir := t.TempDir()
	c := openCounter(t, dir)
	g := gateFlushes(t, c)
	diskErr := errors.New("disk on fire")
	g.fail[2] = diskErr
	answers := make(chan visit, 100)

	startVisit(c, answers)
	g.awaitFlush(t, 1)
	const queued = 5
	for i := 0; i < queued; i++ {
		startVisit(c, answers)
	}
	awaitQueued(t, c, queued)
	g.finishFlush()
	if a := receive(t, answers, 1)[0]; a.err != nil || a.n != 1 {
		t.Fatalf("first visit = %d, %v; want 1", a.n, a.err)
	}
	g.awaitFlush(t, 2)
	g.finishFlush()
	for _, a := range receive(t, answers, queued) {
		if !errors.Is(a.err, diskErr) {
			t.Fatalf("visit of the failed flush = %d, %v; want the flush error", a.n, a.err)
		}
	}
	if c.Value() != 1 || fileCount(t, dir) != "1\n" {
		t.Fatalf("after the failed flush: Value %d, file %q; want 1", c.Value(), fileCount(t, dir))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, counterTmpPfx+"*")); len(left) != 0 {
		t.Fatalf("failed flush left temp files: %v", left)
	}

	startVisit(c, answers)
	g.awaitFlush(t, 3)
	g.finishFlush()
	if a := receive(t, answers, 1)[0]; a.err != nil || a.n != 2 {
		t.Fatalf("visit after the failure = %d, %v; want 2", a.n, a.err)
	}
}
