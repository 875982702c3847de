package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// The counter file holds the count in decimal followed by one newline. The
// newline marks a complete value: "12" (a cut-off "123\n") is rejected, never
// read as 12. The format is the one every earlier hello wrote and reads, so a
// rollback to an older image still opens the file.
const (
	counterFile   = "visits"
	counterTmpPfx = counterFile + ".tmp-"
	maxCountLen   = len("18446744073709551615\n")
)

// Counter is the visit count kept in the state directory. An increment
// returns only once its count is durable: written to a temp file in the same
// directory, fsynced, renamed over the old file, and the directory fsynced. A
// crash at any point leaves either the old or the new count, never a mix.
//
// A flush costs a few milliseconds of disk time whatever it stores, so
// visits share flushes (group commit): visits that arrive while a flush is in
// flight wait together, and the next flush stores their total at once. Each
// visit is answered after the flush that contains it, with a count of its
// own. Nothing waits to fill a batch: a visit that finds the disk idle starts
// a flush at once, so a lone visit costs one flush, as before, and under load
// the disk flushes back to back with every visit that queued meanwhile.
type Counter struct {
	dir  string
	path string

	mu       sync.Mutex
	n        uint64 // the count on disk; only the flusher raises it
	pending  *batch // visits waiting for the next flush; nil when none wait
	flushing bool   // a flusher goroutine is running

	// syncFile makes the temp file's contents durable. Tests replace it to
	// hold a flush in flight or to count flushes.
	syncFile func(*os.File) error
}

// batch is the visits one flush stores.
type batch struct {
	visits uint64        // how many visits joined; the i-th (0-based) gets base+i+1
	base   uint64        // the count before this batch, set by the flusher
	err    error         // the flush's result, set before done closes
	done   chan struct{} // closed when the flush has finished, well or not
}

// OpenCounter loads the count from dir. A missing file starts at 0. Temp
// files left by a crash mid-write are removed: the count they held was never
// reported to a client. A counter file that does not parse is an error, not a
// silent reset to 0: an operator must see it, keep or fix the value, and
// delete the file only to reset on purpose.
func OpenCounter(dir string, logger *slog.Logger) (*Counter, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("state directory %s is not a directory", dir)
	}
	leftovers, err := filepath.Glob(filepath.Join(dir, counterTmpPfx+"*"))
	if err != nil {
		return nil, err
	}
	for _, tmp := range leftovers {
		if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove unfinished write %s: %w", tmp, err)
		}
		logger.Warn("removed unfinished counter write left by a crash", "file", tmp)
	}

	c := &Counter{dir: dir, path: filepath.Join(dir, counterFile), syncFile: (*os.File).Sync}
	data, err := os.ReadFile(c.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("read visit counter: %w", err)
	}
	n, err := parseCount(data)
	if err != nil {
		return nil, fmt.Errorf("visit counter %s is corrupt (%v); fix the number or delete the file to reset it to 0", c.path, err)
	}
	c.n = n
	return c, nil
}

func parseCount(data []byte) (uint64, error) {
	if len(data) > maxCountLen {
		return 0, fmt.Errorf("%d bytes, at most %d expected", len(data), maxCountLen)
	}
	text, complete := strings.CutSuffix(string(data), "\n")
	if !complete {
		return 0, fmt.Errorf("content %q does not end in a newline: incomplete write", data)
	}
	if text == "" || strings.TrimLeft(text, "0123456789") != "" {
		return 0, fmt.Errorf("content %q is not a decimal number", data)
	}
	n, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("content %q: %w", data, err)
	}
	return n, nil
}

// Value returns the count on disk. A visit still waiting for its flush is
// not part of it yet: what Value reports has been stored.
func (c *Counter) Value() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Increment records one visit and returns its count once that count is on
// disk. Concurrent calls get distinct counts. If the flush fails, every visit
// it held gets the error and the count on disk is unchanged, so a number a
// client saw is always on disk and the count never skips a value.
func (c *Counter) Increment() (uint64, error) {
	c.mu.Lock()
	b := c.pending
	if b == nil {
		b = &batch{done: make(chan struct{})}
		c.pending = b
	}
	i := b.visits
	b.visits++
	if !c.flushing {
		// The disk is idle: flush now rather than wait for company.
		c.flushing = true
		go c.flush()
	}
	c.mu.Unlock()

	<-b.done
	if b.err != nil {
		return 0, b.err
	}
	return b.base + i + 1, nil
}

// flush stores waiting batches one after another until none is left. Only
// one flush runs at a time (c.flushing), so the counts of a batch follow
// those of the batch before it. Visits arriving during a flush form the next
// batch, which this same loop stores right after.
func (c *Counter) flush() {
	for {
		c.mu.Lock()
		b := c.pending
		if b == nil {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		c.pending = nil
		b.base = c.n
		c.mu.Unlock()

		// The disk work runs without the lock, so visits keep joining the
		// next batch meanwhile.
		b.err = c.store(b.base + b.visits)

		c.mu.Lock()
		if b.err == nil {
			c.n = b.base + b.visits
		}
		c.mu.Unlock()
		close(b.done)
	}
}

func (c *Counter) store(n uint64) (err error) {
	f, err := os.CreateTemp(c.dir, counterTmpPfx+"*")
	if err != nil {
		return fmt.Errorf("store visit counter: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.WriteString(strconv.FormatUint(n, 10) + "\n"); err != nil {
		_ = f.Close()
		return fmt.Errorf("store visit counter: %w", err)
	}
	if err = c.syncFile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("store visit counter: fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("store visit counter: %w", err)
	}
	if err = os.Rename(tmp, c.path); err != nil {
		return fmt.Errorf("store visit counter: %w", err)
	}
	// The rename is durable only once the directory entry is on disk.
	return syncDir(c.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store visit counter: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store visit counter: fsync %s: %w", dir, err)
	}
	return nil
}
