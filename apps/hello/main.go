// Command hello is the demo web app of bootc-testboot: a JSON greeting with a
// visit counter kept in /var/lib/hello, which shows that /var survives
// `bootc upgrade` and `bootc rollback`. It runs as hello.service behind nginx.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"bootc-testboot/apps/internal/cli"
	"bootc-testboot/apps/internal/sdnotify"
	"bootc-testboot/apps/internal/server"
)

// version is set at build time: go build -ldflags "-X main.version=...".
var version = "dev"

const defaultAddr = "127.0.0.1:8080"

func main() {
	cli.Exit("hello", run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hello", flag.ContinueOnError)
	addrDefault := getenv("HELLO_ADDR")
	if addrDefault == "" {
		addrDefault = defaultAddr
	}
	// systemd sets STATE_DIRECTORY from StateDirectory=; with several
	// directories it is a colon-separated list and the first one is ours.
	stateDefault, _, _ := strings.Cut(getenv("STATE_DIRECTORY"), ":")
	addr := fs.String("addr", addrDefault, "listen address (env HELLO_ADDR)")
	stateDir := fs.String("state-dir", stateDefault, "directory of the visit counter (env STATE_DIRECTORY, set by systemd's StateDirectory=)")
	shutdownTimeout := fs.Duration("shutdown-timeout", server.DefaultShutdownTimeout, "how long in-flight requests may finish after SIGTERM")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: hello [flags]\n\n"+
			"Serves GET / (greeting + visit counter) and GET /health as JSON.\n"+
			"Logs JSON to stderr; notifies systemd when $NOTIFY_SOCKET is set.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *showVersion {
		_, err := fmt.Fprintln(stdout, version)
		return err
	}
	if *stateDir == "" {
		return errors.New("no state directory: pass -state-dir or set STATE_DIRECTORY (systemd does with StateDirectory=)")
	}
	if *shutdownTimeout <= 0 {
		return errors.New("-shutdown-timeout must be positive")
	}

	logger := server.NewLogger(stderr, "hello", version)
	counter, err := OpenCounter(*stateDir, logger)
	if err != nil {
		return err
	}
	watchdog, err := sdnotify.WatchdogInterval(getenv, os.Getpid())
	if err != nil {
		return err
	}
	return server.Run(ctx, server.Config{
		Addr:             *addr,
		Handler:          newHandler(counter, version, logger),
		Logger:           logger,
		Notifier:         sdnotify.New(getenv),
		WatchdogInterval: watchdog,
		HealthPath:       "/health",
		ShutdownTimeout:  *shutdownTimeout,
	})
}
