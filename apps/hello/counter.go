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
	"syscall"
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
// directory and synced, moved onto the counter's name in one atomic step, and
// the directory fsynced (store). A crash at any point leaves either the old
// or the new count, never a mix.
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

	// Kept open across flushes by store, which only the flusher runs.
	dirFile    *os.File // the state directory
	cur        *os.File // the file named counterFile; nil until the first flush
	spare      *os.File // the next value's file, named spareName; nil: create one
	spareName  string
	curLen     int
	spareLen   int    // bytes in each, to truncate a shorter value
	noExchange bool   // the filesystem has no RENAME_EXCHANGE
	buf        []byte // the value being written
}

// batch is the visits one flush stores.
type batch struct {
	visits uint64        // how many visits joined; the i-th (0-based) gets base+i+1
	base   uint64        // the count before this batch, set by the flusher
	err    error         // the flush's result, set before done closes
	done   chan struct{} // closed when the flush has finished, well or not
}

// OpenCounter loads the count from dir. A missing file starts at 0. Temp
// files left by a crash mid-write, or the spare of a stopped hello, are
// removed: the count they held is not the stored one. A counter file that does not parse is an error, not a
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

	c := &Counter{dir: dir, path: filepath.Join(dir, counterFile), syncFile: datasync}
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

// store makes n the durable count. Its steady state is one data write, one
// exchange of names and two flushes that touch no new inode:
//
//   - the spare (a temp file next to the counter, open across flushes) gets
//     "n\n" and an fdatasync: the bytes are on disk before any name points
//     at them;
//   - renameat2(RENAME_EXCHANGE) swaps the spare and the counter file in one
//     atomic step, so the counter names the new value and the spare the
//     previous one, which the next flush overwrites;
//   - the directory's fsync makes the exchange durable.
//
// Creating, fsyncing and renaming a fresh temp file per flush does the same
// with an inode allocated and freed every time and a second journal commit:
// about 40% more time per flush and most of hello's CPU per visit on ext4.
// That path remains for the first flush (no counter file to exchange with)
// and for filesystems without RENAME_EXCHANGE. A crash at any step leaves the
// counter file whole, old or new; the spare is a leftover OpenCounter
// removes.
func (c *Counter) store(n uint64) (err error) {
	defer func() {
		if err != nil {
			// Start the next flush from the paths again: the directory
			// may have been replaced, an open file may be broken.
			c.closeFiles(true)
			err = fmt.Errorf("store visit counter: %w", err)
		}
	}()
	if c.dirFile == nil {
		if c.dirFile, err = os.Open(c.dir); err != nil {
			return err
		}
	}
	if c.spare == nil {
		if c.spare, err = os.CreateTemp(c.dir, counterTmpPfx+"*"); err != nil {
			return err
		}
		// The name stays the spare's: an exchange swaps the files under
		// the two names, not the names.
		c.spareName, c.spareLen = filepath.Base(c.spare.Name()), 0
	}
	c.buf = strconv.AppendUint(c.buf[:0], n, 10)
	c.buf = append(c.buf, '\n')
	if _, err = c.spare.WriteAt(c.buf, 0); err != nil {
		return err
	}
	if len(c.buf) < c.spareLen {
		if err = c.spare.Truncate(int64(len(c.buf))); err != nil {
			return err
		}
	}
	c.spareLen = len(c.buf)
	if err = c.syncFile(c.spare); err != nil {
		return fmt.Errorf("fsync %s: %w", filepath.Join(c.dir, c.spareName), err)
	}

	exchanged := false
	if c.cur != nil && !c.noExchange {
		switch err = exchange(c.dirFile, c.spareName, counterFile); {
		case err == nil:
			exchanged = true
		case errors.Is(err, errors.ErrUnsupported):
			c.noExchange = true
		default:
			return err
		}
	}
	if exchanged {
		c.cur, c.spare = c.spare, c.cur
		c.curLen, c.spareLen = c.spareLen, c.curLen
	} else {
		if err = os.Rename(filepath.Join(c.dir, c.spareName), c.path); err != nil {
			return err
		}
		if c.cur != nil {
			_ = c.cur.Close()
		}
		c.cur, c.curLen, c.spare, c.spareName = c.spare, c.spareLen, nil, ""
	}
	// The new name is durable only once the directory is on disk.
	if err = c.dirFile.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", c.dir, err)
	}
	return nil
}

// closeFiles closes what store keeps open between flushes; with removeSpare
// it also deletes the spare, which holds no count anyone needs.
func (c *Counter) closeFiles(removeSpare bool) {
	for _, f := range []*os.File{c.dirFile, c.cur, c.spare} {
		if f != nil {
			_ = f.Close()
		}
	}
	if removeSpare && c.spareName != "" {
		_ = os.Remove(filepath.Join(c.dir, c.spareName))
	}
	c.dirFile, c.cur, c.spare, c.spareName = nil, nil, nil, ""
}

// datasync is fdatasync(2): the file's data and what is needed to read it
// back (its size), without the timestamps fsync would also write.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = syscall.Fdatasync(int(fd)); serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
