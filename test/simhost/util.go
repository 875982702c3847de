package simhost

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func listenUnix(path string) (net.Listener, error) {
	_ = os.Remove(path)
	return net.Listen("unix", path)
}

// listenLoopback listens on a free port of 127.0.0.1 (the port is chosen by
// the kernel at bind time, so no other process can take it in between).
func listenLoopback() (net.Listener, int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, 0, err
	}
	return ln, ln.Addr().(*net.TCPAddr).Port, nil
}

func dialTCP(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }

func dialUnix(path string) (net.Conn, error) { return net.DialTimeout("unix", path, 5*time.Second) }

func mkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func appendLine(t testing.TB, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func readFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// run runs a command to completion within timeout and returns its stdout;
// any failure fails the test with its stderr.
func run(t testing.TB, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// copyTree copies a directory's content with owners, modes, links and xattrs.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	mkdir(t, dst)
	run(t, 5*time.Minute, "cp", "-a", "--no-target-directory", src+"/.", dst)
}

// groupID is the gid of a group in an /etc, or -1.
func groupID(t testing.TB, etc, name string) int {
	t.Helper()
	for _, f := range groupEntries(t, etc) {
		if f[0] == name {
			id, _ := strconv.Atoi(f[2])
			return id
		}
	}
	return -1
}

// freeGID is the highest system gid (below 1000) no group of etc uses.
func freeGID(t testing.TB, etc string) int {
	t.Helper()
	used := map[int]bool{}
	for _, f := range groupEntries(t, etc) {
		id, _ := strconv.Atoi(f[2])
		used[id] = true
	}
	for id := 999; id > 100; id-- {
		if !used[id] {
			return id
		}
	}
	t.Fatal("no free system gid")
	return -1
}

func groupEntries(t testing.TB, etc string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(etc, "group"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Split(sc.Text(), ":"); len(fields) >= 3 {
			out = append(out, fields)
		}
	}
	return out
}

// goArchToOCI is the OCI architecture of this machine (Go and OCI share names).
func goArchToOCI() string { return runtime.GOARCH }

// killGroup ends a process group started with Setpgid.
func killGroup(cmd *exec.Cmd) error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
