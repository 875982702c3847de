package configs

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// maxExposure is the highest `systemd-analyze security` score an app unit
// may have (0 = locked down, 10 = fully exposed).
const maxExposure = 1.5

// appUnit is one apps/<name>/<name>.service, found by globbing: a new app
// is covered without touching this file.
type appUnit struct {
	app  string // directory under apps/
	path string
}

func appUnits(t *testing.T) []appUnit {
	t.Helper()
	paths, err := filepath.Glob(harness.Path("apps", "*", "*.service"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no apps/*/*.service found")
	}
	units := make([]appUnit, 0, len(paths))
	for _, p := range paths {
		units = append(units, appUnit{app: filepath.Base(filepath.Dir(p)), path: p})
	}
	return units
}

// unitFile is a parsed unit: section -> key -> values in file order.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, path string) unitFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: line %q is not key=value in a section", path, line)
			}
			key = strings.TrimSpace(key)
			u[section][key] = append(u[section][key], strings.TrimSpace(value))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// last returns the effective value of a key (the last assignment wins).
func (u unitFile) last(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// TestUnitKeys checks what the rest of the project relies on: the health
// path verify-instance.sh discovers apps by, readiness and watchdog through
// sd_notify, the binary `make apps` builds, and the enablement target.
func TestUnitKeys(t *testing.T) {
	for _, unit := range appUnits(t) {
		t.Run(unit.app, func(t *testing.T) {
			if name := filepath.Base(unit.path); name != unit.app+".service" {
				t.Errorf("unit %s must be named %s.service after its app", name, unit.app)
			}
			u := parseUnit(t, unit.path)
			if hp := u.last("Unit", "X-Testboot-HealthPath"); !strings.HasPrefix(hp, "/") {
				t.Errorf("[Unit] X-Testboot-HealthPath=%q, want an absolute URL path", hp)
			}
			want := map[[2]string]string{
				{"Service", "Type"}:         "notify",
				{"Service", "NotifyAccess"}: "main",
				{"Service", "ExecStart"}:    "/usr/bin/" + unit.app,
				{"Service", "DynamicUser"}:  "yes",
				{"Service", "Restart"}:      "on-failure",
				{"Install", "WantedBy"}:     "multi-user.target",
			}
			for k, v := range want {
				if got := u.last(k[0], k[1]); got != v {
					t.Errorf("[%s] %s=%q, want %q", k[0], k[1], got, v)
				}
			}
			if u.last("Service", "WatchdogSec") == "" {
				t.Error("[Service] WatchdogSec= missing: a hung app would never be restarted")
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(unit.path), "main.go")); err != nil {
				t.Errorf("no main.go next to %s: `make apps` would not build /usr/bin/%s", unit.path, unit.app)
			}
		})
	}
}

var exposureLine = regexp.MustCompile(`Overall exposure level for \S+: ([0-9]+\.[0-9]+)`)

// TestUnitHardeningScore keeps every app unit at or below maxExposure.
func TestUnitHardeningScore(t *testing.T) {
	harness.Require(t, "systemd-analyze")
	threshold := strconv.Itoa(int(maxExposure * 10)) // --threshold counts tenths
	for _, unit := range appUnits(t) {
		t.Run(unit.app, func(t *testing.T) {
			cmd := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager",
				"--threshold="+threshold, unit.path)
			out, err := cmd.CombinedOutput()
			m := exposureLine.FindSubmatch(out)
			if m == nil {
				t.Fatalf("no exposure score in output (%v):\n%s", err, out)
			}
			score, perr := strconv.ParseFloat(string(m[1]), 64)
			if perr != nil {
				t.Fatal(perr)
			}
			t.Logf("%s exposure %.1f (max %.1f)", filepath.Base(unit.path), score, maxExposure)
			if err != nil || score > maxExposure {
				t.Fatalf("exposure %.1f exceeds %.1f (exit: %v); the ✗ lines say what to tighten:\n%s",
					score, maxExposure, err, failedChecks(out))
			}
		})
	}
}

func failedChecks(out []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "✗") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestUnitVerify runs `systemd-analyze verify` on each unit inside a scratch
// root that holds the unit in /etc/systemd/system, the app binary at its
// ExecStart= path (built from apps/<name>), and this host's systemd units for
// the targets it depends on. verify exits 0 on unknown keys and bad values,
// only printing them, so any output at all fails the test.
func TestUnitVerify(t *testing.T) {
	harness.Require(t, "systemd-analyze", "go")
	hostUnits := "/usr/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(hostUnits, "multi-user.target")); err != nil {
		harness.Require(t, "multi-user.target in "+hostUnits)
	}
	for _, unit := range appUnits(t) {
		t.Run(unit.app, func(t *testing.T) {
			root := t.TempDir()
			// Symlinks (aliases such as default.target -> graphical.target) stay links.
			if err := harness.CopyTree(hostUnits, filepath.Join(root, hostUnits), nil); err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(unit.path)
			copyFile(t, unit.path, filepath.Join(root, "etc/systemd/system", name))

			exe := parseUnit(t, unit.path).last("Service", "ExecStart")
			if !filepath.IsAbs(exe) {
				t.Fatalf("ExecStart=%q is not an absolute path", exe)
			}
			build := exec.Command("go", "build", "-o", filepath.Join(root, exe), ".")
			build.Dir = filepath.Dir(unit.path)
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build in %s: %v\n%s", build.Dir, err, out)
			}

			cmd := exec.Command("systemd-analyze", "verify", "--root="+root, "--man=no", name)
			cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0")
			out, err := cmd.CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Fatalf("systemd-analyze verify %s (exit: %v):\n%s", name, err, out)
			}
		})
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
