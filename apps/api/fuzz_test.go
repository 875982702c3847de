package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzReadInfo feeds arbitrary build-info and os-release contents to
// ReadInfo: whatever the files hold, the document still encodes as JSON and
// every file that cannot be read fully is reported. The seeds run in every
// plain `go test`.
func FuzzReadInfo(f *testing.F) {
	buildInfo, _ := os.ReadFile("testdata/build-info.json")
	osRelease, _ := os.ReadFile("testdata/os-release")
	f.Add(string(buildInfo), string(osRelease), "12.5 3.0")
	f.Add(`{"version": null}`, "NAME=\"unterminated\n", "NaN")
	f.Add(`[1,2]`, "ID='x'\nID=\"\\\"\"", "-1 0")
	f.Add("", "", "")
	f.Add(`{"version":"\ud800"}`, "=\n=\x00", "1e400")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, bi, osr, uptime string) {
		src := fixtures()
		src.BuildInfo = filepath.Join(dir, "build-info.json")
		src.OSRelease = filepath.Join(dir, "os-release")
		src.Uptime = filepath.Join(dir, "uptime")
		for p, content := range map[string]string{src.BuildInfo: bi, src.OSRelease: osr, src.Uptime: uptime} {
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		info := ReadInfo(src, "fuzz")
		if _, err := json.Marshal(info); err != nil {
			t.Fatalf("info does not encode: %v", err)
		}
		reported := func(what string) bool {
			for _, e := range info.Errors {
				if strings.HasPrefix(e, what+": ") {
					return true
				}
			}
			return false
		}
		if info.UptimeSeconds == nil && !reported("uptime") {
			t.Fatalf("uptime missing without an uptime error: %q", info.Errors)
		}
		if info.Image.Version == nil && info.Image.Revision == nil && info.Image.Created == nil &&
			info.Image.Source == nil && info.Image.Title == nil && info.Image.BaseImage == nil && !reported("build-info") {
			t.Fatalf("build-info empty without a build-info error: %q", info.Errors)
		}
	})
}
