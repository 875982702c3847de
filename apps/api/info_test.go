package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func fixtures() Sources {
	return Sources{
		BuildInfo:    "testdata/build-info.json",
		OSRelease:    "testdata/os-release",
		BootID:       "testdata/boot_id",
		Uptime:       "testdata/uptime",
		OstreeBooted: "testdata/ostree-booted",
	}
}

func str(s string) *string { return &s }

func uname(t *testing.T) string {
	t.Helper()
	k, err := kernelRelease()
	if err != nil || k == "" {
		t.Fatalf("uname: %q %v", k, err)
	}
	return k
}

func TestReadInfoFromFixtures(t *testing.T) {
	got := ReadInfo(fixtures(), "app-1")
	want := Info{
		Image: Image{
			Version:   str("1.4.0"),
			Revision:  str("0123456789abcdef0123456789abcdef01234567"),
			Created:   str("2026-01-02T03:04:05Z"),
			Source:    str("https://github.com/bootc-testboot/bootc-testboot"),
			Title:     str("bootc-testboot"),
			BaseImage: str("quay.io/fedora/fedora-bootc:42"),
		},
		OS: OS{
			ID: str("fedora"), Name: str("Fedora Linux"), Version: str(`42 (Forty "Two")`),
			VersionID: str("42"), PrettyName: str("Fedora Linux 42"),
		},
		Kernel:        str(uname(t)),
		BootID:        str("5b4f0e2c-1d0a-4d7e-9a3f-2c6b8e1f0a9d"),
		UptimeSeconds: ptr(12345.67),
		Bootc:         ptr(true),
		AppVersion:    "app-1",
		Errors:        []string{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("info mismatch\n got %s\nwant %s", jsonOf(t, got), jsonOf(t, want))
	}
}

func TestKernelMatchesProc(t *testing.T) {
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Skip("no /proc/sys/kernel/osrelease to compare with")
	}
	if k := uname(t); k != strings.TrimSpace(string(data)) {
		t.Fatalf("uname %q, /proc says %q", k, data)
	}
}

func TestReadInfoWithEverythingMissing(t *testing.T) {
	dir := t.TempDir()
	src := Sources{}
	for _, p := range []*string{&src.BuildInfo, &src.OSRelease, &src.BootID, &src.Uptime, &src.OstreeBooted} {
		*p = filepath.Join(dir, "missing")
	}
	got := ReadInfo(src, "app-1")
	if got.Image != (Image{}) || got.OS != (OS{}) || got.BootID != nil || got.UptimeSeconds != nil {
		t.Fatalf("missing files gave values: %s", jsonOf(t, got))
	}
	if got.Bootc == nil || *got.Bootc {
		t.Fatalf("no /run/ostree-booted must mean bootc=false, got %v", got.Bootc)
	}
	if got.Kernel == nil || got.AppVersion != "app-1" {
		t.Fatalf("kernel and app version do not depend on files: %s", jsonOf(t, got))
	}
	wantPrefixes := []string{"build-info: ", "os-release: ", "boot_id: ", "uptime: "}
	if len(got.Errors) != len(wantPrefixes) {
		t.Fatalf("errors %q, want one per missing file", got.Errors)
	}
	for i, p := range wantPrefixes {
		if !strings.HasPrefix(got.Errors[i], p) || !strings.Contains(got.Errors[i], "no such file") {
			t.Errorf("error %q, want %q... no such file", got.Errors[i], p)
		}
	}
}

func TestReadInfoWithGarbledFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		src     func(*Sources)
		check   func(Info) bool
		wantErr string
	}{
		{"build-info not JSON", func(s *Sources) { s.BuildInfo = write("bi1", "{version: 1") },
			func(i Info) bool { return i.Image == (Image{}) }, "build-info: "},
		{"build-info wrong type keeps the rest", func(s *Sources) { s.BuildInfo = write("bi2", `{"version": 3, "revision": "abc"}`) },
			func(i Info) bool { return i.Image.Version == nil && *i.Image.Revision == "abc" }, "not a string: version"},
		{"build-info without expected keys", func(s *Sources) { s.BuildInfo = write("bi3", `{"other": "x"}`) },
			func(i Info) bool { return i.Image == (Image{}) }, "none of the keys"},
		{"os-release without fields", func(s *Sources) { s.OSRelease = write("osr", "garbage\n\x00\x01\n") },
			func(i Info) bool { return i.OS.Name == nil }, "os-release: "},
		{"empty boot id", func(s *Sources) { s.BootID = write("bid", "\n") },
			func(i Info) bool { return i.BootID == nil }, "boot_id: "},
		{"uptime not a number", func(s *Sources) { s.Uptime = write("up1", "soon 1\n") },
			func(i Info) bool { return i.UptimeSeconds == nil }, "uptime: "},
		{"uptime NaN", func(s *Sources) { s.Uptime = write("up2", "NaN 1\n") },
			func(i Info) bool { return i.UptimeSeconds == nil }, "uptime: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fixtures()
			tt.src(&src)
			got := ReadInfo(src, "v")
			if !tt.check(got) {
				t.Fatalf("unexpected info %s", jsonOf(t, got))
			}
			if len(got.Errors) != 1 || !strings.Contains(got.Errors[0], tt.wantErr) {
				t.Fatalf("errors %q, want one containing %q", got.Errors, tt.wantErr)
			}
			if got.OS.Name == nil && tt.name != "os-release without fields" {
				t.Fatal("an unrelated garbled file hid the OS name")
			}
		})
	}
}
