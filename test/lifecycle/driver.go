// Package lifecycle drives one host through an image's life with the make
// targets a user runs against HOST=user@ip: verify v1, publish v2, os-check,
// os-upgrade, os-apply, verify v2, os-rollback, verify v1, an unsigned image
// refused, and an image whose app cannot start, which the host's own health
// gate (greenboot, scripts/health-gate.sh) rolls back by itself. The same driver runs
// against the simulated host (test/simhost, every `make test`) and a KVM
// virtual machine booted from the real image (`make vm-test`, vm_test.go);
// only the Host behind it differs.
package lifecycle

import (
	"strings"
	"testing"
	"time"
)

// Result is one command's outcome.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
}

// Output is both streams, for messages.
func (r Result) Output() string { return "stdout:\n" + r.Stdout + "\nstderr:\n" + r.Stderr }

// Host is a booted host, the registry it tracks, and the images to publish there.
type Host interface {
	// Make runs `make TARGET HOST=... VARS...` from the repository against the host.
	Make(t *testing.T, timeout time.Duration, target string, vars ...string) Result
	// AwaitReboot returns once the host has rebooted and accepts SSH again.
	AwaitReboot(t *testing.T, timeout time.Duration)
	// Publish pushes a version built beforehand with `make push` to the tag
	// the host tracks, signs it when sign is set, and returns the pushed digest.
	Publish(t *testing.T, version string, sign bool) string
	// AwaitHealthSettled returns once the host has rebooted after an apply
	// and greenboot has stopped rebooting it: the boot it leaves running
	// passed its health check (or was held). A bad image takes several boots
	// (GREENBOOT_MAX_BOOT_ATTEMPTS, then the rollback), so no fixed count of
	// reboots is assumed.
	AwaitHealthSettled(t *testing.T, timeout time.Duration)
	// ProbeDowntime starts asking hello's /health through the host's nginx,
	// over the operator's SSH path, and returns what Downtime returns.
	ProbeDowntime(t *testing.T) func() time.Duration
}

// Plan names the images: V1 is booted; V2, Unsigned and Broken are built,
// not yet published. Broken's app cannot start: BrokenCheck is the check of
// the health gate it fails (as os-status names it, e.g. unit:hello.service).
type Plan struct {
	V1Digest     string
	V2, Unsigned string
	Broken       string
	BrokenCheck  string
}

// Run drives the host through every step; a failed step stops the run, as
// the later ones depend on it. A host with scenarios of its own between these
// steps (test/simhost) calls the step functions below in this order instead.
func Run(t *testing.T, h Host, p Plan) {
	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			t.Fatalf("%s failed: the later steps depend on it", name)
		}
	}
	var v2 string
	step("1-verify-v1", func(t *testing.T) { VerifyBooted(t, h, p.V1Digest) })
	step("2-push-v2", func(t *testing.T) { v2 = h.Publish(t, p.V2, true) })
	step("3-os-check", func(t *testing.T) { Check(t, h, v2) })
	step("4-os-upgrade", func(t *testing.T) { Upgrade(t, h, v2) })
	step("5-os-apply-verify-v2", func(t *testing.T) { Apply(t, h, v2, p.V1Digest) })
	step("6-os-rollback-verify-v1", func(t *testing.T) { Rollback(t, h, p.V1Digest, v2) })
	step("7-unsigned-refused", func(t *testing.T) { UnsignedRefused(t, h, p.Unsigned, p.V1Digest) })
	step("8-automatic-rollback", func(t *testing.T) {
		if p.Broken == "" || p.BrokenCheck == "" {
			t.Fatal("the plan has no broken image: automatic rollback is part of every host's life")
		}
		AutomaticRollback(t, h, p.Broken, p.BrokenCheck, p.V1Digest)
	})
}

// VerifyBooted: the host as installed, booted on digest with nothing staged.
func VerifyBooted(t *testing.T, h Host, digest string) {
	t.Helper()
	Verified(t, h, digest)
	Status(t, h, "booted:    "+digest, "staged:    none")
}

// Check: os-check names the published digest as an update.
func Check(t *testing.T, h Host, available string) {
	t.Helper()
	// upgrade-os.sh check exits 10 for "update available"; make reports 2.
	c := h.Make(t, 2*time.Minute, "os-check")
	if c.ExitCode != 2 || !strings.Contains(c.Stdout, "update available") || !strings.Contains(c.Stdout, "available: "+available) {
		t.Fatalf("os-check with %s published: want 'update available' naming it (make exit 2)\n%s", available, c.Output())
	}
}

// Upgrade: os-upgrade downloads digest and stages it locked, for os-apply only.
func Upgrade(t *testing.T, h Host, digest string) {
	t.Helper()
	u := h.Make(t, 10*time.Minute, "os-upgrade")
	if u.ExitCode != 0 || !strings.Contains(u.Stdout, "staged:    "+digest) {
		t.Fatalf("os-upgrade: want %s staged\n%s", digest, u.Output())
	}
	Status(t, h, "staged:    "+digest, "download-only: applied only by")
}

// Apply: os-apply reboots into the staged digest, which passes make verify
// and keeps from as its rollback. It returns make verify's result.
func Apply(t *testing.T, h Host, digest, from string) Result {
	t.Helper()
	v := rebootInto(t, h, "os-apply", "rebooting into ", digest)
	Status(t, h, "booted:    "+digest, "rollback:  "+from, "staged:    none")
	return v
}

