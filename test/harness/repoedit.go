package harness

// Edits a test makes to a copy of the repository before building
// (BuildOptions.Modify), shared by the boot rig and the simulated host.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ExtraApp is the folder AddExtraApp adds: an app with its unit and nginx
// snippets, a package of the apps module like any other.
// (testdata: the test module's tools skip it; it builds only inside apps/.)
const ExtraApp = "test/fixtures/testdata/extra"

// AddExtraApp adds ExtraApp to a copy of the repository as apps/extra, by the
// steps of README's "Adding a new app" and nothing else: the folder and its
// binary's line in the Containerfile. The line's anchor must be there once, so
// a reorganised Containerfile breaks the test instead of silently building an
// image without the app.
func AddExtraApp(dir string) error {
	if err := CopyTree(Path(ExtraApp), filepath.Join(dir, "apps", "extra"), nil); err != nil {
		return err
	}
	return InsertAfterLine(filepath.Join(dir, "Containerfile"), "COPY output/bin/api ", "COPY output/bin/extra /usr/bin/extra\n")
}

// ReplaceOnce replaces the one occurrence of old in the file at path.
func ReplaceOnce(path, old, new string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if n := strings.Count(string(data), old); n != 1 {
		return fmt.Errorf("%s: expected %q once, found it %d times", path, old, n)
	}
	return os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644)
}

// InsertAfterLine inserts text after the one line that starts with prefix.
func InsertAfterLine(path, prefix, text string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(data), "\n")
	at := -1
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			if at >= 0 {
				return fmt.Errorf("%s: more than one line starts with %q", path, prefix)
			}
			at = i
		}
	}
	if at < 0 {
		return fmt.Errorf("%s: no line starts with %q", path, prefix)
	}
	out := strings.Join(lines[:at+1], "") + text + strings.Join(lines[at+1:], "")
	return os.WriteFile(path, []byte(out), 0o644)
}
