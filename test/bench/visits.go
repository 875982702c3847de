package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"bootc-testboot/test/harness"
)

// hello keeps its visit count in visitsFile in its state directory. Every
// flush, in hello and in the per-visit baseline alike, ends by moving a new
// value onto that name: the baseline renames a fresh temp file (named
// visitsTmpPrefix plus a random suffix) over it, hello exchanges it with its
// spare temp file (renameat2 RENAME_EXCHANGE) or, on its first flush, renames.
const (
	visitsFile      = "visits"
	visitsTmpPrefix = visitsFile + ".tmp-"
)

// perVisitCounter is hello's counter before group commit, which holds one
// mutex across every visit's flush. The bench builds hello with it in place
// of apps/hello/counter.go, so the two designs differ in nothing else.
const perVisitCounter = "test/bench/testdata/pervisit_counter.go"

// buildPerVisitHello builds hello with the per-visit counter into dir and
// returns the binary's path. It copies the apps module's go.mod, apps/hello
// and apps/internal (hello's only local dependency) and builds them the way
// `make apps` does.
func buildPerVisitHello(ctx context.Context, dir string) (string, error) {
	tree := filepath.Join(dir, "pervisit-src")
	for _, pkg := range []string{"hello", "internal"} {
		if err := copyModule(harness.Path("apps", pkg), filepath.Join(tree, "apps", pkg)); err != nil {
			return "", err
		}
	}
	if err := harness.CopyTree(harness.Path("apps", "go.mod"), filepath.Join(tree, "apps", "go.mod"), nil); err != nil {
		return "", err
	}
	baseline, err := os.ReadFile(harness.Path(perVisitCounter))
	if err != nil {
		return "", err
	}
	counter := filepath.Join(tree, "apps", "hello", "counter.go")
	if _, err := os.Stat(counter); err != nil {
		return "", fmt.Errorf("apps/hello/counter.go, which the per-visit baseline replaces, is gone: update %s", perVisitCounter)
	}
	if err := os.WriteFile(counter, baseline, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hello-pervisit")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X main.version=pervisit-baseline", "-o", bin, "./hello")
	cmd.Dir = filepath.Join(tree, "apps")
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build hello with the per-visit counter (%s): %v\n%s", perVisitCounter, err, out)
	}
	return bin, nil
}

// copyModule copies a Go module's non-test files.
func copyModule(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasSuffix(path, "_test.go") || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// storedVisits reads the count hello has on disk in its state directory.
func storedVisits(stateDir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, visitsFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(string(b), "\n"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a count", filepath.Join(stateDir, visitsFile), b)
	}
	return n, nil
}

// settledVisits waits until the stored count stops moving (the requests wrk
// left in flight have finished) and returns it.
func settledVisits(stateDir string) (uint64, error) {
	last, err := storedVisits(stateDir)
	if err != nil {
		return 0, err
	}
	for i := 0; i < 50; i++ {
		time.Sleep(100 * time.Millisecond)
		n, err := storedVisits(stateDir)
		if err != nil {
			return 0, err
		}
		if n == last {
			return n, nil
		}
		last = n
	}
	return 0, fmt.Errorf("the visit count in %s still moves 5 s after the load ended", stateDir)
}

// flushCounter counts the flushes a server makes in a state directory from
// outside, with inotify, so it counts both designs the same way and neither
// needs code for the bench. It counts IN_MOVED_TO events naming visitsFile,
// one per flush whether the flush renames or exchanges (the kernel reports
// both as a MOVED_FROM then a MOVED_TO). inotify merges an event into the
// last one queued when mask, watch and name match, cookies aside
// (fs/notify/inotify/inotify_fsnotify.c `event_compare`): watching MOVED_FROM
// too puts another event between two flushes' MOVED_TO, so none merge.
type flushCounter struct {
	f        *os.File
	mu       sync.Mutex
	flushes  int64
	overflow bool
	err      error
	done     chan struct{}
}

func watchFlushes(stateDir string) (*flushCounter, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := syscall.InotifyAddWatch(fd, stateDir, syscall.IN_MOVED_FROM|syscall.IN_MOVED_TO); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("inotify watch %s: %w", stateDir, err)
	}
	// A non-blocking descriptor gives a File that Go's poller waits on, so
	// a read deadline can end the reader.
	fc := &flushCounter{f: os.NewFile(uintptr(fd), "inotify"), done: make(chan struct{})}
	go fc.read()
	return fc, nil
}

func (fc *flushCounter) read() {
	defer close(fc.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := fc.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				fc.mu.Lock()
				fc.err = err
				fc.mu.Unlock()
			}
			return
		}
		flushes, overflow := countMovedTo(buf[:n], visitsFile)
		fc.mu.Lock()
		fc.flushes += flushes
		fc.overflow = fc.overflow || overflow
		fc.mu.Unlock()
	}
}

// stop reads the events still queued and returns the number of flushes.
func (fc *flushCounter) stop() (int64, error) {
	// Queued events are returned before the deadline passes.
	_ = fc.f.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	<-fc.done
	_ = fc.f.Close()
	fc.mu.Lock()
	defer fc.mu.Unlock()
	switch {
	case fc.err != nil:
		return 0, fmt.Errorf("inotify: %w", fc.err)
	case fc.overflow:
		return 0, fmt.Errorf("inotify queue overflowed: flushes were not all counted")
	}
	return fc.flushes, nil
}

// countMovedTo parses inotify events (struct inotify_event: wd, mask,
// cookie, len, then len bytes of NUL-padded name) and counts IN_MOVED_TO of
// name.
func countMovedTo(buf []byte, name string) (n int64, overflow bool) {
	for len(buf) >= syscall.SizeofInotifyEvent {
		mask := binary.NativeEndian.Uint32(buf[4:8])
		end := syscall.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[12:16]))
		if end > len(buf) {
			break
		}
		got := string(bytes.TrimRight(buf[syscall.SizeofInotifyEvent:end], "\x00"))
		switch {
		case mask&syscall.IN_Q_OVERFLOW != 0:
			overflow = true
		case mask&syscall.IN_MOVED_TO != 0 && got == name:
			n++
		}
		buf = buf[end:]
	}
	return n, overflow
}