// Rollback: os-rollback reboots into digest, which passes make verify, and
// records the abandoned deployment (from) as bad. It forces a full reboot
// (FULL_REBOOT=1): where the apply before it was a soft reboot, one run then
// logs the downtime of both kinds.
func Rollback(t *testing.T, h Host, digest, from string) {
	t.Helper()
	rebootInto(t, h, "os-rollback", "rolling back to ", digest, "FULL_REBOOT=1")
	Status(t, h, "booted:    "+digest, "rollback:  "+from, "bad:       "+from)
}

// rebootInto runs target, which must announce (says) the reboot into digest
// and which kind of reboot it is, and returns once the host is back on digest
// and passes make verify. It logs the downtime through nginx.
func rebootInto(t *testing.T, h Host, target, says, digest string, vars ...string) Result {
	t.Helper()
	start := time.Now()
	down := h.ProbeDowntime(t)
	r := h.Make(t, 2*time.Minute, target, append([]string{"YES=1"}, vars...)...)
	kind := rebootKind(r.Stdout)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, says+digest) || kind == "" {
		t.Fatalf("%s: want %q and the reboot's kind\n%s", target, says+digest, r.Output())
	}
	h.AwaitReboot(t, 5*time.Minute)
	d := down()
	v := Verified(t, h, digest)
	t.Logf("%s to a passing verify of %s: %.1fs; %s reboot, downtime through nginx %.2fs",
		target, digest, time.Since(start).Seconds(), kind, d.Seconds())
	return v
}

// rebootKind is "soft" or "full" from the scripts' "reboot:" line, "" when
// there is none.
func rebootKind(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "reboot:    "); ok {
			kind, _, _ := strings.Cut(rest, " ")
			if kind == "soft" || kind == "full" {
				return kind
			}
		}
	}
	return ""
}

// UnsignedRefused publishes version unsigned: os-upgrade refuses it and
// stages nothing, and the host stays on booted with its signature policy
// intact. It returns the pushed digest and the refused os-upgrade.
func UnsignedRefused(t *testing.T, h Host, version, booted string) (string, Result) {
	t.Helper()
	d := h.Publish(t, version, false)
	u := h.Make(t, 5*time.Minute, "os-upgrade")
	if u.ExitCode == 0 || !strings.Contains(u.Stderr, "is not signed by a key this host trusts (/etc/containers/policy.json)") ||
		!strings.Contains(u.Stderr, "nothing was staged") {
		t.Fatalf("os-upgrade to an unsigned image: want the refusal, nothing staged\n%s", u.Output())
	}
	Status(t, h, "booted:    "+booted, "staged:    none")
	if r := Verified(t, h, booted); !strings.Contains(r.Stdout, "PASS  bootc-sigpolicy") {
		t.Errorf("make verify after the refusal: want bootc-sigpolicy to pass\n%s", r.Stdout)
	}
	return d, u
}

// AutomaticRollback publishes version, whose app cannot start (it fails the
// health gate's check named check), and applies it: the host's own health gate
// (greenboot, scripts/health-gate.sh) rolls back to good, records the image
// as bad, and os-upgrade refuses it from then on. It returns the pushed digest.
func AutomaticRollback(t *testing.T, h Host, version, check, good string) string {
	t.Helper()
	broken := h.Publish(t, version, true)
	Upgrade(t, h, broken)
	if a := h.Make(t, 2*time.Minute, "os-apply", "YES=1"); a.ExitCode != 0 || !strings.Contains(a.Stdout, "rebooting into "+broken) {
		t.Fatalf("os-apply of the broken image:\n%s", a.Output())
	}
	// No make target or script runs on the host until it is back: the
	// rollback is greenboot's and the health gate's alone.
	h.AwaitHealthSettled(t, 30*time.Minute)
	Verified(t, h, good)
	Status(t, h, "booted:    "+good, "rollback:  "+broken,
		"bad:       "+broken+" (abandoned by a rollback on", "automatic rollback: failed the health gate: "+check)
	u := h.Make(t, 5*time.Minute, "os-upgrade")
	if u.ExitCode == 0 || !strings.Contains(u.Stderr, "recorded as bad by a rollback") || !strings.Contains(u.Stderr, check) {
		t.Fatalf("os-upgrade with the rolled-back image still published: want a refusal naming %s\n%s", check, u.Output())
	}
	Status(t, h, "staged:    none")
	return broken
}

// Verified runs `make verify` expecting digest and requires every check to
// pass, the digest check among them. It returns make verify's result.
func Verified(t *testing.T, h Host, digest string) Result {
	t.Helper()
	r := h.Make(t, 5*time.Minute, "verify", "VERIFY_ARGS=--expect-digest "+digest+" --wait-boot 120")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "PASS  bootc-digest  booted digest is "+digest) {
		t.Fatalf("make verify expecting %s:\n%s", digest, r.Output())
	}
	return r
}

// Status runs `make os-status` and requires each of want in its output.
func Status(t *testing.T, h Host, want ...string) Result {
	t.Helper()
	r := h.Make(t, time.Minute, "os-status")
	for _, w := range want {
		if r.ExitCode != 0 || !strings.Contains(r.Stdout, w) {
			t.Fatalf("os-status: want %q\n%s", w, r.Output())
		}
	}
	return r
}
