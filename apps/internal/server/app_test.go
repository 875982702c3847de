package server

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"bootc-testboot/apps/internal/apptest"
	"bootc-testboot/apps/internal/sdnotify"
)

var testApp = App{
	Name:        "demo",
	Version:     "v9",
	Summary:     "Serves GET /demo.",
	DefaultAddr: "127.0.0.1:1",
	AddrEnv:     "DEMO_ADDR",
	HealthPath:  "/demo/health",
}

func TestAppHelpNamesAppFlagsAndEnv(t *testing.T) {
	var stdout bytes.Buffer
	cmd := testApp.Command(apptest.Env(map[string]string{"DEMO_ADDR": "127.0.0.1:7"}), &stdout, &bytes.Buffer{})
	cmd.Flags.String("extra", "", "an app's own flag")
	done, err := cmd.Parse([]string{"-h"})
	if !done || !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("done %v err %v, want done with flag.ErrHelp", done, err)
	}
	want := "Usage: demo [flags]\n\nServes GET /demo.\nLogs JSON to stderr; notifies systemd when $NOTIFY_SOCKET is set.\n\nFlags:\n"
	if !strings.HasPrefix(stdout.String(), want) {
		t.Fatalf("help %q, want it to start with %q", stdout.String(), want)
	}
	for _, s := range []string{"-addr", "(env DEMO_ADDR)", `"127.0.0.1:7"`, "-extra", "-shutdown-timeout", "-version"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("help lacks %q:\n%s", s, stdout.String())
		}
	}
}

func TestAppVersionEndsTheRun(t *testing.T) {
	var stdout bytes.Buffer
	done, err := testApp.Command(apptest.Env(nil), &stdout, &bytes.Buffer{}).Parse([]string{"-version"})
	if !done || err != nil || stdout.String() != "v9\n" {
		t.Fatalf("done %v err %v stdout %q, want done, nil, \"v9\\n\"", done, err, stdout.String())
	}
}

func TestAppRunChecksBeforeServing(t *testing.T) {
	never := func(*slog.Logger) (http.Handler, error) {
		t.Fatal("handler built despite a bad command line")
		return nil, nil
	}
	cmd := testApp.Command(apptest.Env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if done, err := cmd.Parse([]string{"-shutdown-timeout", "0s"}); done {
		t.Fatalf("Parse ended the run: %v", err)
	}
	if err := cmd.Run(context.Background(), never); err == nil || err.Error() != "-shutdown-timeout must be positive" {
		t.Fatalf("Run: %v", err)
	}

	boom := errors.New("boom")
	cmd = testApp.Command(apptest.Env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if done, err := cmd.Parse(nil); done {
		t.Fatalf("Parse ended the run: %v", err)
	}
	if err := cmd.Run(context.Background(), func(*slog.Logger) (http.Handler, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Run: %v, want the handler's error", err)
	}
}

// TestAppRunServesAsSystemdExpects runs an App under a watchdog: READY=1,
// WATCHDOG=1 only after its own HealthPath answered, STOPPING=1, exit 0.
func TestAppRunServesAsSystemdExpects(t *testing.T) {
	sock := apptest.NewNotifySocket(t)
	env := apptest.Env(map[string]string{"NOTIFY_SOCKET": sock.Name, "WATCHDOG_USEC": "20000", "DEMO_ADDR": apptest.FreeAddr(t)})
	probed := make(chan struct{}, 1)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == testApp.HealthPath {
			select {
			case probed <- struct{}{}:
			default:
			}
		}
	})
	var logs lockedBuffer
	cmd := testApp.Command(env, &bytes.Buffer{}, &logs)
	if done, err := cmd.Parse(nil); done {
		t.Fatalf("Parse ended the run: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- cmd.Run(ctx, func(*slog.Logger) (http.Handler, error) { return handler, nil }) }()
	for _, want := range []string{sdnotify.Ready, sdnotify.Watchdog} {
		if got := sock.Next(); got != want {
			t.Fatalf("notification %q, want %q", got, want)
		}
	}
	select {
	case <-probed:
	default:
		t.Fatalf("WATCHDOG=1 sent without a request to %s", testApp.HealthPath)
	}
	cancel()
	if err := <-result; err != nil {
		t.Fatalf("Run after stop: %v, want nil", err)
	}
	for got := sock.Next(); got != sdnotify.Stopping; got = sock.Next() {
		if got != sdnotify.Watchdog {
			t.Fatalf("notification %q, want STOPPING=1", got)
		}
	}
	if !strings.Contains(logs.String(), `"app":"demo","version":"v9"`) {
		t.Fatalf("logs do not name the app and version:\n%s", logs.String())
	}
}
