// Package run tests `make run`, `make run-shell`, `make run-upgrade` and
// `make run-stop` (scripts/run-local.sh) for real: images built on the Debian
// stand-in are booted under systemd-nspawn, reached through the printed URL,
// upgraded with /var kept, and stopped with nothing left behind. The error
// cases each give their one-line message and change nothing.
package run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

type result struct {
	code           int
	stdout, stderr string
}

// runEnv is the test's environment without make's own variables and without
// the variables the run targets read, plus extra.
func runEnv(extra ...string) []string {
	drop := map[string]bool{"MAKEFLAGS": true, "MAKELEVEL": true, "MFLAGS": true, "MAKEOVERRIDES": true,
		"RUN_PORT": true, "RUN_MODE": true, "RUN_CMD": true, "RESET": true, "OUTPUT": true, "IMAGE": true,
		"VERSION": true, "REGISTRY": true, "IMAGE_NAME": true}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[name] {
			env = append(env, kv)
		}
	}
	return append(append(env, "TESTBOOT_NO_JOURNAL=1"), extra...)
}

// makeIn runs make TARGET ARGS... in the repository with env, bounded in time.
func makeIn(t *testing.T, env []string, prefix []string, args ...string) result {
	t.Helper()
	return makeInDir(t, harness.Root(), env, prefix, args...)
}

// makeInDir runs make in the repository at dir (a copy, for an unprivileged user).
func makeInDir(t *testing.T, dir string, env []string, prefix []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	argv := append(append([]string{}, prefix...), append([]string{"make", "-s", "--no-print-directory", "-C", dir}, args...)...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin = nil
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("make %q: timed out\n%s", args, r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	t.Logf("make %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// snapshot lists every path under dir with its size and mode ("" when dir does
// not exist), to show that a refused command changed nothing.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %v %d %d", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// leftovers: mounts and processes that mention dir, and podman mounts of the images.
func leftovers(t *testing.T, dir string, imageIDs ...string) []string {
	t.Helper()
	var found []string
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(mi), "\n") {
			if strings.Contains(l, dir) {
				found = append(found, "mount: "+l)
			}
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || e.Name() == fmt.Sprint(os.Getpid()) {
			continue
		}
		if c := strings.ReplaceAll(string(cmdline), "\x00", " "); strings.Contains(c, dir) {
			found = append(found, "process "+e.Name()+": "+c)
		}
	}
	if out, err := exec.Command("podman", "image", "mount").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			for _, id := range imageIDs {
				if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), f[0]) {
					found = append(found, "podman image mount: "+l)
				}
			}
		}
	}
	return found
}

type hello struct {
	Message string `json:"message"`
	Visits  int    `json:"visits"`
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %q is not the JSON expected: %v", url, body, err)
	}
}

var urlRe = regexp.MustCompile(`http://127\.0\.0\.1:([0-9]+)/`)

// wantRefused: a refused command exits non-zero with msg on stderr, prints
// nothing on stdout, and leaves dir as it was.
func wantRefused(t *testing.T, what string, r result, msg string, dir, before string) {
	t.Helper()
	if r.code == 0 || !strings.Contains(r.stderr, msg) {
		t.Errorf("%s: exit %d, want an error saying %q\n%s", what, r.code, msg, r.stderr)
	}
	if n := strings.Count(strings.TrimSpace(grepErrors(r.stderr)), "\n"); n > 0 {
		t.Errorf("%s: want a one-line error, got\n%s", what, r.stderr)
	}
	if strings.TrimSpace(r.stdout) != "" {
		t.Errorf("%s: printed %q on stdout", what, r.stdout)
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("%s changed %s:\nbefore:\n%s\nafter:\n%s", what, dir, before, after)
	}
}

// grepErrors: the script's lines of stderr (make adds its own "***" line).
func grepErrors(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.HasPrefix(l, "make: ***") && !strings.HasPrefix(l, "make[") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// pathWithout is a PATH on which every program of the system's bin directories
// is found except the named ones.
func pathWithout(t *testing.T, missing ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{}
	for _, m := range missing {
		skip[m] = true
	}
	for _, d := range []string{"/usr/local/go/bin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if skip[e.Name()] {
				continue
			}
			_ = os.Symlink(filepath.Join(d, e.Name()), filepath.Join(bin, e.Name())) // first directory wins
		}
	}
	return bin
}

