package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"bootc-testboot/apps/internal/apptest"
	"bootc-testboot/apps/internal/sdnotify"
)

// wait bounds every wait in these tests; it only matters when a test fails.
const wait = apptest.Wait

// notifierFor returns a Notifier that reaches sock, as $NOTIFY_SOCKET would.
func notifierFor(sock *apptest.NotifySocket) *sdnotify.Notifier {
	return sdnotify.New(apptest.Env(map[string]string{"NOTIFY_SOCKET": sock.Name}))
}

// served is one serveOn call running in the background.
type served struct {
	done chan struct{} // closed when serveOn returns
	err  error
}

// serve starts Serve on a free loopback port and returns its address, a
// cancel that triggers the graceful stop, and the running Serve.
func serve(t *testing.T, cfg config) (string, context.CancelFunc, *served) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{done: make(chan struct{})}
	go func() {
		s.err = serveOn(ctx, ln, cfg)
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(wait):
			t.Error("Serve did not return")
		}
	})
	return ln.Addr().String(), cancel, s
}

func result(t *testing.T, s *served) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(wait):
		t.Fatal("Serve did not return")
		return nil
	}
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
}

func TestNewSetsEveryTimeout(t *testing.T) {
	srv := newServer(config{Addr: "127.0.0.1:1", Handler: okHandler()})
	if srv.ReadHeaderTimeout != defaultReadHeaderTimeout || srv.ReadTimeout != defaultReadTimeout ||
		srv.WriteTimeout != defaultWriteTimeout || srv.IdleTimeout != defaultIdleTimeout ||
		srv.MaxHeaderBytes != defaultMaxHeaderBytes {
		t.Fatalf("defaults not applied: %+v", srv)
	}
	srv = newServer(config{ReadHeaderTimeout: time.Second, MaxHeaderBytes: 100})
	if srv.ReadHeaderTimeout != time.Second || srv.MaxHeaderBytes != 100 {
		t.Fatalf("explicit values not kept: %+v", srv)
	}
}

func TestReadyWatchdogStoppingOnRealSocket(t *testing.T) {
	sock := apptest.NewNotifySocket(t)
	_, cancel, done := serve(t, config{Handler: okHandler(), Notifier: notifierFor(sock), WatchdogInterval: 5 * time.Millisecond})
	if got := sock.Next(); got != sdnotify.Ready {
		t.Fatalf("first message %q, want %q", got, sdnotify.Ready)
	}
	for i := 0; i < 3; i++ {
		if got := sock.Next(); got != sdnotify.Watchdog {
			t.Fatalf("message %q, want %q", got, sdnotify.Watchdog)
		}
	}
	cancel()
	for {
		got := sock.Next()
		if got == sdnotify.Stopping {
			break
		}
		if got != sdnotify.Watchdog {
			t.Fatalf("unexpected message %q while stopping", got)
		}
	}
	if err := result(t, done); err != nil {
		t.Fatalf("graceful stop returned %v, want nil", err)
	}
}

func TestSIGTERMStopsGracefully(t *testing.T) {
	sock := apptest.NewNotifySocket(t)
	_, _, done := serve(t, config{Handler: okHandler(), Notifier: notifierFor(sock)})
	if got := sock.Next(); got != sdnotify.Ready {
		t.Fatalf("first message %q, want READY=1", got)
	}
	// Serve has its signal handler in place before READY=1, so this SIGTERM
	// reaches it and not the default action.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := sock.Next(); got != sdnotify.Stopping {
		t.Fatalf("message %q, want STOPPING=1", got)
	}
	if err := result(t, done); err != nil {
		t.Fatalf("SIGTERM stop returned %v, want nil (exit 0)", err)
	}
}

func TestShutdownFinishesInFlightRequest(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})
	addr, cancel, done := serve(t, config{Handler: h, ShutdownTimeout: wait})

	type reply struct {
		body string
		err  error
	}
	replies := make(chan reply, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			replies <- reply{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		replies <- reply{string(b), err}
	}()
	<-entered
	cancel()

	// The listener closes at once: new connections are refused while the
	// in-flight request is still running.
	deadline := time.Now().Add(wait)
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections after stop")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-done.done:
		t.Fatalf("Serve returned %v before the in-flight request finished", done.err)
	default:
	}
	close(release)
	r := <-replies
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: body %q err %v", r.body, r.err)
	}
	if err := result(t, done); err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
}

