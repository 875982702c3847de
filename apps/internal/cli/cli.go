// Package cli holds the command-line conventions every app shares: --help on
// stdout with exit 0, a bad flag or argument reported in one line on stderr
// with exit 2, any other error as "name: error" with exit 1.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// UsageError is a bad command line. It has already been reported on stderr.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Parse parses args into fs. -h/--help prints the usage (fs.Usage writes to
// fs.Output()) on stdout and returns flag.ErrHelp. A bad flag or any
// positional argument is reported on stderr and returned as a UsageError.
func Parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	usage := fs.Usage
	fs.Usage = func() {} // printed below, on the right stream
	fs.SetOutput(stderr)
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return err
	case err != nil:
		fmt.Fprintf(stderr, "Run '%s -h' for usage.\n", fs.Name())
		return UsageError{err}
	case fs.NArg() > 0:
		err := fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintf(stderr, "%s: %v (run '%s -h' for usage)\n", fs.Name(), err, fs.Name())
		return UsageError{err}
	}
	return nil
}

// Exit ends the process for the result of an app's run(): 0 for success and
// --help, 2 for a usage error, 1 with "name: error" on stderr otherwise.
func Exit(name string, err error) {
	os.Exit(ExitCode(os.Stderr, name, err))
}

// ExitCode reports err the way Exit does and returns the exit status.
func ExitCode(stderr io.Writer, name string, err error) int {
	var usage UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usage):
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}
