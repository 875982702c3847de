// Package verify tests scripts/verify-instance.sh against recorded doubles of
// bootc and systemctl and a real local HTTP server standing in for nginx.
package verify

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

const (
	bootedDigest = "sha256:736b359467c9437c1ac915acaae952aad854e07eb4a16a94999a48af08c83c34"
	otherDigest  = "sha256:16dc2b6256b4ff0d2ec18d2dbfb06d117904010c8cf9732cdb022818cf7a7566"
)

// host is one simulated instance: doubles' scenario, the image's unit files,
// the ostree marker and the HTTP endpoints behind "nginx".
type host struct {
	t        *testing.T
	d        *harness.Doubles
	dir      string
	state    string // $DOUBLES_STATE
	unitDir  string
	marker   string // stands in for /run/ostree-booted
	url      string
	apiInfo  string
	apiCode  int
	hideBoot bool // PATH without bootc
	roUsr    bool // run with /usr mounted read-only, as on a bootc host
}

func newHost(t *testing.T) *host {
	t.Helper()
	harness.Require(t, "jq", "curl", "bash", "timeout", "findmnt", "df")
	d := harness.NewDoubles(t) // bootc and id answer as for root
	dir := t.TempDir()
	h := &host{
		t: t, d: d, dir: dir,
		state:   d.State,
		unitDir: filepath.Join(dir, "units"),
		marker:  filepath.Join(dir, "ostree-booted"),
		apiInfo: `{"version":"v1","revision":"0123abc","created":"2026-11-25T10:00:00Z","source":"https://example.test/repo","title":"bootc-testboot"}`,
		apiCode: http.StatusOK,
	}
	h.write("ostree-booted", "")
	h.unit("hello.service", "/health")
	h.unit("api.service", "/api/health")
	// A unit without the key is not an app and must not be checked as one.
	h.write("units/nginx.service", "[Unit]\nDescription=nginx\n")

	// A schema-valid status document assembled from upstream bootc's fixtures:
	// booted, staged (download-only) and rollback deployments.
	sample, err := os.ReadFile(filepath.Join("testdata", "bootc-status-sample.v1.json"))
	if err != nil {
		t.Fatalf("bootc status sample: %v", err)
	}
	d.Set(t, "bootc/status.json", string(sample))
	d.Set(t, "systemctl/system-state", "running\n")
	for _, u := range []string{"hello.service", "api.service", "nginx.service", "ssh.service",
		"ostree-finalize-staged.service", "ostree-boot-complete.service"} {
		h.setUnit(u, "active")
	}
	h.setUnit("ostree-finalize-staged.service", "inactive")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/", "/health", "/api/health":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"ok"}`))
		case "/api/info":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(h.apiCode)
			_, _ = w.Write([]byte(h.apiInfo))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *host) write(rel, content string) {
	h.t.Helper()
	p := filepath.Join(h.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) unit(name, healthPath string) {
	h.write("units/"+name, "[Unit]\nDescription="+name+"\nX-Testboot-HealthPath="+healthPath+"\n\n[Service]\nExecStart=/usr/bin/true\n")
}

func (h *host) setUnit(name, state string) { h.d.Set(h.t, "systemctl/units/"+name, state+"\n") }

// result of one run of the script.
type result struct {
	stdout, stderr string
	code           int
	calls          []harness.Call
}

// run executes verify-instance.sh with the doubles first on PATH.
func (h *host) run(args ...string) result {
	h.t.Helper()
	full := append([]string{"--url", h.url, "--unit-dir", h.unitDir, "--min-free-mb", "1", "--min-free-percent", "0"}, args...)
	c := harness.Cmd{
		Script: harness.Path("scripts", "verify-instance.sh"),
		Args:   full,
		Env:    []string{"TESTBOOT_OSTREE_BOOTED=" + h.marker, "TESTBOOT_NO_JOURNAL=1"},
	}
	if h.hideBoot {
		// PATH with systemctl's double but no bootc at all: wrappers, not symlinks,
		// because a double finds its library next to its real path.
		binDir := filepath.Join(h.dir, "bin-no-bootc")
		if err := os.MkdirAll(binDir, 0o755); err != nil {
			h.t.Fatal(err)
		}
		wrapper := "#!/bin/sh\nexec '" + filepath.Join(harness.DoublesBin(), "systemctl") + "' \"$@\"\n"
		if err := os.WriteFile(filepath.Join(binDir, "systemctl"), []byte(wrapper), 0o755); err != nil {
			h.t.Fatal(err)
		}
		c.Env = append(c.Env, "PATH="+binDir+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if h.roUsr {
		// A real read-only /usr in a private mount namespace, as bootc gives.
		harness.RequireRoot(h.t)
		c.Args = append([]string{"--mount", "--propagation", "private", "bash", "-c",
			`mount --bind /usr /usr && mount -o remount,bind,ro /usr && exec "$@"`, "ro-usr", c.Script}, c.Args...)
		c.Script = "/usr/bin/unshare"
	}
	r := h.d.RunCmd(h.t, c)
	res := result{stdout: r.Stdout, stderr: r.Stderr, code: r.ExitCode, calls: r.Calls}
	assertReadOnly(h.t, res.calls)
	return res
}

// assertReadOnly fails the test when the script asked bootc or systemd to change anything.
func assertReadOnly(t *testing.T, calls []harness.Call) {
	t.Helper()
	if m := harness.Mutations(calls); len(m) > 0 {
		t.Errorf("mutating calls:\n%s", harness.FormatCalls(m))
	}
	// Stricter than "not mutating": only these queries at all.
	readVerbs := map[string][]string{
		"bootc":     {"status"},
		"systemctl": {"is-system-running", "is-active", "is-failed", "list-units", "show", "status"},
	}
	for _, c := range calls {
		if c.Tool == "id" {
			continue // bootc asks who runs it
		}
		verb := ""
		for _, a := range c.Args {
			if !strings.HasPrefix(a, "-") {
				verb = a
				break
			}
		}
		if !slices.Contains(readVerbs[c.Tool], verb) {
			t.Errorf("unexpected call: %s", c)
		}
	}
}

// lines parses "STATUS  name  detail" lines into name -> [status, detail].
func (r result) lines(t *testing.T) map[string][2]string {
	t.Helper()
	m := map[string][2]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if strings.HasPrefix(l, "summary: ") {
			continue
		}
		parts := strings.SplitN(l, "  ", 3)
		if len(parts) != 3 || !slices.Contains([]string{"PASS", "FAIL", "SKIP"}, parts[0]) {
			t.Fatalf("malformed check line %q in:\n%s", l, r.stdout)
		}
		if _, dup := m[parts[1]]; dup {
			t.Fatalf("check %q reported twice", parts[1])
		}
		m[parts[1]] = [2]string{parts[0], parts[2]}
	}
	return m
}

func (r result) want(t *testing.T, name, status, detailPart string) {
	t.Helper()
	got, ok := r.lines(t)[name]
	if !ok {
		t.Fatalf("no check %q in output:\n%s", name, r.stdout)
	}
	if got[0] != status || !strings.Contains(got[1], detailPart) {
		t.Fatalf("check %q = %s %q, want %s containing %q\noutput:\n%s", name, got[0], got[1], status, detailPart, r.stdout)
	}
}

func (r result) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

func TestAllChecksPassOnHealthyBootcHost(t *testing.T) {
	h := newHost(t)
	h.roUsr = true
	// The image version is both bootc's version label and /api/info's version.
	h.apiInfo = strings.Replace(h.apiInfo, `"v1"`, `"nightly"`, 1)
	// The image requires signatures for the repository the host follows, and bootc
	// enforces them (spec.image.signature).
	root := t.TempDir()
	h.d.Env = append(h.d.Env, "TESTBOOT_ROOT="+root)
	for rel, content := range map[string]string{
		"usr/share/bootc-testboot/signing.json": `{"repository":"quay.io/example/someimage","keys":["/etc/pki/containers/bootc-testboot/cosign.pub"]}`,
		"etc/containers/policy.json":            `{"default":[{"type":"reject"}],"transports":{"docker":{"quay.io/example/someimage":[{"type":"sigstoreSigned","keyPaths":["/etc/pki/containers/bootc-testboot/cosign.pub"],"signedIdentity":{"type":"matchRepository"}}]}}}`,
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(h.d.Read(t, "bootc/status.json")), &doc); err != nil {
		t.Fatal(err)
	}
	doc["spec"].(map[string]any)["image"].(map[string]any)["signature"] = "containerPolicy"
	h.d.SetJSON(t, "bootc/status.json", doc)
	r := h.run("--expect-digest", bootedDigest, "--expect-version", "nightly")
	r.wantCode(t, 0)
	for name, got := range r.lines(t) {
		if got[0] != "PASS" {
			t.Errorf("check %s = %s %s, want PASS", name, got[0], got[1])
		}
	}
	for _, name := range []string{"bootc-booted", "bootc-digest", "bootc-version",
		"unit:ostree-boot-complete.service", "bootc-sigpolicy", "system-state",
		"unit:hello.service", "health:hello.service", "unit:api.service", "health:api.service",
		"unit:nginx.service", "unit:sshd", "http:/", "http:/api/info",
		"usr-read-only", "var-writable", "free-space:/", "free-space:/var"} {
		r.want(t, name, "PASS", "")
	}
	r.want(t, "bootc-booted", "PASS", bootedDigest)
	r.want(t, "unit:sshd", "PASS", "ssh.service")
	if !strings.Contains(r.stdout, "summary: 18 passed, 0 failed, 0 skipped") {
		t.Errorf("summary missing or wrong:\n%s", r.stdout)
	}
	// The units without X-Testboot-HealthPath are not apps.
	if _, ok := r.lines(t)["health:nginx.service"]; ok {
		t.Error("nginx.service treated as an app")
	}
}

func TestNewAppIsDiscoveredWithoutEditingTheScript(t *testing.T) {
	h := newHost(t)
	h.unit("extra.service", "/extra/health")
	h.setUnit("extra.service", "active")
	r := h.run()
	r.want(t, "unit:extra.service", "PASS", "active")
	r.want(t, "health:extra.service", "FAIL", "HTTP 404")
	r.wantCode(t, 1)
}

func TestFedoraSshdUnitName(t *testing.T) {
	h := newHost(t)
	if err := os.Remove(filepath.Join(h.state, "systemctl", "units", "ssh.service")); err != nil {
		t.Fatal(err)
	}
	h.setUnit("sshd.service", "active")
	h.run().want(t, "unit:sshd", "PASS", "sshd.service active")

	h.setUnit("sshd.service", "inactive")
	r := h.run()
	r.want(t, "unit:sshd", "FAIL", "sshd.service: inactive ssh.service: inactive")
	r.wantCode(t, 1)
}

func TestFailingAppUnitIsNamed(t *testing.T) {
	h := newHost(t)
	h.setUnit("api.service", "failed")
	h.d.Set(t, "systemctl/units/api.service.Result", "exit-code\n")
	h.d.Set(t, "systemctl/system-state", "degraded\n")
	r := h.run()
	r.wantCode(t, 1)
	r.want(t, "unit:api.service", "FAIL", "failed/failed, result exit-code")
	r.want(t, "unit:api.service", "FAIL", "journalctl -u api.service")
	r.want(t, "unit:hello.service", "PASS", "active")
	r.want(t, "system-state", "FAIL", "degraded; failed units: api.service")
}

func TestDegradedNamesEveryFailedUnit(t *testing.T) {
	h := newHost(t)
	h.d.Set(h.t, "systemctl/system-state", "degraded\n")
	h.setUnit("foo.service", "failed")
	h.setUnit("bar.mount", "failed")
	r := h.run()
	r.wantCode(t, 1)
	r.want(t, "system-state", "FAIL", "degraded; failed units: bar.mount foo.service")

	h.d.Set(h.t, "systemctl/system-state", "starting\n")
	for _, u := range []string{"foo.service", "bar.mount"} {
		h.setUnit(u, "active")
	}
	h.run().want(t, "system-state", "FAIL", "starting (expected running)")
}

func TestNonBootcHostSkipsBootcChecks(t *testing.T) {
	bootcChecks := []string{"bootc-booted", "bootc-digest", "bootc-version",
		"unit:ostree-boot-complete.service", "usr-read-only", "var-writable"}
	cases := []struct {
		name   string
		setup  func(h *host)
		reason string
	}{
		{"no bootc binary", func(h *host) { h.hideBoot = true }, "bootc is not installed"},
		{"no /run/ostree-booted", func(h *host) { _ = os.Remove(h.marker) }, "is absent: not booted by ostree"},
		{"status.booted is null", func(h *host) {
			h.d.Set(h.t, "bootc/status.json", `{"apiVersion":"org.containers.bootc/v1","kind":"BootcHost","metadata":{"name":"host"},"spec":{"bootOrder":"default","image":null},"status":{"booted":null,"readOnly":false,"rollback":null,"rollbackQueued":false,"staged":null,"type":null,"usrOverlay":null}}`)
		}, "status.booted is null"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			tc.setup(h)
			r := h.run("--expect-digest", otherDigest)
			r.wantCode(t, 0)
			for _, name := range bootcChecks {
				r.want(t, name, "SKIP", "")
			}
			r.want(t, "bootc-booted", "SKIP", tc.reason)
			r.want(t, "unit:hello.service", "PASS", "active")
			if strings.Contains(r.stdout, "PASS  bootc") {
				t.Errorf("a bootc check passed on a non-bootc host:\n%s", r.stdout)
			}
		})
	}
}

func TestLayoutChecksForcedOnNonBootcHost(t *testing.T) {
	h := newHost(t)
	h.hideBoot = true
	r := h.run("--layout-checks")
	// /usr of the test machine is writable: the forced check must see it.
	r.want(t, "usr-read-only", "FAIL", "/usr is writable")
	r.want(t, "bootc-booted", "SKIP", "bootc is not installed")
	r.wantCode(t, 1)

	h.roUsr = true
	r = h.run("--layout-checks")
	r.want(t, "usr-read-only", "PASS", "read-only")
	r.want(t, "var-writable", "PASS", "writable")
	r.wantCode(t, 0)
}

func TestMalformedStatusJSONFails(t *testing.T) {
	for name, doc := range map[string]string{
		"truncated":        `{"apiVersion":"org.containers.bootc/v1","status":{"booted":`,
		"not json":         "Error: something went wrong\n",
		"no status object": `{"apiVersion":"org.containers.bootc/v1","kind":"BootcHost"}`,
	} {
		t.Run(name, func(t *testing.T) {
			h := newHost(t)
			h.d.Set(h.t, "bootc/status.json", doc)
			r := h.run()
			r.wantCode(t, 1)
			r.want(t, "bootc-booted", "FAIL", "malformed JSON")
			r.want(t, "bootc-digest", "SKIP", "malformed")
		})
	}
}

func TestDigestAndVersionMismatch(t *testing.T) {
	h := newHost(t)
	r := h.run("--expect-digest", otherDigest, "--expect-version", "v2")
	r.wantCode(t, 1)
	r.want(t, "bootc-digest", "FAIL", "booted digest "+bootedDigest+" is not the expected "+otherDigest)
	r.want(t, "bootc-version", "FAIL", "booted version 'nightly' is not the expected 'v2'")
	r.want(t, "http:/api/info", "FAIL", "reports version 'v1', expected 'v2'")
	r.want(t, "bootc-booted", "PASS", bootedDigest)

	// Without expectations the comparisons are skipped, not passed.
	h.roUsr = true
	r = h.run()
	r.wantCode(t, 0)
	r.want(t, "bootc-digest", "SKIP", "no --expect-digest given")
	r.want(t, "bootc-version", "SKIP", "no --expect-version given")
}

func TestFailedFinalizationIsSeenInTheNextBoot(t *testing.T) {
	h := newHost(t)
	// ostree-finalize-staged.service fails in the previous boot's shutdown; this boot
	// shows it as a failed ostree-boot-complete.service (bootc boot-failure-detection.md).
	h.setUnit("ostree-boot-complete.service", "failed")
	r := h.run()
	r.wantCode(t, 1)
	r.want(t, "unit:ostree-boot-complete.service", "FAIL", "journalctl -b -1 -u ostree-finalize-staged.service")
	if strings.Contains(r.stdout, "unit:ostree-finalize-staged.service") {
		t.Errorf("a check of ostree-finalize-staged.service in this boot cannot fail; it must not be reported:\n%s", r.stdout)
	}
}

func TestBootcTracingOnStderrIsNotJSON(t *testing.T) {
	h := newHost(t)
	h.d.Set(t, "bootc/stderr-noise", "DEBUG bootc_lib::status: reading deployments\n")
	r := h.run()
	r.want(t, "bootc-booted", "PASS", "booted")
}

func TestBadAPIInfo(t *testing.T) {
	cases := []struct {
		name, body string
		code       int
		detail     string
	}{
		{"not json", "<html>502 Bad Gateway</html>", 200, "not a JSON object"},
		{"missing fields", `{"version":"v1"}`, 200, "missing or empty fields: revision created"},
		{"empty version", `{"version":"","revision":"x","created":"y"}`, 200, "missing or empty fields: version"},
		{"http error", `{"error":"boom"}`, 502, "HTTP 502"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			h.apiInfo, h.apiCode = tc.body, tc.code
			r := h.run()
			r.wantCode(t, 1)
			r.want(t, "http:/api/info", "FAIL", tc.detail)
		})
	}
}

