package image

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

func TestImageInstallsAndEnablesEveryApp(t *testing.T) {
	img := sharedImage(t)
	root := harness.MountImage(t, img.Ref)
	for _, app := range apps(t, img.Dir) {
		bin := filepath.Join(root, "usr", "bin", app)
		info, err := os.Lstat(bin)
		if err != nil {
			t.Errorf("%s: binary /usr/bin/%s missing: %v", app, app, err)
			continue
		}
		if !info.Mode().IsRegular() || info.Mode().Perm()&0o111 != 0o111 {
			t.Errorf("%s: /usr/bin/%s is %v, want an executable regular file", app, app, info.Mode())
		}
		if harness.ReadFile(t, bin) != harness.ReadFile(t, filepath.Join(img.Dir, "output", "bin", app)) {
			t.Errorf("%s: /usr/bin/%s differs from output/bin/%s", app, app, app)
		}
		unit := filepath.Join(root, "usr", "lib", "systemd", "system", app+".service")
		if got, want := harness.ReadFile(t, unit), harness.ReadFile(t, filepath.Join(img.Dir, "apps", app, app+".service")); got != want {
			t.Errorf("%s: /usr/lib/systemd/system/%s.service differs from apps/%s/%s.service", app, app, app, app)
		}
		assertLink(t, root, "/usr/lib/systemd/system/multi-user.target.wants/"+app+".service", "../"+app+".service")
		// The shared hardening, linked relative so it resolves in any root
		// (systemd-analyze --root as well as the booted host).
		dropIn := "/usr/lib/systemd/system/" + app + ".service.d/10-bootc-testboot-app.conf"
		assertLink(t, root, dropIn, "../../../../share/bootc-testboot/app-hardening.conf")
		if harness.ReadFile(t, filepath.Join(root, dropIn)) != harness.ReadFile(t, filepath.Join(img.Dir, "configs", "app-hardening.conf")) {
			t.Errorf("%s: %s does not lead to configs/app-hardening.conf", app, dropIn)
		}
		for _, part := range []string{".upstream.conf", ".locations.conf"} {
			got := harness.ReadFile(t, filepath.Join(root, harness.NginxIncludeDir, app+part))
			if got != harness.ReadFile(t, filepath.Join(img.Dir, "apps", app, app+part)) {
				t.Errorf("%s: %s/%s%s differs from apps/%s/%s%s", app, harness.NginxIncludeDir, app, part, app, app, part)
			}
		}
	}
	// Enabled from /usr as well: they must run on hosts that upgrade to this image.
	assertLink(t, root, "/usr/lib/systemd/system/multi-user.target.wants/nginx.service", "../nginx.service")
	assertLink(t, root, "/usr/lib/systemd/system/default.target.wants/cloud-init.target", "../cloud-init.target")
	// No /etc enablement for our apps: /etc is merged, so it would not reach upgraded hosts.
	for _, app := range apps(t, img.Dir) {
		if _, err := os.Lstat(filepath.Join(root, "etc/systemd/system/multi-user.target.wants", app+".service")); err == nil {
			t.Errorf("%s is enabled in /etc; enable it in /usr/lib/systemd/system/multi-user.target.wants", app)
		}
	}
}