func TestMakeRun(t *testing.T) {
	harness.RequireImageTools(t)
	harness.Require(t, "systemd-nspawn", "nsenter", "systemd-socket-activate", "curl", "ss", "setpriv")

	v1 := harness.BuildImage(t, harness.BuildOptions{})
	out := t.TempDir()
	dir := filepath.Join(out, "run")
	env := runEnv()
	vars := func(img harness.Image, port int, more ...string) []string {
		return append([]string{"IMAGE=" + harness.TestImageRepo, "VERSION=" + img.Version, "OUTPUT=" + out,
			fmt.Sprintf("RUN_PORT=%d", port)}, more...)
	}
	// Whatever fails below, no guest outlives the test (this runs before the
	// images are removed).
	t.Cleanup(func() {
		makeIn(t, env, nil, "run-stop", "OUTPUT="+out)
		if l := leftovers(t, dir); len(l) > 0 {
			t.Errorf("left behind after the test:\n%s", strings.Join(l, "\n"))
		}
	})

	// --- Refused before anything changes --------------------------------------------
	port := freePort(t)
	before := snapshot(t, dir)
	r := makeIn(t, env, nil, append([]string{"run"}, append(vars(v1, port), "VERSION=not-built-here")...)...)
	wantRefused(t, "make run of an image not built", r, "is not built: run 'make build'", dir, before)

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	r = makeIn(t, env, nil, append([]string{"run"}, vars(v1, port)...)...)
	ln.Close()
	wantRefused(t, "make run on a port in use", r, fmt.Sprintf("port %d on 127.0.0.1 is in use", port), dir, before)

	// The user must be able to read the Makefile and scripts wherever the repository
	// lives (a checkout under a 0700 directory is common): a world-readable copy.
	readable, err := os.MkdirTemp("", "run-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(readable) })
	if err := harness.CopyRepo(readable); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(readable, 0o755); err != nil {
		t.Fatal(err)
	}
	r = makeInDir(t, readable, env, []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, append([]string{"run"}, vars(v1, port)...)...)
	wantRefused(t, "make run as a user", r, "must run as root", dir, before)

	r = makeIn(t, runEnv("PATH="+pathWithout(t, "systemd-nspawn")), nil, append([]string{"run"}, vars(v1, port)...)...)
	wantRefused(t, "make run without systemd-nspawn", r, "'systemd-nspawn' is not installed", dir, before)

	r = makeIn(t, env, nil, append([]string{"run"}, vars(v1, port, "RESET=yes")...)...)
	wantRefused(t, "make run RESET=yes", r, "RESET must be 1", dir, before)
	r = makeIn(t, env, nil, append([]string{"run"}, vars(v1, port, "RUN_PORT=http")...)...)
	wantRefused(t, "make run RUN_PORT=http", r, "is not a port number", dir, before)

	r = makeIn(t, env, nil, append([]string{"run"}, vars(v1, port, "RUN_MODE=vm")...)...)
	if _, err := exec.LookPath("bcvk"); err != nil {
		wantRefused(t, "make run RUN_MODE=vm without bcvk", r, "the VM path needs bcvk", dir, before)
	}

	r = makeIn(t, env, nil, "run-shell", "OUTPUT="+out, "RUN_CMD=true")
	wantRefused(t, "make run-shell with nothing running", r, "no local run is going", dir, before)
	if l := leftovers(t, dir); len(l) > 0 {
		t.Fatalf("refused commands left behind:\n%s", strings.Join(l, "\n"))
	}

	// --- Boot -----------------------------------------------------------------------
	start := time.Now()
	r = makeIn(t, env, nil, append([]string{"run"}, vars(v1, port)...)...)
	if r.code != 0 {
		t.Fatalf("make run: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("make run returned in %s", time.Since(start).Round(100*time.Millisecond))
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	m := urlRe.FindStringSubmatch(r.stdout)
	if len(lines) != 1 || m == nil || m[1] != fmt.Sprint(port) {
		t.Fatalf("make run printed %q, want one line with http://127.0.0.1:%d/", r.stdout, port)
	}
	for _, want := range []string{"nspawn", "make run-shell", "make run-stop", v1.Ref} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the summary line does not say %q: %s", want, r.stdout)
		}
	}
	url := m[0]
	var h hello
	getJSON(t, url, &h)
	getJSON(t, url, &h)
	if h.Message == "" || h.Visits != 2 {
		t.Fatalf("GET / twice through nginx: %+v, want a greeting and visits 2 (a fresh /var)", h)
	}

	// A second run on the same state directory is refused; the first one keeps running.
	before = snapshot(t, dir)
	r = makeIn(t, env, nil, append([]string{"run"}, vars(v1, freePort(t))...)...)
	wantRefused(t, "a second make run", r, "a local run is already going", dir, before)

	// --- Shell ------------------------------------------------------------------------
	r = makeIn(t, env, nil, "run-shell", "OUTPUT="+out,
		"RUN_CMD=echo host=$(hostname); echo state=$(systemctl is-system-running); touch /usr/probe 2>/dev/null || echo usr=ro; touch /var/probe && echo var=rw; curl -s http://127.0.0.1/health >/dev/null && echo nginx=ok")
	if r.code != 0 {
		t.Fatalf("make run-shell: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"host=bootc-testboot", "state=running", "usr=ro", "var=rw", "nginx=ok"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("make run-shell output %q lacks %q", r.stdout, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "var", "probe")); err != nil {
		t.Errorf("/var written in the guest is not the state directory's var/: %v", err)
	}
	if r = makeIn(t, env, nil, "run-shell", "OUTPUT="+out, "RUN_CMD=exit 7"); r.code == 0 {
		t.Errorf("make run-shell RUN_CMD='exit 7' succeeded; the command's failure must reach make")
	}

	// --- Upgrade: a new image, the same /var ---------------------------------------------
	v2 := harness.BuildImage(t, harness.BuildOptions{})
	if v2.ID == v1.ID {
		t.Fatalf("v2 has v1's image ID %s", v1.ID)
	}
	r = makeIn(t, env, nil, append([]string{"run-upgrade"}, vars(v2, port)...)...)
	if r.code != 0 {
		t.Fatalf("make run-upgrade: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "upgraded") || !strings.Contains(r.stdout, url) {
		t.Errorf("make run-upgrade printed %q, want the upgrade and the URL", r.stdout)
	}
	getJSON(t, url, &h)
	if h.Visits != 3 {
		t.Errorf("after the upgrade GET / counted visit %d, want 3: /var did not survive", h.Visits)
	}
	var info struct {
		Version string `json:"version"`
	}
	getJSON(t, url+"api/info", &info)
	if info.Version != v2.Version {
		t.Errorf("after the upgrade /api/info says version %q, want %q", info.Version, v2.Version)
	}
	// The same image again: nothing to do, the guest keeps running.
	r = makeIn(t, env, nil, append([]string{"run-upgrade"}, vars(v2, port)...)...)
	if r.code != 0 || !strings.Contains(r.stderr, "nothing to upgrade") {
		t.Errorf("make run-upgrade to the running image: exit %d, want a no-op\n%s", r.code, r.stderr)
	}

	// --- Stop -----------------------------------------------------------------------------
	r = makeIn(t, env, nil, "run-stop", "OUTPUT="+out)
	if r.code != 0 || !strings.Contains(r.stdout, "clean power-off") {
		t.Fatalf("make run-stop: exit %d, want a clean power-off\n%s%s", r.code, r.stdout, r.stderr)
	}
	if l := leftovers(t, dir, v1.ID, v2.ID); len(l) > 0 {
		t.Errorf("make run-stop left behind:\n%s", strings.Join(l, "\n"))
	}
	if _, err := os.Stat(filepath.Join(dir, "runtime")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the runtime directory is still there after make run-stop (%v)", err)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		c.Close()
		t.Errorf("127.0.0.1:%d still accepts connections after make run-stop", port)
	}
	if _, err := os.Stat(filepath.Join(dir, "var", "probe")); err != nil {
		t.Errorf("/var did not persist after make run-stop: %v", err)
	}
	r = makeIn(t, env, nil, "run-stop", "OUTPUT="+out)
	if r.code != 0 || !strings.Contains(r.stderr, "nothing to stop") {
		t.Errorf("make run-stop with nothing running: exit %d, want a no-op\n%s", r.code, r.stderr)
	}
}
