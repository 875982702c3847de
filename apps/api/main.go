// Command api reports what a bootc-testboot instance runs (GET /api/info):
// image version and revision, OS, kernel, boot ID, uptime and whether the
// host booted through bootc. verify-instance.sh reads it to confirm which
// image a host booted. It runs as api.service behind nginx, which serves
// /api/info to the instance itself only (127.0.0.1, ::1): it names the git
// revision, base image, kernel, boot ID, uptime and file paths, which are no
// business of the network. GET /api/health is public.
package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"

	"bootc-testboot/apps/internal/cli"
	"bootc-testboot/apps/internal/server"
)

// version is set at build time: go build -ldflags "-X main.version=...".
var version = "dev"

func main() {
	cli.Exit("api", run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := server.App{
		Name:        "api",
		Version:     version,
		Summary:     "Serves GET /api/info (what this instance runs) and GET /api/health as JSON.",
		DefaultAddr: "127.0.0.1:8081",
		AddrEnv:     "API_ADDR",
		HealthPath:  "/api/health",
	}.Command(getenv, stdout, stderr)
	src := DefaultSources
	cmd.Flags.StringVar(&src.BuildInfo, "build-info", src.BuildInfo, "build-info JSON written by the image build")
	cmd.Flags.StringVar(&src.OSRelease, "os-release", src.OSRelease, "os-release file")
	if done, err := cmd.Parse(args); done {
		return err
	}
	return cmd.Run(ctx, func(logger *slog.Logger) (http.Handler, error) {
		return newHandler(src, version, logger), nil
	})
}
