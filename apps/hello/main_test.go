package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bootc-testboot/apps/internal/cli"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestRunCommandLine(t *testing.T) {
	stateDir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantUsage  bool
		wantErr    string
		wantStdout string
	}{
		{name: "help", args: []string{"-h"}, wantErr: flag.ErrHelp.Error(), wantStdout: "HELLO_ADDR"},
		{name: "version", args: []string{"-version"}, wantStdout: "dev\n"},
		{name: "unknown flag", args: []string{"-port", "80"}, wantUsage: true},
		{name: "stray argument", args: []string{"serve"}, wantUsage: true},
		{name: "no state dir", wantErr: "no state directory"},
		{name: "missing state dir", args: []string{"-state-dir", filepath.Join(stateDir, "nope")}, wantErr: "state directory"},
		{name: "bad timeout", args: []string{"-state-dir", stateDir, "-shutdown-timeout", "0s"}, wantErr: "-shutdown-timeout"},
		{name: "bad listen address", args: []string{"-state-dir", stateDir, "-addr", "256.0.0.1:80"}, wantErr: "listen on 256.0.0.1:80"},
		{name: "bad watchdog env", args: []string{"-state-dir", stateDir}, env: map[string]string{"WATCHDOG_USEC": "soon"}, wantErr: "WATCHDOG_USEC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, envOf(tt.env), &stdout, &stderr)
			var usage cli.UsageError
			if tt.wantUsage != errors.As(err, &usage) {
				t.Fatalf("err %v, usage error wanted: %v", err, tt.wantUsage)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want it to contain %q", err, tt.wantErr)
			}
			if tt.wantErr == "" && !tt.wantUsage && err != nil {
				t.Fatalf("err %v", err)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Fatalf("stdout %q, want %q", stdout.String(), tt.wantStdout)
			}
		})
	}
}

// notifySocket stands in for systemd: run() reports READY=1 on it.
func notifySocket(t *testing.T) (string, func() string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "hello")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	name := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return name, func() string {
		buf := make([]byte, 256)
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no sd_notify message: %v", err)
		}
		return string(buf[:n])
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRun runs the app as systemd would (STATE_DIRECTORY, NOTIFY_SOCKET,
// HELLO_ADDR from the environment) and waits for READY=1.
func startRun(t *testing.T, stateDir string) (addr string, stop func() (logs string, err error)) {
	t.Helper()
	sock, recv := notifySocket(t)
	addr = freeAddr(t)
	env := envOf(map[string]string{"STATE_DIRECTORY": stateDir, "NOTIFY_SOCKET": sock, "HELLO_ADDR": addr})
	ctx, cancel := context.WithCancel(context.Background())
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env, &bytes.Buffer{}, &stderr) }()
	if msg := recv(); msg != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", msg)
	}
	return addr, func() (string, error) {
		cancel()
		err := <-done
		if msg := recv(); msg != "STOPPING=1" {
			t.Errorf("notification %q, want STOPPING=1", msg)
		}
		return stderr.String(), err // written before run returned
	}
}

func visits(t *testing.T, addr string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var g Greeting
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d %v", resp.StatusCode, err)
	}
	return float64(g.Visits)
}

func TestRunServesAndCountKeepsAcrossRestart(t *testing.T) {
	stateDir := t.TempDir()
	addr, stop := startRun(t, stateDir)
	if v := visits(t, addr); v != 1 {
		t.Fatalf("visits %v, want 1", v)
	}
	if v := visits(t, addr); v != 2 {
		t.Fatalf("visits %v, want 2", v)
	}
	logs, err := stop()
	if err != nil {
		t.Fatalf("run after stop: %v, want nil (exit 0)", err)
	}
	for _, want := range []string{`"msg":"listening"`, `"msg":"request"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}

	addr, stop = startRun(t, stateDir)
	if v := visits(t, addr); v != 3 {
		t.Fatalf("after restart visits %v, want 3", v)
	}
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestRunRefusesCorruptCounter(t *testing.T) {
	stateDir := t.TempDir()
	writeFile(t, filepath.Join(stateDir, counterFile), "1")
	err := run(context.Background(), []string{"-state-dir", stateDir, "-addr", freeAddr(t)}, envOf(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("run with a corrupt counter: %v", err)
	}
}
