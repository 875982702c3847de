package harness

// Edits a test makes to a copy of the repository before building
// (BuildOptions.Modify), shared by the boot rig and the simulated host.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// AddExtraApp adds test/fixtures/extra to a copy of the repository as apps/extra,
// by the steps of README's "Adding a new app" and nothing else: code + go.work,
// the unit with its health path, the Containerfile lines, the nginx upstream and
// route. Each edit fails when its anchor is gone, so a reorganised file breaks the
// test instead of silently building an image without the app.
func AddExtraApp(dir string) error {
	app := filepath.Join(dir, "apps", "extra")
	if err := os.MkdirAll(app, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"main.go", "go.mod", "extra.service"} {
		data, err := os.ReadFile(Path("test", "fixtures", "extra", f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(app, f), data, 0o644); err != nil {
			return err
		}
	}
	if err := ReplaceOnce(filepath.Join(dir, "go.work"), "\t./apps/api\n", "\t./apps/api\n\t./apps/extra\n"); err != nil {
		return err
	}
	cf := filepath.Join(dir, "Containerfile")
	if err := InsertAfterLine(cf, "COPY apps/api/api.service ",
		"COPY apps/extra/extra.service /usr/lib/systemd/system/extra.service\n"+
			"RUN ln -sfn ../extra.service /usr/lib/systemd/system/multi-user.target.wants/extra.service\n"); err != nil {
		return err
	}
	if err := InsertAfterLine(cf, "COPY output/bin/api ", "COPY output/bin/extra /usr/bin/extra\n"); err != nil {
		return err
	}
	nginx := filepath.Join(dir, "configs", "nginx.conf")
	if err := ReplaceOnce(nginx, "upstream api {", "upstream extra {\n    server 127.0.0.1:8082 max_fails=0;\n"+
		"    keepalive 32;\n    keepalive_timeout 30s;\n}\n\nupstream api {"); err != nil {
		return err
	}
	return ReplaceOnce(nginx, "    location /api/ {", "    location /extra/ {\n        proxy_pass http://extra;\n    }\n\n    location /api/ {")
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
