package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openCounter(t *testing.T, dir string) *Counter {
	t.Helper()
	c, err := OpenCounter(dir, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCounterStartsAtZeroAndPersistsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	c := openCounter(t, dir)
	if c.Value() != 0 {
		t.Fatalf("fresh counter = %d", c.Value())
	}
	for want := uint64(1); want <= 3; want++ {
		got, err := c.Increment()
		if err != nil || got != want {
			t.Fatalf("Increment = %d, %v; want %d", got, err, want)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, counterFile))
	if err != nil || string(data) != "3\n" {
		t.Fatalf("file holds %q (%v), want \"3\\n\"", data, err)
	}
	if again := openCounter(t, dir); again.Value() != 3 {
		t.Fatalf("after restart counter = %d, want 3", again.Value())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("state dir holds %d files, want only %s", len(entries), counterFile)
	}
}

func TestCounterConcurrentIncrementsAreNeverLost(t *testing.T) {
	dir := t.TempDir()
	c := openCounter(t, dir)
	const workers, each = 16, 25
	var wg sync.WaitGroup
	seen := make(chan uint64, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n, err := c.Increment()
				if err != nil {
					t.Error(err)
					return
				}
				seen <- n
			}
		}()
	}
	wg.Wait()
	close(seen)
	unique := map[uint64]bool{}
	for n := range seen {
		if unique[n] {
			t.Fatalf("count %d handed out twice", n)
		}
		unique[n] = true
	}
	const total = workers * each
	if len(unique) != total || c.Value() != total {
		t.Fatalf("%d distinct counts, value %d; want %d", len(unique), c.Value(), total)
	}
	if again := openCounter(t, dir); again.Value() != total {
		t.Fatalf("after restart %d, want %d", again.Value(), total)
	}
}

func TestCounterIgnoresAndRemovesUnfinishedWrite(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, counterFile), "41\n")
	// A crash between writing the temp file and renaming it leaves these.
	writeFile(t, filepath.Join(dir, counterTmpPfx+"123"), "4")
	writeFile(t, filepath.Join(dir, counterTmpPfx+"456"), "42\n")
	c := openCounter(t, dir)
	if c.Value() != 41 {
		t.Fatalf("counter = %d, want the last complete value 41", c.Value())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, counterTmpPfx+"*")); len(left) != 0 {
		t.Fatalf("leftover temp files not removed: %v", left)
	}
	if n, err := c.Increment(); err != nil || n != 42 {
		t.Fatalf("Increment = %d, %v; want 42", n, err)
	}
}

func TestCounterRefusesCorruptFile(t *testing.T) {
	for _, content := range []string{
		"",                       // truncated to nothing
		"12",                     // "123\n" cut short: must not read as 12
		"12\n3\n",                // two values
		"abc\n",                  // garbage
		"-1\n",                   // negative
		" 7\n",                   // padded
		"99999999999999999999\n", // overflows uint64
		strings.Repeat("1", 100) + "\n",
	} {
		t.Run(strconv.Quote(content), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, counterFile)
			writeFile(t, path, content)
			_, err := OpenCounter(dir, quietLogger())
			if err == nil {
				t.Fatal("corrupt counter file accepted")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt") {
				t.Errorf("error %q does not name the corrupt file", err)
			}
			if data, _ := os.ReadFile(path); string(data) != content {
				t.Errorf("corrupt file was modified to %q", data)
			}
		})
	}
}

func TestCounterBadStateDir(t *testing.T) {
	if _, err := OpenCounter(filepath.Join(t.TempDir(), "missing"), quietLogger()); err == nil {
		t.Fatal("missing state directory accepted")
	}
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, "")
	if _, err := OpenCounter(file, quietLogger()); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("file as state directory: %v", err)
	}
}

func TestCounterFailedStoreKeepsCount(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := openCounter(t, dir)
	if _, err := c.Increment(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil { // the disk went away
		t.Fatal(err)
	}
	if _, err := c.Increment(); err == nil {
		t.Fatal("Increment succeeded without a state directory")
	}
	if c.Value() != 1 {
		t.Fatalf("count = %d after a failed store, want 1", c.Value())
	}
}

// crashChildEnv makes the test binary act as a process whose visitors
// increment the counter concurrently until it is killed (see TestMain).
const crashChildEnv = "HELLO_COUNTER_CRASH_CHILD_DIR"

// crashChildVisitors is how many goroutines of the crash child increment at
// once, so the kill lands on shared flushes, not just one visit's.
const crashChildVisitors = 8

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
	}
	os.Exit(m.Run())
}

func crashChild(dir string) {
	c, err := OpenCounter(dir, quietLogger())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var out sync.Mutex
	for i := 0; i < crashChildVisitors; i++ {
		go func() {
			for {
				n, err := c.Increment()
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				out.Lock()
				fmt.Println(n) // acknowledged: on disk
				out.Unlock()
			}
		}()
	}
	select {} // until SIGKILL
}

// A process killed with SIGKILL at an arbitrary point of a flush, while
// several visitors increment at once, keeps every acknowledged count: the
// stored count is at least the highest one acknowledged, and the file is
// never corrupt.
func TestCounterSurvivesKillMidWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	for round := 0; round < 5; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var acked uint64
		for i := 0; i < 20+round*37 && sc.Scan(); i++ {
			n, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				t.Fatalf("round %d: child printed %q", round, sc.Text())
			}
			acked = max(acked, n)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		if acked == 0 {
			t.Fatalf("round %d: child acknowledged nothing; stderr: %s", round, stderr.String())
		}
		c, err := OpenCounter(dir, quietLogger())
		if err != nil {
			t.Fatalf("round %d: counter unreadable after kill: %v", round, err)
		}
		// Lines still in the pipe were acknowledged too, so the stored value
		// can be past the highest line read, but never behind it.
		if c.Value() < acked {
			t.Fatalf("round %d: stored %d, but %d was acknowledged", round, c.Value(), acked)
		}
	}
}
