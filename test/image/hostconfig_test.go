package image

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"bootc-testboot/test/harness"
)

// kargsFile is bootc's kargs.d format (bootc-dev/bootc
// crates/lib/src/bootc_kargs.rs: struct Config, deny_unknown_fields,
// kebab-case): kargs, a list of strings, and the optional
// match-architectures, Rust architecture names.
type kargsFile struct {
	Kargs              *[]string `toml:"kargs"`
	MatchArchitectures []string  `toml:"match-architectures"`
}

// checkKargs parses a kargs.d file as bootc does (parse_kargs_toml) and
// returns its arguments.
func checkKargs(data string) ([]string, error) {
	var k kargsFile
	md, err := toml.Decode(data, &k)
	if err != nil {
		return nil, fmt.Errorf("not TOML bootc can read: %w", err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		var keys []string
		for _, key := range u {
			keys = append(keys, key.String())
		}
		return nil, fmt.Errorf("keys bootc does not accept (deny_unknown_fields): %s", strings.Join(keys, ", "))
	}
	if k.Kargs == nil {
		return nil, fmt.Errorf("no kargs = [...] (a required key)")
	}
	for _, a := range *k.Kargs {
		// One argument per string: bootc joins them with spaces.
		if !regexp.MustCompile(`^[A-Za-z0-9_.-]+(=\S+)?$`).MatchString(a) {
			return nil, fmt.Errorf("%q is not one kernel argument", a)
		}
	}
	for _, a := range k.MatchArchitectures {
		if !regexp.MustCompile(`^(x86_64|aarch64|powerpc64|s390x|riscv64)$`).MatchString(a) {
			return nil, fmt.Errorf("match-architectures: %q is not a Rust architecture name (x86_64, aarch64, ...)", a)
		}
	}
	return *k.Kargs, nil
}

// Kernel arguments are in the image, where bootc applies them on install and
// upgrade, in the format bootc reads.
func TestImageKernelArguments(t *testing.T) {
	img := sharedImage(t)
	root := harness.MountImage(t, img.Ref)
	files, _ := filepath.Glob(filepath.Join(root, "usr/lib/bootc/kargs.d/*.toml"))
	var all []string
	for _, f := range files {
		args, err := checkKargs(harness.ReadFile(t, f))
		if err != nil {
			t.Errorf("%s: %v", strings.TrimPrefix(f, root), err)
		}
		all = append(all, args...)
	}
	found := false
	for _, a := range all {
		found = found || a == "nvme_core.io_timeout=4294967295"
	}
	if !found {
		t.Errorf("no kargs.d file in the image sets nvme_core.io_timeout=4294967295 (EBS volumes are NVMe on Nitro); kargs: %q", all)
	}
}

// The checker refuses what bootc refuses.
func TestKargsCheckerRejects(t *testing.T) {
	good := harness.ReadFile(t, harness.Path("configs", "kargs.toml"))
	if _, err := checkKargs(good); err != nil {
		t.Fatalf("configs/kargs.toml: %v", err)
	}
	for name, c := range map[string]struct{ data, want string }{
		"unknown key":     {good + "\nappend = \"quiet\"\n", "append"},
		"misspelled key":  {strings.Replace(good, "kargs =", "karg =", 1), "karg"},
		"snake case arch": {good + "\nmatch_architectures = [\"x86_64\"]\n", "match_architectures"},
		"string not list": {"kargs = \"a=1 b=2\"\n", "not TOML bootc can read"},
		"two in one":      {"kargs = [\"a=1 b=2\"]\n", "is not one kernel argument"},
		"Debian arch":     {"kargs = [\"a=1\"]\nmatch-architectures = [\"amd64\"]\n", "not a Rust architecture name"},
		"no kargs":        {"match-architectures = [\"x86_64\"]\n", "no kargs"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := checkKargs(c.data); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}

// authFileFor is where podman run as uid reads and writes registry
// credentials with this environment: $REGISTRY_AUTH_FILE (containers/common
// pkg/auth: GetDefaultAuthFile), else $XDG_RUNTIME_DIR/containers/auth.json,
// else /run/containers/<uid>/auth.json (containers/image pkg/docker/config:
// getPathToAuthWithOS).
func authFileFor(env map[string]string, uid int) string {
	if f := env["REGISTRY_AUTH_FILE"]; f != "" {
		return f
	}
	if d := env["XDG_RUNTIME_DIR"]; d != "" {
		return filepath.Join(d, "containers", "auth.json")
	}
	return fmt.Sprintf("/run/containers/%d/auth.json", uid)
}

// Root's podman and bootc read the same credentials file whatever kind of
// session root has: a login shell (sudo -i, su -, console: profile.d), a
// process with logind's XDG_RUNTIME_DIR=/run/user/0 (the user-runtime-dir@0
// drop-in's link), and sudo or a service without XDG_RUNTIME_DIR (the
// tmpfiles link).
func TestImageRootRegistryAuthIsBootcs(t *testing.T) {
	harness.Require(t, "chroot")
	img := sharedImage(t)
	root := harness.MountImage(t, img.Ref)
	const bootcAuth = "/run/ostree/auth.json"

	// Links the host makes at runtime, read from the image's own config.
	links := map[string]string{}
	for _, e := range parseTmpfiles(t, filepath.Join(root, "usr/lib/tmpfiles.d/bootc-testboot.conf")) {
		if e.kind == "L" {
			links[e.path] = tmpfilesArgument(t, filepath.Join(root, "usr/lib/tmpfiles.d/bootc-testboot.conf"), e.path)
		}
	}
	dropIn := harness.ReadFile(t, filepath.Join(root, "usr/lib/systemd/system/user-runtime-dir@0.service.d/bootc-testboot-registry-auth.conf"))
	for _, m := range regexp.MustCompile(`(?m)^ExecStartPost=\S*/ln -sfn (\S+) (\S+)$`).FindAllStringSubmatch(dropIn, -1) {
		links[m[2]] = m[1]
	}
	if !regexp.MustCompile(`(?m)^\[Service\]$`).MatchString(dropIn) {
		t.Errorf("the user-runtime-dir@0 drop-in has no [Service] section:\n%s", dropIn)
	}
	resolve := func(p string) string {
		for i := 0; i < 5; i++ {
			next, ok := links[p]
			if !ok {
				return p
			}
			p = next
		}
		return p
	}

	// What a login shell of root and of another user get from the image's
	// /etc/profile (which sources /etc/profile.d/*.sh), with the variables
	// pam_systemd and sshd set for the session.
	loginEnv := func(t *testing.T, uid int, runtimeDir string) map[string]string {
		t.Helper()
		args := []string{}
		if uid != 0 {
			args = append(args, fmt.Sprintf("--userspec=%d:%d", uid, uid))
		}
		home := "/root"
		if uid != 0 {
			home = "/"
		}
		args = append(args, root, "env", "-i", "HOME="+home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
			"SHELL=/bin/bash", "XDG_RUNTIME_DIR="+runtimeDir, "bash", "-l", "-c", "env")
		out, err := exec.Command("chroot", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("login shell in the image: %v\n%s", err, out)
		}
		env := map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				env[k] = v
			}
		}
		return env
	}

	sessions := []struct {
		name string
		env  map[string]string
	}{
		{"root login shell (ssh, sudo -i, su -)", loginEnv(t, 0, "/run/user/0")},
		{"root process with logind's runtime dir, no profile", map[string]string{"XDG_RUNTIME_DIR": "/run/user/0"}},
		{"sudo podman, services, timers", map[string]string{}},
	}
	for _, s := range sessions {
		file := authFileFor(s.env, 0)
		if got := resolve(file); got != bootcAuth {
			t.Errorf("%s: podman uses %s, which leads to %s, not bootc's %s", s.name, file, got, bootcAuth)
		}
	}
	if f := sessions[0].env["REGISTRY_AUTH_FILE"]; f != bootcAuth {
		t.Errorf("root's login shell has REGISTRY_AUTH_FILE=%q, want %s (podman login must write bootc's file, not replace a link)", f, bootcAuth)
	}
	// Other users keep their own rootless credentials.
	if f := loginEnv(t, 65534, "/run/user/65534")["REGISTRY_AUTH_FILE"]; f != "" {
		t.Errorf("a non-root login shell gets REGISTRY_AUTH_FILE=%s", f)
	}
	// The lock directory of the operations scripts: root only.
	lock := false
	for _, e := range parseTmpfiles(t, filepath.Join(root, "usr/lib/tmpfiles.d/bootc-testboot.conf")) {
		if e.path == "/run/bootc-testboot" {
			lock = e.kind == "d" && e.mode == "0700" && e.user == "root" && e.group == "root"
		}
	}
	if !lock {
		t.Error("tmpfiles has no `d /run/bootc-testboot 0700 root root -` for the operations lock")
	}
}

// tmpfilesArgument: the argument (last field) of path's line in a tmpfiles file.
func tmpfilesArgument(t *testing.T, file, path string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 7 && f[1] == path {
			return f[6]
		}
	}
	return ""
}
