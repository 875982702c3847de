// The per-visit counter: hello's counter before group commit, kept as the
// baseline of the benchmark's serving section and never shipped. The bench
// builds a copy of hello with this file in place of apps/hello/counter.go, so
// both designs run the same server, handler and on-disk format; only how
// visits reach the disk differs. Here one mutex is held across the write, the
// fsync, the rename and the directory fsync of every visit, so concurrent
// visitors queue behind one disk flush each.

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
// read as 12.
const (
	counterFile   = "visits"
	counterTmpPfx = counterFile + ".tmp-"
	maxCountLen   = len("18446744073709551615\n")
)

// Counter is the visit count kept in the state directory. Every increment is
// durable before it is returned: written to a temp file in the same directory,
// fsynced, renamed over the old file, and the directory fsynced. A crash at
// any point leaves either the old or the new count, never a mix.
type Counter struct {
	mu   sync.Mutex
	dir  string
	path string
	n    uint64
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

	c := &Counter{dir: dir, path: filepath.Join(dir, counterFile)}
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

// Value returns the current count.
func (c *Counter) Value() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Increment stores count+1 durably and returns it. If storing fails the count
// is unchanged, so a number a client saw is always on disk.
func (c *Counter) Increment() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.n + 1
	if err := c.store(next); err != nil {
		return 0, err
	}
	c.n = next
	return next, nil
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
	if err = f.Sync(); err != nil {
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
