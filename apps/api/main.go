// Command api reports what a bootc-testboot instance runs (GET /api/info):
// image version and revision, OS, kernel, boot ID, uptime and whether the
// host booted through bootc. verify-instance.sh reads it to confirm which
// image a host booted. It runs as api.service behind nginx.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"bootc-testboot/apps/internal/cli"
	"bootc-testboot/apps/internal/sdnotify"
	"bootc-testboot/apps/internal/server"
)

// version is set at build time: go build -ldflags "-X main.version=...".
var version = "dev"

const defaultAddr = "127.0.0.1:8081"

func main() {
	cli.Exit("api", run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("api", flag.ContinueOnError)
	addrDefault := getenv("API_ADDR")
	if addrDefault == "" {
		addrDefault = defaultAddr
	}
	src := DefaultSources
	addr := fs.String("addr", addrDefault, "listen address (env API_ADDR)")
	fs.StringVar(&src.BuildInfo, "build-info", src.BuildInfo, "build-info JSON written by the image build")
	fs.StringVar(&src.OSRelease, "os-release", src.OSRelease, "os-release file")
	shutdownTimeout := fs.Duration("shutdown-timeout", server.DefaultShutdownTimeout, "how long in-flight requests may finish after SIGTERM")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: api [flags]\n\n"+
			"Serves GET /api/info (what this instance runs) and GET /api/health as JSON.\n"+
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
	if *shutdownTimeout <= 0 {
		return errors.New("-shutdown-timeout must be positive")
	}

	logger := server.NewLogger(stderr, "api", version)
	watchdog, err := sdnotify.WatchdogInterval(getenv, os.Getpid())
	if err != nil {
		return err
	}
	return server.Run(ctx, server.Config{
		Addr:             *addr,
		Handler:          newHandler(src, version, logger),
		Logger:           logger,
		Notifier:         sdnotify.New(getenv),
		WatchdogInterval: watchdog,
		HealthPath:       "/api/health",
		ShutdownTimeout:  *shutdownTimeout,
	})
}
