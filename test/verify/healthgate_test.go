package verify

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// The rollback deployment of testdata/bootc-status-sample.v1.json.
const rollbackDigest = "sha256:47e5ed613a970b6574bfa954ab25bb6e85656552899aa518b5961d9645102b38"

func (r result) checks(t *testing.T) map[string]map[string]string {
	t.Helper()
	var doc struct {
		OK     bool                `json:"ok"`
		Checks []map[string]string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	m := map[string]map[string]string{}
	for _, c := range doc.Checks {
		m[c["name"]] = c
	}
	return m
}

func TestGateCountsOnlyRequiredChecks(t *testing.T) {
	h := newHost(t)
	h.roUsr = true
	// Start-up is not finished while the gate runs; a digest other than the
	// expected one and low free space only warn.
	h.d.Set(t, "systemctl/system-state", "starting\n")
	r := h.run("--gate", "--json", "--expect-digest", otherDigest, "--min-free-mb", "999999999")
	r.wantCode(t, 0)
	c := r.checks(t)
	for name, want := range map[string][2]string{
		"system-state":         {"SKIP", "wanted"},
		"bootc-digest":         {"FAIL", "wanted"},
		"free-space:/var":      {"FAIL", "wanted"},
		"unit:hello.service":   {"PASS", "required"},
		"health:hello.service": {"PASS", "required"},
		"unit:sshd":            {"PASS", "required"},
		"bootc-booted":         {"PASS", "required"},
	} {
		if c[name]["status"] != want[0] || c[name]["gate"] != want[1] {
			t.Errorf("%s: %v, want status %s gate %s", name, c[name], want[0], want[1])
		}
	}
	// A failing app fails the gate.
	h.setUnit("api.service", "failed")
	r = h.run("--gate", "--json")
	r.wantCode(t, 1)
	if c := r.checks(t)["unit:api.service"]; c["status"] != "FAIL" || c["gate"] != "required" {
		t.Errorf("unit:api.service: %v", c)
	}
	// Without --gate every failure counts, as before.
	h.setUnit("api.service", "active")
	h.run("--expect-digest", otherDigest).wantCode(t, 1)
}

// gate runs scripts/health-gate.sh against the doubles: a copy of the scripts
// whose verify-instance.sh reaches the test's "nginx" and units.
type gate struct {
	h     *host
	dir   string // scripts copy
	state string // TESTBOOT_STATE_DIR
	conf  string
}

func newGate(t *testing.T) *gate {
	h := newHost(t)
	g := &gate{h: h, dir: filepath.Join(h.dir, "scripts"), state: filepath.Join(h.dir, "var-lib"), conf: filepath.Join(h.dir, "health-gate.conf")}
	for _, f := range []string{"health-gate.sh", "lib/common.sh"} {
		h.write("scripts/"+f, harness.ReadFile(t, harness.Path("scripts", f)))
	}
	if err := os.Chmod(filepath.Join(g.dir, "health-gate.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	// With a real read-only /usr in a private mount namespace, as bootc gives.
	harness.RequireRoot(t)
	h.write("scripts/verify-instance.sh", "#!/bin/sh\nexec unshare --mount --propagation private bash -c "+
		"'mount --bind /usr /usr && mount -o remount,bind,ro /usr && exec \"$@\"' ro-usr '"+harness.Path("scripts", "verify-instance.sh")+
		"' --url '"+h.url+"' --unit-dir '"+h.unitDir+"' --min-free-mb 1 --min-free-percent 0 \"$@\"\n")
	if err := os.Chmod(filepath.Join(g.dir, "verify-instance.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.write("health-gate.conf", "HEALTH_GATE=on\nHEALTH_GATE_TIMEOUT=4\n")
	return g
}

func (g *gate) run(step string) result {
	g.h.t.Helper()
	r := g.h.d.RunCmd(g.h.t, harness.Cmd{Script: filepath.Join(g.dir, "health-gate.sh"), Args: []string{step},
		Env: []string{"TESTBOOT_OSTREE_BOOTED=" + g.h.marker, "TESTBOOT_NO_JOURNAL=1", "TESTBOOT_STATE_DIR=" + g.state,
			"TESTBOOT_HEALTH_CONF=" + g.conf, "TESTBOOT_GREENBOOT_CONF=" + filepath.Join(g.h.dir, "greenboot.conf")}, Timeout: time.Minute})
	res := result{stdout: r.Stdout, stderr: r.Stderr, code: r.ExitCode, calls: r.Calls}
	assertReadOnly(g.h.t, res.calls)
	return res
}

func (g *gate) last(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(harness.ReadFile(t, filepath.Join(g.state, "health", "last.json"))), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (g *gate) file(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(g.state, name))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func TestHealthGateHealthyBootRecordsLastKnownGood(t *testing.T) {
	g := newGate(t)
	g.run("required").wantCode(t, 0)
	if l := g.last(t); l["result"] != "pass" || l["digest"] != bootedDigest {
		t.Fatalf("last.json: %v", l)
	}
	g.run("wanted").wantCode(t, 0)
	r := g.run("green")
	r.wantCode(t, 0)
	if good := g.file(t, "last-known-good"); !strings.HasPrefix(good, bootedDigest+"\t") || !strings.HasSuffix(good, "\tnightly\n") {
		t.Errorf("last-known-good = %q", good)
	}
}

func TestHealthGateFailingAppFailsTheBootAfterWaiting(t *testing.T) {
	g := newGate(t)
	g.h.setUnit("hello.service", "activating")
	start := time.Now()
	r := g.run("required")
	r.wantCode(t, 1)
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("the gate gave up after %s, before its 4s timeout", took)
	}
	if !strings.Contains(r.stdout, "FAIL  unit:hello.service  activating") {
		t.Errorf("stdout does not name the failed check:\n%s", r.stdout)
	}
	l := g.last(t)
	if l["result"] != "fail" || !strings.Contains(strings.Join(anyStrings(l["failed"]), " "), "unit:hello.service") {
		t.Fatalf("last.json: %v", l)
	}
	// A failed boot is not good: green (which greenboot runs only after a
	// pass) records nothing.
	g.run("green").wantCode(t, 0)
	if good := g.file(t, "last-known-good"); good != "" {
		t.Errorf("last-known-good after a failed gate: %q", good)
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestHealthGateRecordsTheAutomaticRollback(t *testing.T) {
	g := newGate(t)
	// The last boot: the rollback deployment failed the gate (greenboot then
	// rolled back to the booted one).
	g.h.write("var-lib/health/last.json", `{"boot_id":"an-earlier-boot","result":"fail","digest":"`+rollbackDigest+
		`","version":"v0","failed":["unit:hello.service","health:hello.service"]}`)
	g.run("required").wantCode(t, 0)
	bad := g.file(t, "bad-digests")
	if !strings.HasPrefix(bad, rollbackDigest+"\t") || !strings.HasSuffix(bad, "\tv0\tautomatic rollback: failed the health gate: unit:hello.service health:hello.service\n") {
		t.Errorf("bad-digests = %q", bad)
	}
	// Recorded once: the next boot does not record it again.
	g.run("required").wantCode(t, 0)
	if again := g.file(t, "bad-digests"); again != bad {
		t.Errorf("bad-digests changed: %q", again)
	}
}

func TestHealthGateHoldsWhenTheRollbackIsBad(t *testing.T) {
	g := newGate(t)
	g.h.write("var-lib/bad-digests", rollbackDigest+"\t2026-01-01T00:00:00Z\tv0\tautomatic rollback: failed the health gate: unit:hello.service\n")
	g.h.setUnit("hello.service", "failed")
	r := g.run("required")
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, "unhealthy, held: the rollback deployment "+rollbackDigest+" is recorded as bad") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	if l := g.last(t); l["result"] != "held" {
		t.Fatalf("last.json: %v", l)
	}
	g.run("green").wantCode(t, 0)
	if good := g.file(t, "last-known-good"); good != "" {
		t.Errorf("last-known-good after a held boot: %q", good)
	}
}

func TestHealthGateOffAndConfigProblems(t *testing.T) {
	g := newGate(t)
	g.h.write("health-gate.conf", "HEALTH_GATE=off\n")
	g.h.setUnit("hello.service", "failed")
	r := g.run("required")
	r.wantCode(t, 0)
	if len(r.calls) != 0 {
		t.Errorf("the gate is off but checked:\n%s", harness.FormatCalls(r.calls))
	}
	if l := g.last(t); l["result"] != "off" {
		t.Fatalf("last.json: %v", l)
	}
	// A bad value keeps the default (on) and is reported.
	g.h.write("health-gate.conf", "HEALTH_GATE=maybe\nHEALTH_GATE_TIMEOUT=soon\n")
	r = g.run("status")
	r.wantCode(t, 0)
	for _, want := range []string{"gate:      on, timeout 300s", "config:    HEALTH_GATE must be on or off, not 'maybe' (default used)",
		"config:    HEALTH_GATE_TIMEOUT must be 1..3600 seconds, not 'soon' (default used)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status: want %q\n%s", want, r.stdout)
		}
	}
	for _, args := range []string{"", "later"} {
		c := harness.Cmd{Script: filepath.Join(g.dir, "health-gate.sh"), Env: []string{"TESTBOOT_NO_JOURNAL=1", "TESTBOOT_STATE_DIR=" + g.state}}
		if args != "" {
			c.Args = []string{args}
		}
		if r := g.h.d.RunCmd(t, c); r.ExitCode != 2 || !strings.Contains(r.Stderr, "see --help") {
			t.Errorf("health-gate.sh %q: exit %d\n%s", args, r.ExitCode, r.Output())
		}
	}
}

func TestHealthGateEndsRebootsTheBootLoaderDoesNotCount(t *testing.T) {
	g := newGate(t)
	g.h.write("greenboot.conf", "GREENBOOT_MAX_BOOT_ATTEMPTS=2\n")
	g.h.setUnit("hello.service", "failed")
	failed := func(fails int) {
		g.h.write("var-lib/health/last.json", `{"boot_id":"an-earlier-boot","result":"fail","digest":"`+bootedDigest+
			`","failed":["unit:hello.service"],"fails":`+strconv.Itoa(fails)+`}`)
	}
	// Within greenboot's attempts (2, plus the first failure that sets the
	// counter): the boot fails.
	failed(2)
	g.run("required").wantCode(t, 1)
	if l := g.last(t); l["result"] != "fail" || l["fails"] != float64(3) {
		t.Fatalf("last.json: %v", l)
	}
	// One more: GRUB is evidently not counting; the gate ends the reboots.
	r := g.run("required")
	r.wantCode(t, 0)
	if !strings.Contains(r.stdout, "unhealthy, held: 4 failed boots in a row") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}
