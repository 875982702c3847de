package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"bootc-testboot/apps/internal/apptest"
)

func TestRunCommandLine(t *testing.T) {
	stateDir := t.TempDir()
	apptest.CheckCommandLines(t, run, []apptest.CommandLine{
		{Name: "help", Args: []string{"-h"}, WantErr: flag.ErrHelp.Error(), WantStdout: "HELLO_ADDR"},
		{Name: "version", Args: []string{"-version"}, WantStdout: "dev\n"},
		{Name: "unknown flag", Args: []string{"-port", "80"}, WantUsage: true},
		{Name: "stray argument", Args: []string{"serve"}, WantUsage: true},
		{Name: "no state dir", WantErr: "no state directory"},
		{Name: "missing state dir", Args: []string{"-state-dir", filepath.Join(stateDir, "nope")}, WantErr: "state directory"},
		{Name: "bad timeout", Args: []string{"-state-dir", stateDir, "-shutdown-timeout", "0s"}, WantErr: "-shutdown-timeout"},
		{Name: "bad listen address", Args: []string{"-state-dir", stateDir, "-addr", "256.0.0.1:80"}, WantErr: "listen on 256.0.0.1:80"},
		{Name: "bad watchdog env", Args: []string{"-state-dir", stateDir}, Env: map[string]string{"WATCHDOG_USEC": "soon"}, WantErr: "WATCHDOG_USEC"},
	})
}

// startRun runs the app as systemd would (STATE_DIRECTORY, NOTIFY_SOCKET,
// HELLO_ADDR from the environment) and waits for READY=1.
func startRun(t *testing.T, stateDir string) (addr string, stop func() (logs string, err error)) {
	t.Helper()
	addr = apptest.FreeAddr(t)
	return addr, apptest.Start(t, run, nil, map[string]string{"STATE_DIRECTORY": stateDir, "HELLO_ADDR": addr})
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
	err := run(context.Background(), []string{"-state-dir", stateDir, "-addr", apptest.FreeAddr(t)}, apptest.Env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("run with a corrupt counter: %v", err)
	}
}
