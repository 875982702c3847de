package main

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// After the first flush, flushes reuse two files: the counter and one spare
// swapped by RENAME_EXCHANGE, with no inode created per flush. Every value
// on disk is whole, including across a change of length (9 → 10).
func TestCounterFlushesExchangeWithOneSpare(t *testing.T) {
	dir := t.TempDir()
	c := openCounter(t, dir)
	inodes := map[uint64]bool{}
	var spare string
	for want := uint64(1); want <= 12; want++ {
		n, err := c.Increment()
		if err != nil || n != want {
			t.Fatalf("Increment = %d, %v; want %d", n, err, want)
		}
		if got := fileCount(t, dir); got != strconv.FormatUint(want, 10)+"\n" {
			t.Fatalf("file %q after visit %d", got, want)
		}
		if c.noExchange {
			t.Skip("this filesystem has no RENAME_EXCHANGE; the rename path is TestCounterWithoutExchangeRenamesFreshFiles")
		}
		left, _ := filepath.Glob(filepath.Join(dir, counterTmpPfx+"*"))
		switch {
		case want == 1 && len(left) != 0:
			t.Fatalf("after the first flush (a rename) temp files %v, want none", left)
		case want == 2 && len(left) == 1:
			spare = left[0]
		case want > 1 && (len(left) != 1 || left[0] != spare):
			t.Fatalf("after flush %d temp files %v, want the one spare %s kept since flush 2", want, left, spare)
		}
		if want > 1 {
			inodes[inode(t, filepath.Join(dir, counterFile))] = true
			inodes[inode(t, spare)] = true
		}
	}
	if len(inodes) != 2 {
		t.Fatalf("flushes 2-12 used %d files, want 2 (the counter and the spare, swapped)", len(inodes))
	}
	// The spare holds an older value; a restart (as after a crash) removes it.
	c2 := openCounter(t, dir)
	if c2.Value() != 12 {
		t.Fatalf("count after reopening = %d, want 12", c2.Value())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, counterTmpPfx+"*")); len(left) != 0 {
		t.Fatalf("reopening left %v", left)
	}
}

// Where the filesystem cannot exchange, every flush renames a fresh temp file
// over the counter and leaves no temp file behind.
func TestCounterWithoutExchangeRenamesFreshFiles(t *testing.T) {
	dir := t.TempDir()
	c := openCounter(t, dir)
	c.noExchange = true
	for want := uint64(1); want <= 5; want++ {
		if n, err := c.Increment(); err != nil || n != want {
			t.Fatalf("Increment = %d, %v; want %d", n, err, want)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, counterTmpPfx+"*")); len(left) != 0 {
			t.Fatalf("flush %d left temp files %v", want, left)
		}
	}
	if fileCount(t, dir) != "5\n" {
		t.Fatalf("file %q, want 5", fileCount(t, dir))
	}
}

// A state directory replaced while hello runs (removed, then made again)
// works again from the next visit: a failed flush drops the files it kept open.
func TestCounterRecoversWhenStateDirReturns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := openCounter(t, dir)
	for i := 0; i < 3; i++ {
		if _, err := c.Increment(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Increment(); err == nil {
		t.Fatal("Increment succeeded without a state directory")
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Increment(); err != nil || n != 4 {
		t.Fatalf("Increment after the directory returned = %d, %v; want 4", n, err)
	}
	if fileCount(t, dir) != "4\n" {
		t.Fatalf("file %q, want 4", fileCount(t, dir))
	}
}
