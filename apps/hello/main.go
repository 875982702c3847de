// Command hello is the demo web app of bootc-testboot: a JSON greeting with a
// visit counter kept in /var/lib/hello, which shows that /var survives
// `bootc upgrade` and `bootc rollback`. It runs as hello.service behind nginx.
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"bootc-testboot/apps/internal/cli"
	"bootc-testboot/apps/internal/server"
)

// version is set at build time: go build -ldflags "-X main.version=...".
var version = "dev"

func main() {
	cli.Exit("hello", run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := server.App{
		Name:        "hello",
		Version:     version,
		Summary:     "Serves GET / (greeting + visit counter) and GET /health as JSON.",
		DefaultAddr: "127.0.0.1:8080",
		AddrEnv:     "HELLO_ADDR",
		HealthPath:  "/health",
	}.Command(getenv, stdout, stderr)
	// systemd sets STATE_DIRECTORY from StateDirectory=; with several
	// directories it is a colon-separated list and the first one is ours.
	stateDefault, _, _ := strings.Cut(getenv("STATE_DIRECTORY"), ":")
	stateDir := cmd.Flags.String("state-dir", stateDefault, "directory of the visit counter (env STATE_DIRECTORY, set by systemd's StateDirectory=)")
	if done, err := cmd.Parse(args); done {
		return err
	}
	if *stateDir == "" {
		return errors.New("no state directory: pass -state-dir or set STATE_DIRECTORY (systemd does with StateDirectory=)")
	}
	return cmd.Run(ctx, func(logger *slog.Logger) (http.Handler, error) {
		counter, err := OpenCounter(*stateDir, logger)
		if err != nil {
			return nil, err
		}
		return newHandler(counter, version, logger), nil
	})
}
