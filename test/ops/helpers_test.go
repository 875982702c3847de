// Package ops tests the day-2 operation scripts (scripts/upgrade-os.sh, rollback-os.sh,
// create-ami.sh, on-host.sh) against the recorded doubles in test/doubles: every happy
// path, every failure path, and bad input that must change nothing.
package ops

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"bootc-testboot/test/harness"
)

// newHost: a bootc host booted into v1 with v0 as rollback; the registry serves v2.
func newHost(t *testing.T) *harness.Doubles {
	t.Helper()
	harness.Require(t, "flock")
	d := harness.NewDoubles(t)
	h := harness.BootcHost(harness.Img("v1"))
	h.Status.Rollback = harness.Entry(harness.Img("v0"))
	d.SetBootc(t, h)
	d.SetRegistry(t, harness.Img("v2"))
	return d
}

// errorLine checks a failure: the exit code, exactly one stderr line naming the problem.
func errorLine(t *testing.T, r harness.Result, code int, want string) {
	t.Helper()
	if r.ExitCode != code {
		t.Errorf("exit code %d, want %d\n%s", r.ExitCode, code, r.Output())
	}
	lines := harness.NonEmptyLines(r.Stderr)
	if len(lines) != 1 {
		t.Errorf("want one error line on stderr, got %d:\n%s", len(lines), r.Stderr)
	}
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, r.Stderr)
	}
}

// lastErrorLine checks a failure whose stderr may carry progress before the final error.
func lastErrorLine(t *testing.T, r harness.Result, code int, want string) {
	t.Helper()
	if r.ExitCode != code {
		t.Errorf("exit code %d, want %d\n%s", r.ExitCode, code, r.Output())
	}
	lines := harness.NonEmptyLines(r.Stderr)
	if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], want) {
		t.Errorf("last stderr line does not say %q:\n%s", want, r.Stderr)
	}
}

func lastLine(s string) string {
	l := harness.NonEmptyLines(s)
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

// holdLock takes the operations lock the scripts use, until the test ends.
func holdLock(t *testing.T, d *harness.Doubles) {
	t.Helper()
	f, err := os.OpenFile(d.Lock, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func stateFile(d *harness.Doubles, name string) string { return filepath.Join(d.StateDir, name) }

// scriptNames: every script in scripts/.
func scriptNames(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(harness.Path("scripts", "*.sh"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scripts/*.sh (%v)", err)
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return names
}

func TestEveryScriptHasHelp(t *testing.T) {
	for _, s := range scriptNames(t) {
		t.Run(s, func(t *testing.T) {
			d := harness.NewDoubles(t)
			for _, flag := range []string{"--help", "-h"} {
				r := d.Run(t, s, flag)
				if r.ExitCode != 0 || !strings.Contains(r.Stdout, "Usage: "+s) {
					t.Errorf("%s %s: exit %d, no usage line\n%s", s, flag, r.ExitCode, r.Output())
				}
				if strings.Contains(r.Stdout, "set -euo") {
					t.Errorf("%s %s prints code:\n%s", s, flag, r.Stdout)
				}
			}
			if calls := d.Calls(t); len(calls) != 0 {
				t.Errorf("--help made calls:\n%s", harness.FormatCalls(calls))
			}
		})
	}
}

// Every script answers an option it does not know with the same one line, exit 2, and
// does nothing else.
func TestEveryScriptRefusesUnknownOptions(t *testing.T) {
	for _, s := range scriptNames(t) {
		t.Run(s, func(t *testing.T) {
			d := harness.NewDoubles(t)
			r := d.Run(t, s, "--no-such-option")
			errorLine(t, r, 2, s+": unknown option '--no-such-option' (see --help)")
			if len(r.Calls) != 0 {
				t.Errorf("an unknown option made calls:\n%s", harness.FormatCalls(r.Calls))
			}
		})
	}
}
