package cli

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

func newFlags() (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:1", "listen address")
	fs.Usage = func() {
		fs.Output().Write([]byte("Usage: demo [flags]\n"))
		fs.PrintDefaults()
	}
	return fs, addr
}

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    func(error) bool
		wantStdout string
		wantStderr string
		wantCode   int
	}{
		{"ok", []string{"-addr", ":9"}, func(err error) bool { return err == nil }, "", "", 0},
		{"help on stdout", []string{"--help"}, func(err error) bool { return errors.Is(err, flag.ErrHelp) }, "Usage: demo", "", 0},
		{"unknown flag", []string{"-nope"}, isUsage, "", "flag provided but not defined: -nope", 2},
		{"missing value", []string{"-addr"}, isUsage, "", "flag needs an argument", 2},
		{"positional", []string{"extra"}, isUsage, "", `demo: unexpected argument "extra"`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, _ := newFlags()
			var stdout, stderr bytes.Buffer
			err := Parse(fs, tt.args, &stdout, &stderr)
			if !tt.wantErr(err) {
				t.Fatalf("unexpected err %v", err)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) || (tt.wantStdout == "" && stdout.Len() > 0) {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) || (tt.wantStderr == "" && stderr.Len() > 0) {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.wantStderr)
			}
			var msg bytes.Buffer
			if code := ExitCode(&msg, "demo", err); code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			if msg.Len() != 0 {
				t.Errorf("usage result printed again: %q", msg.String())
			}
		})
	}
}

func isUsage(err error) bool {
	var u UsageError
	return errors.As(err, &u)
}

func TestExitCodeForRuntimeError(t *testing.T) {
	var stderr bytes.Buffer
	if code := ExitCode(&stderr, "demo", errors.New("disk on fire")); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	if stderr.String() != "demo: disk on fire\n" {
		t.Fatalf("stderr %q", stderr.String())
	}
}
