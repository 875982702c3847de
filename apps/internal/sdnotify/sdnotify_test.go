package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listen opens a real unixgram socket like systemd's notify socket and
// returns its name for NOTIFY_SOCKET plus a receive function.
func listen(t *testing.T, abstract bool) (string, func() string) {
	t.Helper()
	var name string
	if abstract {
		name = fmt.Sprintf("@bootc-testboot-sdnotify-%d-%d", os.Getpid(), time.Now().UnixNano())
	} else {
		dir, err := os.MkdirTemp("", "sdn") // short: socket paths are limited to 108 bytes
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		name = filepath.Join(dir, "notify")
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return name, func() string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification received: %v", err)
		}
		return string(buf[:n])
	}
}

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestNotifyPathAndAbstractSockets(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			name, recv := listen(t, abstract)
			n := New(env(map[string]string{"NOTIFY_SOCKET": name}))
			if !n.Enabled() {
				t.Fatal("notifier with NOTIFY_SOCKET set reports disabled")
			}
			for _, msg := range []string{Ready, Watchdog, Stopping} {
				if err := n.Notify(msg); err != nil {
					t.Fatal(err)
				}
				if got := recv(); got != msg {
					t.Fatalf("socket got %q, want %q", got, msg)
				}
			}
		})
	}
}

func TestNotifyWithoutSocketDoesNothing(t *testing.T) {
	var nilNotifier *Notifier
	for _, n := range []*Notifier{New(env(nil)), nilNotifier} {
		if n.Enabled() {
			t.Fatal("notifier without NOTIFY_SOCKET reports enabled")
		}
		if err := n.Notify(Ready); err != nil {
			t.Fatalf("Notify without socket: %v", err)
		}
	}
}

func TestNotifyErrors(t *testing.T) {
	for _, sock := range []string{"relative/notify", filepath.Join(t.TempDir(), "missing")} {
		n := New(env(map[string]string{"NOTIFY_SOCKET": sock}))
		err := n.Notify(Ready)
		if err == nil || !strings.Contains(err.Error(), "sdnotify") {
			t.Errorf("NOTIFY_SOCKET=%q: err = %v, want an sdnotify error", sock, err)
		}
	}
}

func TestWatchdogInterval(t *testing.T) {
	const pid = 4242
	tests := []struct {
		name    string
		env     map[string]string
		want    time.Duration
		wantErr bool
	}{
		{"unset", nil, 0, false},
		{"half of timeout", map[string]string{"WATCHDOG_USEC": "30000000"}, 15 * time.Second, false},
		{"meant for this pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "4242"}, time.Second, false},
		{"meant for another pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, 0, false},
		{"garbled usec", map[string]string{"WATCHDOG_USEC": "30s"}, 0, true},
		{"zero usec", map[string]string{"WATCHDOG_USEC": "0"}, 0, true},
		{"garbled pid", map[string]string{"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "me"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WatchdogInterval(env(tt.env), pid)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("interval = %v, want %v", got, tt.want)
			}
		})
	}
}