func TestNginxDown(t *testing.T) {
	h := newHost(t)
	h.url = "http://127.0.0.1:1"
	h.setUnit("nginx.service", "failed")
	r := h.run("--timeout", "2")
	r.wantCode(t, 1)
	r.want(t, "unit:nginx.service", "FAIL", "failed")
	r.want(t, "http:/", "FAIL", "connection failed")
	r.want(t, "health:hello.service", "FAIL", "connection failed")
}

func TestFreeSpaceThreshold(t *testing.T) {
	h := newHost(t)
	r := h.run("--min-free-mb", "999999999")
	r.wantCode(t, 1)
	r.want(t, "free-space:/", "FAIL", "below 999999999 MiB")
	r.want(t, "free-space:/var", "FAIL", "below 999999999 MiB")
}

func TestNoAppsIsAFailure(t *testing.T) {
	h := newHost(t)
	for _, u := range []string{"hello.service", "api.service"} {
		if err := os.Remove(filepath.Join(h.unitDir, u)); err != nil {
			t.Fatal(err)
		}
	}
	r := h.run()
	r.wantCode(t, 1)
	r.want(t, "apps", "FAIL", "declares X-Testboot-HealthPath")
}

func TestJSONDocument(t *testing.T) {
	h := newHost(t)
	h.setUnit("hello.service", "failed")
	h.d.Set(h.t, "systemctl/system-state", "degraded\n")
	r := h.run("--json", "--expect-digest", bootedDigest)
	r.wantCode(t, 1)
	var doc struct {
		OK     bool `json:"ok"`
		Checks []struct {
			Name, Status, Detail string
		} `json:"checks"`
		Summary struct{ Passed, Failed, Skipped int } `json:"summary"`
		Facts   struct {
			BootcHost bool `json:"bootc_host"`
			Booted    *struct {
				Image, Digest, Version string
			} `json:"booted"`
			SystemState string   `json:"system_state"`
			FailedUnits []string `json:"failed_units"`
			Apps        []struct {
				Unit       string `json:"unit"`
				HealthPath string `json:"health_path"`
			} `json:"apps"`
			APIInfo map[string]any `json:"api_info"`
			URL     string         `json:"url"`
		} `json:"facts"`
	}
	// Unmarshal rejects anything after the first document.
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("--json output is not one JSON document: %v\n%s", err, r.stdout)
	}
	if doc.OK {
		t.Error("ok = true with a failed unit")
	}
	if doc.Summary.Failed == 0 || doc.Summary.Passed+doc.Summary.Failed+doc.Summary.Skipped != len(doc.Checks) {
		t.Errorf("summary %+v does not add up to %d checks", doc.Summary, len(doc.Checks))
	}
	found := false
	for _, c := range doc.Checks {
		if c.Name == "unit:hello.service" {
			found = c.Status == "FAIL" && strings.Contains(c.Detail, "failed")
		}
		if c.Name == "" || !slices.Contains([]string{"PASS", "FAIL", "SKIP"}, c.Status) {
			t.Errorf("bad check entry %+v", c)
		}
	}
	if !found {
		t.Errorf("unit:hello.service not reported as FAIL in %s", r.stdout)
	}
	f := doc.Facts
	if !f.BootcHost || f.Booted == nil || f.Booted.Digest != bootedDigest || f.Booted.Version != "nightly" {
		t.Errorf("bootc facts wrong: %+v", f)
	}
	if f.SystemState != "degraded" || !slices.Equal(f.FailedUnits, []string{"hello.service"}) {
		t.Errorf("system facts wrong: %q %q", f.SystemState, f.FailedUnits)
	}
	if len(f.Apps) != 2 || f.APIInfo["version"] != "v1" || f.URL != h.url {
		t.Errorf("app facts wrong: %+v %v %q", f.Apps, f.APIInfo, f.URL)
	}
	if strings.Contains(r.stdout, "PASS  ") {
		t.Error("--json also printed check lines")
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{"--bogus"},
		{"--expect-digest"},
		{"--expect-digest", "736b3594"},
		{"--url", "ftp://x"},
		{"--min-free-mb", "lots"},
		{"--min-free-percent", "101"},
		{"--timeout", "0"},
		{"--unit-dir", "/nonexistent/units"},
		{"stray"},
	}
	for _, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			h := newHost(t)
			r := h.run(args...)
			r.wantCode(t, 2)
			if r.stdout != "" || !strings.Contains(r.stderr, "verify-instance.sh: ") ||
				strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("want one line on stderr and nothing on stdout, got stdout %q stderr %q", r.stdout, r.stderr)
			}
			if len(r.calls) != 0 {
				t.Errorf("usage error still queried the host: %+v", r.calls)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	h := newHost(t)
	r := h.run("--help")
	r.wantCode(t, 0)
	for _, flag := range []string{"--expect-digest", "--expect-version", "--url", "--min-free-mb",
		"--timeout", "--json", "--layout-checks", "--unit-dir", "--wait-boot"} {
		if !strings.Contains(r.stdout, flag) {
			t.Errorf("--help does not mention %s", flag)
		}
	}
}

