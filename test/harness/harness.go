// Package harness holds what every integration suite under test/ shares:
// finding the repository, requiring external tools (strict under CI=true),
// and running the project's scripts with recorded test doubles on PATH.
package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Strict reports whether missing tools must fail instead of skip (CI=true).
func Strict() bool {
	v := os.Getenv("CI")
	return v == "true" || v == "1"
}

// Require skips the test when a tool is missing, or fails it under CI=true.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "missing tools: " + strings.Join(missing, " ") + " (.ci/run installs them)"
	if Strict() {
		t.Fatal(msg + " -- not allowed under CI=true")
	}
	t.Skip(msg)
}

// RequireRoot skips (or fails under CI=true) when not running as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if Strict() {
		t.Fatal("this test needs root (podman build, systemd-nspawn) -- not allowed under CI=true")
	}
	t.Skip("needs root")
}

// Root is the repository's top directory.
func Root() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("harness: cannot locate source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Path joins elements onto the repository root.
func Path(elem ...string) string {
	return filepath.Join(append([]string{Root()}, elem...)...)
}
