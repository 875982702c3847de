package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"bootc-testboot/apps/internal/cli"
	"bootc-testboot/apps/internal/sdnotify"
)

// App is what differs between the apps' command lines; everything else
// (-addr, -shutdown-timeout, -version, usage, logging, systemd) is the same
// for all of them and lives in Command.
type App struct {
	Name    string // command name: usage, logs and "name: error"
	Version string // printed by -version and logged with every line
	// Summary says what the app serves; it opens the usage text.
	Summary string
	// DefaultAddr is the listen address unless AddrEnv is set in the
	// environment or -addr is given.
	DefaultAddr string
	AddrEnv     string
	// HealthPath is the path the watchdog self-check requests (see config).
	HealthPath string
}

// Command is one run of an App: its flag set, with the common flags already
// registered, takes the app's own flags before Parse.
type Command struct {
	App
	Flags *flag.FlagSet

	getenv          func(string) string
	stdout, stderr  io.Writer
	addr            *string
	shutdownTimeout *time.Duration
	showVersion     *bool
}

// Command starts the app's command line. The environment is read through
// getenv and output goes to stdout and stderr, so tests can inject them.
func (a App) Command(getenv func(string) string, stdout, stderr io.Writer) *Command {
	fs := flag.NewFlagSet(a.Name, flag.ContinueOnError)
	addrDefault := getenv(a.AddrEnv)
	if addrDefault == "" {
		addrDefault = a.DefaultAddr
	}
	c := &Command{
		App:             a,
		Flags:           fs,
		getenv:          getenv,
		stdout:          stdout,
		stderr:          stderr,
		addr:            fs.String("addr", addrDefault, fmt.Sprintf("listen address (env %s)", a.AddrEnv)),
		shutdownTimeout: fs.Duration("shutdown-timeout", defaultShutdownTimeout, "how long in-flight requests may finish after SIGTERM"),
		showVersion:     fs.Bool("version", false, "print the version and exit"),
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s [flags]\n\n%s\n"+
			"Logs JSON to stderr; notifies systemd when $NOTIFY_SOCKET is set.\n\nFlags:\n", a.Name, a.Summary)
		fs.PrintDefaults()
	}
	return c
}

// Parse parses args (see cli.Parse) and handles -version. done reports that
// run() must return err now: a bad command line, --help, or the version
// printed.
func (c *Command) Parse(args []string) (done bool, err error) {
	if err := cli.Parse(c.Flags, args, c.stdout, c.stderr); err != nil {
		return true, err
	}
	if *c.showVersion {
		_, err := fmt.Fprintln(c.stdout, c.Version)
		return true, err
	}
	return false, nil
}

// Run serves the handler newHandler builds until ctx ends or SIGTERM, with
// the JSON logger on stderr and systemd's notifications (see listenAndServe). Call it
// after Parse; the app checks its own flags between the two.
func (c *Command) Run(ctx context.Context, newHandler func(*slog.Logger) (http.Handler, error)) error {
	if *c.shutdownTimeout <= 0 {
		return errors.New("-shutdown-timeout must be positive")
	}
	logger := newLogger(c.stderr, c.Name, c.Version)
	handler, err := newHandler(logger)
	if err != nil {
		return err
	}
	watchdog, err := sdnotify.WatchdogInterval(c.getenv, os.Getpid())
	if err != nil {
		return err
	}
	return listenAndServe(ctx, config{
		Addr:             *c.addr,
		Handler:          handler,
		Logger:           logger,
		Notifier:         sdnotify.New(c.getenv),
		WatchdogInterval: watchdog,
		HealthPath:       c.HealthPath,
		ShutdownTimeout:  *c.shutdownTimeout,
	})
}