// The script keeps no state: a second run gives the same verdicts.
func TestIdempotent(t *testing.T) {
	h := newHost(t)
	h.setUnit("api.service", "failed")
	a, b := h.run(), h.run()
	verdicts := func(r result) map[string]string {
		m := map[string]string{}
		for name, got := range r.lines(t) {
			m[name] = got[0]
		}
		return m
	}
	if !maps.Equal(verdicts(a), verdicts(b)) || a.code != b.code {
		t.Errorf("two runs differ:\n%s\n---\n%s", a.stdout, b.stdout)
	}
}

func TestBootcStatusFailureFails(t *testing.T) {
	h := newHost(t)
	h.d.Set(t, "bootc/fail-status", "error: Acquiring sysroot lock: timed out")
	r := h.run()
	r.wantCode(t, 1)
	r.want(t, "bootc-booted", "FAIL", "bootc status failed: error: Acquiring sysroot lock: timed out")
	r.want(t, "bootc-digest", "SKIP", "bootc status failed")
}

func TestWaitBootWaitsForStartupFirst(t *testing.T) {
	h := newHost(t)
	r := h.run("--wait-boot", "5")
	r.want(t, "system-state", "PASS", "running")
	if len(harness.Find(r.calls, "systemctl", "is-system-running", "--wait")) != 1 {
		t.Errorf("--wait-boot did not wait with is-system-running --wait:\n%s", harness.FormatCalls(r.calls))
	}
	if len(harness.Find(h.run().calls, "systemctl", "--wait")) != 0 {
		t.Error("waited without --wait-boot")
	}
}
