// Package sdnotify speaks systemd's notification protocol (sd_notify(3)) with
// the standard library: one datagram per message to the unix socket named by
// $NOTIFY_SOCKET, which may be a path or an abstract socket ("@name").
package sdnotify

import (
	"fmt"
	"net"
	"strconv"
	"time"
)

// Messages understood by systemd for Type=notify units.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Notifier sends messages to one notification socket. The zero value (no
// socket) is valid and sends nothing, which is what a process started outside
// systemd needs.
type Notifier struct {
	socket string
}

// New returns a Notifier for the socket in $NOTIFY_SOCKET, read through getenv
// so tests can inject the environment.
func New(getenv func(string) string) *Notifier {
	return &Notifier{socket: getenv("NOTIFY_SOCKET")}
}

// Enabled reports whether a notification socket is configured.
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// Notify sends one message. Without a socket it does nothing and returns nil.
func (n *Notifier) Notify(state string) error {
	if !n.Enabled() {
		return nil
	}
	// Go's net package maps a leading '@' to the abstract namespace itself.
	name := n.socket
	if name[0] != '@' && name[0] != '/' {
		return fmt.Errorf("sdnotify: NOTIFY_SOCKET %q is neither an absolute path nor an abstract socket", n.socket)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sdnotify: send %q: %w", state, err)
	}
	return nil
}

// WatchdogInterval returns how often to send WATCHDOG=1: half the timeout
// systemd gave in $WATCHDOG_USEC, so one late ping never kills the service.
// It returns 0 (no watchdog) when the variable is unset or $WATCHDOG_PID
// names another process (the watchdog was meant for a parent), and an error
// when either variable is not a valid number: a unit whose watchdog cannot be
// honoured would be killed by systemd, so it must not start silently.
func WatchdogInterval(getenv func(string) string, pid int) (time.Duration, error) {
	usecText := getenv("WATCHDOG_USEC")
	if usecText == "" {
		return 0, nil
	}
	if pidText := getenv("WATCHDOG_PID"); pidText != "" {
		wpid, err := strconv.Atoi(pidText)
		if err != nil {
			return 0, fmt.Errorf("sdnotify: WATCHDOG_PID %q is not a number", pidText)
		}
		if wpid != pid {
			return 0, nil
		}
	}
	usec, err := strconv.ParseUint(usecText, 10, 63)
	if err != nil || usec == 0 {
		return 0, fmt.Errorf("sdnotify: WATCHDOG_USEC %q is not a positive number of microseconds", usecText)
	}
	return time.Duration(usec) * time.Microsecond / 2, nil
}
