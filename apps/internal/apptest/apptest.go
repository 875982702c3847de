// Package apptest holds the test helpers every app and shared package uses:
// an injected environment, a stand-in for systemd's notification socket, a
// free port, and runs of an app's run() as systemd starts it. Only tests
// import it; the Makefile leaves it out of the apps' version hash.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bootc-testboot/apps/internal/cli"
)

// Wait bounds every wait on a socket; it only matters when a test fails.
const Wait = 10 * time.Second

// RunFunc is an app's testable run().
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Env returns a getenv that reads kv; a nil kv is an empty environment.
func Env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// NotifySocket is a real unixgram socket standing in for systemd's
// $NOTIFY_SOCKET.
type NotifySocket struct {
	Name string // the value for NOTIFY_SOCKET
	t    *testing.T
	conn *net.UnixConn
}

// NewNotifySocket listens on a socket file in a fresh short directory (socket
// paths are limited to 108 bytes, which t.TempDir can exceed).
func NewNotifySocket(t *testing.T) *NotifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return listenNotify(t, filepath.Join(dir, "notify"))
}

// NewAbstractNotifySocket listens in the abstract namespace ("@name"), which
// systemd also uses.
func NewAbstractNotifySocket(t *testing.T) *NotifySocket {
	t.Helper()
	return listenNotify(t, fmt.Sprintf("@bootc-testboot-sdnotify-%d-%d", os.Getpid(), time.Now().UnixNano()))
}

func listenNotify(t *testing.T, name string) *NotifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &NotifySocket{Name: name, t: t, conn: conn}
}

// Next returns the next notification, failing the test after Wait.
func (s *NotifySocket) Next() string {
	s.t.Helper()
	buf := make([]byte, 4096)
	_ = s.conn.SetReadDeadline(time.Now().Add(Wait))
	n, err := s.conn.Read(buf)
	if err != nil {
		s.t.Fatalf("no sd_notify message: %v", err)
	}
	return string(buf[:n])
}

// FreeAddr returns a loopback address with a port free at the time of the
// call, for a server that must listen by address rather than on a listener.
func FreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Start runs run(args) in the background as systemd does, with env plus
// NOTIFY_SOCKET, and waits for READY=1. stop cancels the run (as SIGTERM
// does), checks that STOPPING=1 follows, and returns what run logged on
// stderr and its result.
func Start(t *testing.T, run RunFunc, args []string, env map[string]string) (stop func() (logs string, err error)) {
	t.Helper()
	sock := NewNotifySocket(t)
	full := map[string]string{"NOTIFY_SOCKET": sock.Name}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	// A test that fails before calling stop must not leave the server running.
	t.Cleanup(cancel)
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, Env(full), &bytes.Buffer{}, &stderr) }()
	if msg := sock.Next(); msg != "READY=1" {
		cancel()
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	return func() (string, error) {
		t.Helper()
		cancel()
		err := <-done
		if msg := sock.Next(); msg != "STOPPING=1" {
			t.Errorf("notification %q, want STOPPING=1", msg)
		}
		return stderr.String(), err // written before run returned
	}
}

// CommandLine is one command line given to an app's run().
type CommandLine struct {
	Name       string
	Args       []string
	Env        map[string]string
	WantUsage  bool   // a cli.UsageError (exit 2)
	WantErr    string // part of the error; "" with !WantUsage means success
	WantStdout string // part of stdout
}

// CheckCommandLines runs each command line as its own subtest and checks the
// kind of error and what reached stdout.
func CheckCommandLines(t *testing.T, run RunFunc, tests []CommandLine) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.Name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.Args, Env(tt.Env), &stdout, &stderr)
			var usage cli.UsageError
			if tt.WantUsage != errors.As(err, &usage) {
				t.Fatalf("err %v, usage error wanted: %v", err, tt.WantUsage)
			}
			if tt.WantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.WantErr)) {
				t.Fatalf("err %v, want it to contain %q", err, tt.WantErr)
			}
			if tt.WantErr == "" && !tt.WantUsage && err != nil {
				t.Fatalf("err %v", err)
			}
			if !strings.Contains(stdout.String(), tt.WantStdout) {
				t.Fatalf("stdout %q, want %q", stdout.String(), tt.WantStdout)
			}
		})
	}
}

// Do sends one bodiless request to h and returns the recorded response.
func Do(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// DecodeJSON checks that rec is a JSON response and returns its object.
func DecodeJSON(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return m
}