func TestImageConfigsInPlace(t *testing.T) {
	img := sharedImage(t)
	root := harness.MountImage(t, img.Ref)
	files := []struct {
		src, dst string
		mode     fs.FileMode
	}{
		{"configs/nginx.conf", "/etc/nginx/conf.d/bootc-testboot.conf", 0o644},
		{"configs/sshd-hardening.conf", "/etc/ssh/sshd_config.d/10-bootc-testboot-hardening.conf", 0o600},
		{"configs/sudoers-wheel", "/etc/sudoers.d/wheel-nopasswd", 0o440},
		{"configs/containers-auth.json", "/usr/lib/ostree/auth.json", 0o644},
		{"configs/tmpfiles.conf", "/usr/lib/tmpfiles.d/bootc-testboot.conf", 0o644},
		{"configs/kargs.toml", "/usr/lib/bootc/kargs.d/10-bootc-testboot.toml", 0o644},
		{"configs/cloud-init-datasource.cfg", "/etc/cloud/cloud.cfg.d/90-bootc-testboot-datasource.cfg", 0o644},
		{"configs/registry-auth.sh", "/etc/profile.d/bootc-testboot-registry-auth.sh", 0o644},
		{"configs/user-runtime-dir-root.conf", "/usr/lib/systemd/system/user-runtime-dir@0.service.d/bootc-testboot-registry-auth.conf", 0o644},
		// The boot health gate: greenboot's hooks, our switch in /etc, the trigger drop-in.
		{"scripts/health-gate.sh", "/usr/libexec/bootc-testboot/health-gate.sh", 0o755},
		{"configs/health-gate.conf", "/etc/bootc-testboot/health-gate.conf", 0o644},
		{"configs/greenboot-hook.sh", "/usr/lib/greenboot/check/required.d/50_bootc_testboot.sh", 0o755},
		{"configs/greenboot-hook.sh", "/usr/lib/greenboot/check/wanted.d/50_bootc_testboot.sh", 0o755},
		{"configs/greenboot-hook.sh", "/usr/lib/greenboot/green.d/50_bootc_testboot.sh", 0o755},
		{"configs/greenboot-set-rollback-trigger.conf", "/usr/lib/systemd/system/greenboot-set-rollback-trigger.service.d/50-bootc-testboot.conf", 0o644},
	}
	for _, f := range files {
		path := filepath.Join(root, f.dst)
		info, err := os.Stat(path)
		if err != nil {
			t.Errorf("%s not installed: %v", f.dst, err)
			continue
		}
		if info.Mode().Perm() != f.mode {
			t.Errorf("%s has mode %v, want %v", f.dst, info.Mode().Perm(), f.mode)
		}
		if harness.ReadFile(t, path) != harness.ReadFile(t, filepath.Join(img.Dir, f.src)) {
			t.Errorf("%s differs from %s", f.dst, f.src)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/nginx/sites-enabled/default")); err == nil {
		t.Error("Debian's default nginx site is still enabled; it would compete with ours on :80")
	}
	assertLink(t, root, "/etc/systemd/system/bootc-fetch-apply-updates.timer", "/dev/null")
}

func TestImageLabelsAndBuildInfo(t *testing.T) {
	img := sharedImage(t)
	labels := harness.ImageLabels(t, img.Ref)
	epoch, err := strconv.ParseInt(strings.TrimSpace(gitOut(t, "log", "-1", "--format=%ct")), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(epoch, 0).UTC().Format(time.RFC3339)
	want := map[string]string{
		"containers.bootc":                  "1",
		"org.opencontainers.image.version":  sharedVersion,
		"org.opencontainers.image.revision": strings.TrimSpace(gitOut(t, "rev-parse", "HEAD")),
		"org.opencontainers.image.created":  created,
		"org.opencontainers.image.source":   "https://github.com/bootc-testboot/bootc-testboot",
		"org.opencontainers.image.title":    "bootc-testboot",
	}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, labels[k], v)
		}
	}
	// The builder's version must not change the digest.
	if v, ok := labels["io.buildah.version"]; ok {
		t.Errorf("label io.buildah.version=%s: the digest would depend on the podman that built it", v)
	}

	root := harness.MountImage(t, img.Ref)
	raw := harness.ReadFile(t, filepath.Join(root, "usr/share/bootc-testboot/build-info.json"))
	var info map[string]string
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		t.Fatalf("build-info.json is not a JSON object of strings: %v\n%s", err, raw)
	}
	wantInfo := map[string]string{
		"version":    sharedVersion,
		"revision":   want["org.opencontainers.image.revision"],
		"created":    created,
		"source":     want["org.opencontainers.image.source"],
		"title":      "bootc-testboot",
		"base_image": harness.StandinBase(t),
	}
	for k, v := range wantInfo {
		if info[k] != v {
			t.Errorf("build-info.json %s = %q, want %q", k, info[k], v)
		}
	}
	if len(info) != len(wantInfo) {
		t.Errorf("build-info.json has keys %v, want exactly %v", harness.SortedKeys(info), harness.SortedKeys(wantInfo))
	}
	if _, err := time.Parse(time.RFC3339, info["created"]); err != nil || !strings.HasSuffix(info["created"], "Z") {
		t.Errorf("build-info.json created %q is not RFC 3339 UTC", info["created"])
	}
}

// bootc lays /var down only on the first install, so the image may carry
// nothing there that systemd-tmpfiles does not (re)create; the base's own
// /var is the base's business.
func TestImageVarIsDeclaredByTmpfiles(t *testing.T) {
	img := sharedImage(t)
	root := harness.MountImage(t, img.Ref)
	base := harness.MountImage(t, harness.StandinBase(t))

	if _, err := os.Lstat(filepath.Join(root, "usr/etc")); err == nil {
		t.Error("/usr/etc exists in the image; files for /etc go to /etc (bootc lint etc-usretc)")
	}

	declared := tmpfilesPaths(t, filepath.Join(root, "usr/lib/tmpfiles.d"))
	for _, top := range []string{"var", "run", "tmp"} {
		for _, rel := range newPaths(t, filepath.Join(root, top), filepath.Join(base, top)) {
			p := "/" + top + rel
			if top != "var" {
				t.Errorf("%s: the image adds content under /%s, which a booted host never sees", p, top)
				continue
			}
			if !covered(p, declared) {
				t.Errorf("%s: in the image but declared by no /usr/lib/tmpfiles.d entry", p)
			}
		}
	}

	// What the packages created is declared (with their owner and mode) and removed.
	generated := filepath.Join(root, "usr/lib/tmpfiles.d/bootc-testboot-packages.conf")
	entries := parseTmpfiles(t, generated)
	byPath := map[string]tmpfilesEntry{}
	for _, e := range entries {
		byPath[e.path] = e
		if _, err := os.Lstat(filepath.Join(root, e.path)); err == nil {
			t.Errorf("%s is declared in %s but still in the image", e.path, filepath.Base(generated))
		}
	}
	for _, dir := range []string{"/var/lib/nginx", "/var/log/nginx"} {
		e, ok := byPath[dir]
		if !ok {
			t.Errorf("%s (from the nginx package) is not declared in %s", dir, filepath.Base(generated))
			continue
		}
		info, err := os.Stat(filepath.Join(base, dir))
		if err != nil {
			t.Fatalf("the base has no %s: %v", dir, err)
		}
		if want := "0" + strconv.FormatUint(uint64(info.Mode().Perm()), 8); e.mode != want || e.kind != "d" {
			t.Errorf("%s declared as %q mode %s, want d with the package's mode %s", dir, e.kind, e.mode, want)
		}
	}
}

