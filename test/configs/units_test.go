package configs

import (
	"bufio"
	"net"
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

// hardening is the drop-in the image links next to every app unit.
var hardening = harness.Path("configs", "app-hardening.conf")

// Where the image puts the shared hardening and each app's link to it
// (Containerfile, "App units"); the link is relative, so it resolves inside
// any root, including systemd-analyze --root.
const (
	hardeningPath = "/usr/share/bootc-testboot/app-hardening.conf"
	dropInName    = "10-bootc-testboot-app.conf"
	dropInTarget  = "../../../../share/bootc-testboot/app-hardening.conf"
)

// effective is the unit as systemd reads it on a host: the app's file, then
// the shared drop-in (a drop-in is read after the unit file, so its
// assignments come last).
func (unit appUnit) effective(t *testing.T) unitFile {
	t.Helper()
	u := parseUnit(t, unit.path)
	for section, keys := range parseUnit(t, hardening) {
		if u[section] == nil {
			u[section] = map[string][]string{}
		}
		for k, v := range keys {
			u[section][k] = append(u[section][k], v...)
		}
	}
	return u
}

// installUnit lays unit out in root as the image does: the unit in
// /usr/lib/systemd/system, the hardening in /usr/share, and the drop-in link.
func installUnit(t *testing.T, root string, unit appUnit) {
	t.Helper()
	units := filepath.Join(root, "usr/lib/systemd/system")
	copyFile(t, unit.path, filepath.Join(units, unit.app+".service"))
	copyFile(t, hardening, filepath.Join(root, hardeningPath))
	dropIns := filepath.Join(units, unit.app+".service.d")
	if err := os.MkdirAll(dropIns, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dropInTarget, filepath.Join(dropIns, dropInName)); err != nil {
		t.Fatal(err)
	}
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
			u := unit.effective(t)
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

// TestUnitHardeningScore keeps every app unit, with the shared drop-in as the
// image installs it, at or below maxExposure. The unit alone must score worse:
// proof that the analysis read the drop-in.
func TestUnitHardeningScore(t *testing.T) {
	harness.Require(t, "systemd-analyze")
	threshold := strconv.Itoa(int(maxExposure * 10)) // --threshold counts tenths
	score := func(t *testing.T, root, name string) (float64, []byte, error) {
		t.Helper()
		cmd := exec.Command("systemd-analyze", "security", "--offline=true", "--no-pager",
			"--root="+root, "--threshold="+threshold, name)
		out, err := cmd.CombinedOutput()
		m := exposureLine.FindSubmatch(out)
		if m == nil {
			t.Fatalf("no exposure score in output (%v):\n%s", err, out)
		}
		v, perr := strconv.ParseFloat(string(m[1]), 64)
		if perr != nil {
			t.Fatal(perr)
		}
		return v, out, err
	}
	for _, unit := range appUnits(t) {
		t.Run(unit.app, func(t *testing.T) {
			name := unit.app + ".service"
			bare := t.TempDir()
			copyFile(t, unit.path, filepath.Join(bare, "usr/lib/systemd/system", name))
			alone, _, _ := score(t, bare, name)

			root := t.TempDir()
			installUnit(t, root, unit)
			got, out, err := score(t, root, name)
			t.Logf("%s exposure %.1f with the shared drop-in, %.1f without (max %.1f)", name, got, alone, maxExposure)
			if err != nil || got > maxExposure {
				t.Fatalf("exposure %.1f exceeds %.1f (exit: %v); the ✗ lines say what to tighten:\n%s",
					got, maxExposure, err, failedChecks(out))
			}
			if alone <= got {
				t.Fatalf("%s scores %.1f alone and %.1f with %s: the analysis did not read the drop-in", name, alone, got, dropInName)
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
// root that holds the unit and its drop-in as the image has them, the app binary at its
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
			name := unit.app + ".service"
			installUnit(t, root, unit)

			exe := unit.effective(t).last("Service", "ExecStart")
			if !filepath.IsAbs(exe) {
				t.Fatalf("ExecStart=%q is not an absolute path", exe)
			}
			build := exec.Command("go", "build", "-o", filepath.Join(root, exe), "./"+unit.app)
			build.Dir = filepath.Dir(filepath.Dir(unit.path))
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

// listenAddr is where the app listens under its unit: an -addr in ExecStart=,
// else its address variable (AddrEnv in main.go) from Environment=, else the
// app's DefaultAddr in main.go.
func listenAddr(t *testing.T, unit appUnit, u unitFile) string {
	t.Helper()
	if m := regexp.MustCompile(`\s-{1,2}addr[= ](\S+)`).FindStringSubmatch(u.last("Service", "ExecStart")); m != nil {
		return m[1]
	}
	main, err := os.ReadFile(filepath.Join(filepath.Dir(unit.path), "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) string {
		m := regexp.MustCompile(name + `:\s*"([^"]*)"`).FindSubmatch(main)
		if m == nil {
			t.Fatalf("%s/main.go sets no %s in its server.App", unit.app, name)
		}
		return string(m[1])
	}
	addr := field("DefaultAddr")
	env := field("AddrEnv")
	for _, assignment := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(assignment) {
			if v, ok := strings.CutPrefix(strings.Trim(kv, `"`), env+"="); ok {
				addr = v
			}
		}
	}
	return addr
}

// nginxUpstream is the server address of `upstream name` in nginx's config
// with the apps' snippets.
func nginxUpstream(t *testing.T, name string) string {
	t.Helper()
	conf, err := harness.NginxSite(harness.Root())
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`upstream\s+` + regexp.QuoteMeta(name) + `\s*\{[^}]*?server\s+([^\s;]+)`).FindStringSubmatch(conf)
	if m == nil {
		t.Fatalf("apps/%s/%s.upstream.conf has no upstream %s", name, name, name)
	}
	return string(m[1])
}

// TestUnitLeastPrivilege: each app may bind only its own port, talk only on
// loopback, and use bounded memory and tasks.
func TestUnitLeastPrivilege(t *testing.T) {
	for _, unit := range appUnits(t) {
		t.Run(unit.app, func(t *testing.T) {
			u := unit.effective(t)
			addr := listenAddr(t, unit, u)
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatalf("listen address %q: %v", addr, err)
			}
			if allow := u["Service"]["SocketBindAllow"]; len(allow) != 1 || allow[0] != "tcp:"+port {
				t.Errorf("SocketBindAllow= %q, want exactly tcp:%s (the app listens on %s)", allow, port, addr)
			}
			if deny := u["Service"]["SocketBindDeny"]; len(deny) != 1 || deny[0] != "any" {
				t.Errorf("SocketBindDeny= %q, want any: without it SocketBindAllow= restricts nothing", deny)
			}
			if up := nginxUpstream(t, unit.app); up != addr {
				t.Errorf("nginx upstream %s is %s, but the app listens on %s", unit.app, up, addr)
			}
			if got := u.last("Service", "RestrictNetworkInterfaces"); got != "lo" {
				t.Errorf("RestrictNetworkInterfaces=%q, want lo (the apps talk to nginx on loopback only)", got)
			}
			high, max := bytesOf(t, u.last("Service", "MemoryHigh")), bytesOf(t, u.last("Service", "MemoryMax"))
			if high <= 0 || max <= 0 || high >= max {
				t.Errorf("MemoryHigh=%q MemoryMax=%q, want both set and MemoryHigh below MemoryMax",
					u.last("Service", "MemoryHigh"), u.last("Service", "MemoryMax"))
			}
			if n, err := strconv.Atoi(u.last("Service", "TasksMax")); err != nil || n <= 0 {
				t.Errorf("TasksMax=%q, want a number of tasks", u.last("Service", "TasksMax"))
			}
		})
	}
}

// bytesOf parses a systemd size with a K/M/G/T suffix (base 1024); -1 if it
// is not one.
func bytesOf(t *testing.T, v string) int64 {
	t.Helper()
	m := regexp.MustCompile(`^([0-9]+)([KMGT]?)$`).FindStringSubmatch(v)
	if m == nil {
		return -1
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return -1
	}
	return n << map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m[2]]
}

// TestAppUnitsStateOnlyTheirOwn: the shared drop-in is read after an app's
// unit, so a key the app sets that the drop-in also sets is silently replaced
// (or, for a list, extended). An app unit holds only what is its own.
func TestAppUnitsStateOnlyTheirOwn(t *testing.T) {
	shared := parseUnit(t, hardening)
	for _, unit := range appUnits(t) {
		t.Run(unit.app, func(t *testing.T) {
			for section, keys := range parseUnit(t, unit.path) {
				for k := range keys {
					if _, ok := shared[section][k]; ok {
						t.Errorf("[%s] %s= is set by configs/app-hardening.conf, which is read after %s.service and wins: remove it from the unit", section, k, unit.app)
					}
				}
			}
		})
	}
}
