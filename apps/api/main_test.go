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
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantUsage  bool
		wantErr    string
		wantStdout string
	}{
		{name: "help", args: []string{"--help"}, wantErr: flag.ErrHelp.Error(), wantStdout: "-build-info"},
		{name: "version", args: []string{"-version"}, wantStdout: "dev\n"},
		{name: "unknown flag", args: []string{"-verbose"}, wantUsage: true},
		{name: "stray argument", args: []string{"info"}, wantUsage: true},
		{name: "flag without value", args: []string{"-build-info"}, wantUsage: true},
		{name: "bad timeout", args: []string{"-shutdown-timeout", "-1s"}, wantErr: "-shutdown-timeout"},
		{name: "bad listen address", args: []string{"-addr", "nohost"}, wantErr: "listen on nohost"},
		{name: "bad env address", env: map[string]string{"API_ADDR": "nohost:x"}, wantErr: "listen on nohost:x"},
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

// TestRunServesInfo runs the app as systemd would and reads /api/info with
// the build-info and os-release paths given by flags.
func TestRunServesInfo(t *testing.T) {
	dir, err := os.MkdirTemp("", "api")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	recv := func() string {
		buf := make([]byte, 256)
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no sd_notify message: %v", err)
		}
		return string(buf[:n])
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := []string{"-build-info", "testdata/build-info.json", "-os-release", "testdata/os-release"}
	go func() {
		done <- run(ctx, args, envOf(map[string]string{"API_ADDR": addr, "NOTIFY_SOCKET": sock}), &bytes.Buffer{}, &bytes.Buffer{})
	}()
	if msg := recv(); msg != "READY=1" {
		t.Fatalf("notification %q, want READY=1", msg)
	}
	resp, err := http.Get("http://" + addr + "/api/info")
	if err != nil {
		t.Fatal(err)
	}
	var info Info
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/info: %d %v", resp.StatusCode, err)
	}
	if info.Image.Version == nil || *info.Image.Version != "1.4.0" || info.OS.ID == nil || *info.OS.ID != "fedora" || info.AppVersion != "dev" {
		t.Fatalf("info did not use the flag paths: %+v", info)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after stop: %v, want nil", err)
	}
	if msg := recv(); msg != "STOPPING=1" {
		t.Fatalf("notification %q, want STOPPING=1", msg)
	}
}
