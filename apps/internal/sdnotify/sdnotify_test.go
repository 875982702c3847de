package sdnotify

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bootc-testboot/apps/internal/apptest"
)

func TestNotifyPathAndAbstractSockets(t *testing.T) {
	listeners := []struct {
		name   string
		listen func(*testing.T) *apptest.NotifySocket
	}{
		{"abstract=false", apptest.NewNotifySocket},
		{"abstract=true", apptest.NewAbstractNotifySocket},
	}
	for _, l := range listeners {
		t.Run(l.name, func(t *testing.T) {
			sock := l.listen(t)
			n := New(apptest.Env(map[string]string{"NOTIFY_SOCKET": sock.Name}))
			if !n.Enabled() {
				t.Fatal("notifier with NOTIFY_SOCKET set reports disabled")
			}
			for _, msg := range []string{Ready, Watchdog, Stopping} {
				if err := n.Notify(msg); err != nil {
					t.Fatal(err)
				}
				if got := sock.Next(); got != msg {
					t.Fatalf("socket got %q, want %q", got, msg)
				}
			}
		})
	}
}

func TestNotifyWithoutSocketDoesNothing(t *testing.T) {
	var nilNotifier *Notifier
	for _, n := range []*Notifier{New(apptest.Env(nil)), nilNotifier} {
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
		n := New(apptest.Env(map[string]string{"NOTIFY_SOCKET": sock}))
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
			got, err := WatchdogInterval(apptest.Env(tt.env), pid)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("interval = %v, want %v", got, tt.want)
			}
		})
	}
}