var secretPatterns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"PEM private key", regexp.MustCompile(`-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----`)},
	{"GitHub token", regexp.MustCompile(`\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{22,}`)},
	{"AWS access key ID", regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`)},
	{"AWS secret access key", regexp.MustCompile(`(?i)aws_secret_access_key\s*[=:]\s*\S{20,}`)},
	{"registry auth token", regexp.MustCompile(`"(auth|identitytoken|registrytoken)"\s*:\s*"[^"]+"`)},
}

// secretsIn scans the files of root that differ from base for credentials.
func secretsIn(t *testing.T, root, base string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if old, err := os.ReadFile(filepath.Join(base, rel)); err == nil && bytes.Equal(old, data) {
			return nil
		}
		for _, p := range secretPatterns {
			if p.re.Match(data) {
				found = append(found, "/"+rel+": "+p.name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestImageHasNoSecrets(t *testing.T) {
	img := sharedImage(t)
	root := harness.MountImage(t, img.Ref)
	base := harness.MountImage(t, harness.StandinBase(t))
	for _, f := range secretsIn(t, root, base) {
		t.Errorf("credential in the image: %s", f)
	}
	// Host keys anywhere (base included) would be shared by every instance.
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*_key"))
	for _, k := range keys {
		t.Errorf("SSH host private key in the image: /%s (hosts must generate their own)", strings.TrimPrefix(k, root+"/"))
	}

	// The scanner itself finds what it looks for.
	planted := t.TempDir()
	writeFile(t, filepath.Join(planted, "key.pem"), "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n")
	writeFile(t, filepath.Join(planted, "env"), "GITHUB_TOKEN=ghp_"+strings.Repeat("a1B2", 9)+"\nAWS_ACCESS_KEY_ID=AKIA"+strings.Repeat("Q", 16)+"\n")
	writeFile(t, filepath.Join(planted, "auth.json"), `{"auths":{"ghcr.io":{"auth":"dXNlcjpwYXNz"}}}`)
	got := strings.Join(secretsIn(t, planted, t.TempDir()), "\n")
	for _, want := range []string{"/key.pem: PEM private key", "/env: GitHub token", "/env: AWS access key ID", "/auth.json: registry auth token"} {
		if !strings.Contains(got, want) {
			t.Errorf("secret scanner missed %q; found:\n%s", want, got)
		}
	}
}

// --- helpers --------------------------------------------------------------------

func assertLink(t *testing.T, root, path, want string) {
	t.Helper()
	got, err := os.Readlink(filepath.Join(root, path))
	if err != nil {
		t.Errorf("%s: want a symlink to %s: %v", path, want, err)
		return
	}
	if got != want {
		t.Errorf("%s -> %s, want -> %s", path, got, want)
	}
}

func gitOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := execOut("git", append([]string{"-C", harness.Root()}, args...)...)
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return out
}

// newPaths lists paths (relative, with a leading "/") under dir that base lacks.
func newPaths(t *testing.T, dir, base string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == dir {
				return fs.SkipAll
			}
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "." {
			return nil
		}
		if _, err := os.Lstat(filepath.Join(base, rel)); err != nil {
			out = append(out, "/"+rel)
			if d.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type tmpfilesEntry struct{ kind, path, mode, user, group string }

func parseTmpfiles(t *testing.T, file string) []tmpfilesEntry {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []tmpfilesEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		for len(fields) < 5 {
			fields = append(fields, "-")
		}
		entries = append(entries, tmpfilesEntry{strings.TrimRight(fields[0], "!+-=~^"), fields[1], fields[2], fields[3], fields[4]})
	}
	return entries
}

// tmpfilesPaths returns every path declared in a tmpfiles.d directory.
func tmpfilesPaths(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	var paths []string
	for _, f := range files {
		for _, e := range parseTmpfiles(t, f) {
			paths = append(paths, e.path)
		}
	}
	return paths
}

// covered: p is declared, or is a parent directory tmpfiles creates for a declared path.
func covered(p string, declared []string) bool {
	for _, d := range declared {
		if d == p || strings.HasPrefix(d, p+"/") {
			return true
		}
	}
	return false
}
