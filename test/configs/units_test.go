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

// nginxUpstream is the server address of `upstream name` in configs/nginx.conf.
func nginxUpstream(t *testing.T, name string) string {
	t.Helper()
	conf, err := os.ReadFile(harness.Path("configs", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`upstream\s+` + regexp.QuoteMeta(name) + `\s*\{[^}]*?server\s+([^\s;]+)`).FindSubmatch(conf)
	if m == nil {
		t.Fatalf("configs/nginx.conf has no upstream %s", name)
	}
	return string(m[1])
}

// TestUnitLeastPrivilege: each app may bind only its own port, talk only on
// loopback, and use bounded memory and tasks.
func TestUnitLeastPrivilege(t *testing.T) {
	for _, unit := range appUnits(t) {
		t.Run(unit.app, func(t *testing.T) {
			u := parseUnit(t, unit.path)
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

// perAppKeys are the [Service] keys that may differ between app units; every
// other key is the shared hardening and must be the same in all of them.
var perAppKeys = map[string]string{
	"ExecStart":          "its binary",
	"SocketBindAllow":    "its own port",
	"StateDirectory":     "only apps that keep state",
	"StateDirectoryMode": "only apps that keep state",
	"ProcSubset":         "api reads /proc/sys/kernel/random/boot_id, which ProcSubset=pid hides",
}

// TestUnitsShareHardening keeps the app units consistent: a setting added to
// one unit and forgotten in another fails here.
func TestUnitsShareHardening(t *testing.T) {
	units := appUnits(t)
	parsed := map[string]unitFile{}
	all := map[string]bool{}
	for _, unit := range units {
		parsed[unit.app] = parseUnit(t, unit.path)
		for k := range parsed[unit.app]["Service"] {
			all[k] = true
		}
	}
	first := units[0].app
	for k := range all {
		if _, ok := perAppKeys[k]; ok {
			continue
		}
		want := strings.Join(parsed[first]["Service"][k], "\n")
		for _, unit := range units[1:] {
			if got := strings.Join(parsed[unit.app]["Service"][k], "\n"); got != want {
				t.Errorf("[Service] %s: %s.service has %q, %s.service %q; set it the same in every app unit", k, first, want, unit.app, got)
			}
		}
	}
}
