// Package server runs an app's HTTP server the way every bootc-testboot app
// must: bounded timeouts, systemd readiness and watchdog, and a graceful stop
// on SIGTERM that lets in-flight requests finish.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"

	"bootc-testboot/apps/internal/sdnotify"
)

// Defaults for config fields left at zero. The shutdown bound stays below the
// units' TimeoutStopSec= so the app, not systemd's SIGKILL, ends the drain.
const (
	defaultReadHeaderTimeout = 5 * time.Second
	defaultReadTimeout       = 10 * time.Second
	defaultWriteTimeout      = 15 * time.Second
	defaultIdleTimeout       = 60 * time.Second
	defaultMaxHeaderBytes    = 16 << 10
	defaultShutdownTimeout   = 10 * time.Second
)

// config describes one server. Zero durations mean the defaults above.
type config struct {
	Addr    string
	Handler http.Handler
	Logger  *slog.Logger
	// Notifier reaches systemd; nil sends nothing.
	Notifier *sdnotify.Notifier
	// WatchdogInterval is how often to send WATCHDOG=1; 0 disables it.
	WatchdogInterval time.Duration
	// HealthPath, when set, is requested over the listener before each
	// WATCHDOG=1: the ping is sent only if it answers 200, so a server that
	// stopped serving is restarted by systemd, not kept alive by a timer.
	HealthPath string

	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// ShutdownTimeout bounds how long in-flight requests may run after SIGTERM.
	ShutdownTimeout time.Duration
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// newServer builds the http.Server for cfg with every timeout set.
func newServer(cfg config) *http.Server {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Addr:              cfg.Addr,
		Handler:           cfg.Handler,
		ReadHeaderTimeout: orDefault(cfg.ReadHeaderTimeout, defaultReadHeaderTimeout),
		ReadTimeout:       orDefault(cfg.ReadTimeout, defaultReadTimeout),
		WriteTimeout:      orDefault(cfg.WriteTimeout, defaultWriteTimeout),
		IdleTimeout:       orDefault(cfg.IdleTimeout, defaultIdleTimeout),
		MaxHeaderBytes:    orDefault(cfg.MaxHeaderBytes, defaultMaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// listenAndServe listens on cfg.Addr and serves until ctx ends or SIGTERM/SIGINT
// arrives, then drains. See serveOn.
func listenAndServe(ctx context.Context, cfg config) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	return serveOn(ctx, ln, cfg)
}

// serveOn serves on ln (and closes it). It tells systemd READY=1 once the
// listener accepts connections, sends WATCHDOG=1 while serving, and on
// SIGTERM, SIGINT or the end of ctx sends STOPPING=1, stops accepting and
// waits up to ShutdownTimeout for in-flight requests. A clean drain returns
// nil, so the process exits 0; a drain cut short returns an error.
func serveOn(ctx context.Context, ln net.Listener, cfg config) error {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := newServer(cfg)

	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	logger.Info("listening", "addr", ln.Addr().String())
	if err := cfg.Notifier.Notify(sdnotify.Ready); err != nil {
		// systemd would kill a Type=notify unit that never gets READY=1; say why.
		logger.Error("cannot notify systemd", "err", err)
	}

	var tick <-chan time.Time
	if cfg.WatchdogInterval > 0 {
		t := time.NewTicker(cfg.WatchdogInterval)
		defer t.Stop()
		tick = t.C
	}

	for {
		select {
		case err := <-serveErr:
			return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
		case <-tick:
			if cfg.HealthPath != "" {
				if err := probe(ln.Addr(), cfg.HealthPath, cfg.WatchdogInterval/2); err != nil {
					logger.Warn("health self-check failed: not pinging the systemd watchdog", "err", err)
					continue
				}
			}
			if err := cfg.Notifier.Notify(sdnotify.Watchdog); err != nil {
				logger.Warn("cannot ping systemd watchdog", "err", err)
			}
		case <-ctx.Done():
			return shutdown(srv, serveErr, cfg, logger)
		}
	}
}

// watchdogProbeHeader carries probeToken on the server's own health probes,
// which LogRequests logs at debug level only. The token is random per
// process, so no client can hide its requests from the log with the header.
const watchdogProbeHeader = "X-Testboot-Watchdog-Probe"

var probeToken = newRequestID()

// probe requests path through the listener, as a client would.
func probe(addr net.Addr, path string, timeout time.Duration) error {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest(http.MethodGet, "http://"+addr.String()+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set(watchdogProbeHeader, probeToken)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return nil
}

func shutdown(srv *http.Server, serveErr <-chan error, cfg config, logger *slog.Logger) error {
	timeout := orDefault(cfg.ShutdownTimeout, defaultShutdownTimeout)
	logger.Info("stopping: draining in-flight requests", "timeout", timeout.String())
	if err := cfg.Notifier.Notify(sdnotify.Stopping); err != nil {
		logger.Warn("cannot notify systemd", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("in-flight requests still running after %s, connections closed: %w", timeout, err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// newLogger returns the JSON logger every app writes to stderr, where
// journald picks it up.
func newLogger(w io.Writer, app, version string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil)).With("app", app, "version", version)
}