func TestShutdownTimeoutBoundsTheDrain(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	addr, cancel, done := serve(t, config{Handler: h, ShutdownTimeout: 50 * time.Millisecond})
	go func() {
		if resp, err := http.Get("http://" + addr + "/stuck"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	cancel()
	err := result(t, done)
	if err == nil || !strings.Contains(err.Error(), "still running after 50ms") {
		t.Fatalf("Serve returned %v, want a drain-timeout error", err)
	}
}

func TestSlowHeaderClientIsCutOff(t *testing.T) {
	addr, _, _ := serve(t, config{Handler: okHandler(), ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: time.Hour})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Half a request, then silence: a slowloris client.
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server kept the slow-header connection open")
	}

	// A client that sends its headers in time is served.
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestOversizedHeaderIsRefused(t *testing.T) {
	addr, _, _ := serve(t, config{Handler: okHandler(), MaxHeaderBytes: 1024})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 64<<10))
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

func TestRunReportsListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = listenAndServe(context.Background(), config{Addr: ln.Addr().String(), Handler: okHandler()})
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("Run on a busy port: %v, want an error naming the address", err)
	}
}

func TestNewLoggerWritesJSON(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&buf, "demo", "v1").Info("hi", "k", 1)
	line := buf.String()
	for _, want := range []string{`"msg":"hi"`, `"app":"demo"`, `"version":"v1"`, `"k":1`, `"level":"INFO"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %s lacks %s", line, want)
		}
	}
}

// lockedBuffer is a log destination safe for concurrent handlers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// healthHandler answers /health with status and reports each probe on hits.
func healthHandler(status int, hits chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			select {
			case hits <- struct{}{}:
			default:
			}
		}
		w.WriteHeader(status)
	})
}

func TestWatchdogPingsOnlyWhileHealthCheckPasses(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		sock := apptest.NewNotifySocket(t)
		hits := make(chan struct{}, 100)
		var logs lockedBuffer
		logger := newLogger(&logs, "demo", "v1")
		cfg := config{Handler: LogRequests(logger, healthHandler(http.StatusOK, hits)), Logger: logger,
			Notifier: notifierFor(sock), WatchdogInterval: 20 * time.Millisecond, HealthPath: "/health"}
		serve(t, cfg)
		if got := sock.Next(); got != sdnotify.Ready {
			t.Fatalf("first message %q", got)
		}
		for i := 0; i < 2; i++ {
			if got := sock.Next(); got != sdnotify.Watchdog {
				t.Fatalf("message %q, want WATCHDOG=1", got)
			}
		}
		if len(hits) == 0 {
			t.Fatal("WATCHDOG=1 sent without probing /health")
		}
		if strings.Contains(logs.String(), `"msg":"request"`) {
			t.Fatalf("watchdog probes logged at info level:\n%s", logs.String())
		}
	})
	t.Run("unhealthy", func(t *testing.T) {
		sock := apptest.NewNotifySocket(t)
		hits := make(chan struct{})
		var logs lockedBuffer
		cfg := config{Handler: healthHandler(http.StatusServiceUnavailable, hits), Logger: newLogger(&logs, "demo", "v1"),
			Notifier: notifierFor(sock), WatchdogInterval: 10 * time.Millisecond, HealthPath: "/health"}
		_, cancel, done := serve(t, cfg)
		if got := sock.Next(); got != sdnotify.Ready {
			t.Fatalf("first message %q", got)
		}
		for i := 0; i < 3; i++ {
			select {
			case <-hits:
			case <-time.After(wait):
				t.Fatal("watchdog never probed /health")
			}
		}
		cancel()
		if got := sock.Next(); got != sdnotify.Stopping {
			t.Fatalf("message %q after failed health checks, want STOPPING=1 (no WATCHDOG=1)", got)
		}
		if err := result(t, done); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "health self-check failed") {
			t.Fatalf("failed self-check not logged:\n%s", logs.String())
		}
	})
}
