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
// the later ones depend on it.
func Run(t *testing.T, h Host, p Plan) {
	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			t.Fatalf("%s failed: the later steps depend on it", name)
		}
	}
	var v2 string
	step("1-verify-v1", func(t *testing.T) { Verified(t, h, p.V1Digest) })
	step("2-push-v2", func(t *testing.T) { v2 = h.Publish(t, p.V2, true) })
	step("3-os-check", func(t *testing.T) {
		// upgrade-os.sh check exits 10 for "update available"; make reports 2.
		c := h.Make(t, 2*time.Minute, "os-check")
		if c.ExitCode != 2 || !strings.Contains(c.Stdout, "update available") || !strings.Contains(c.Stdout, v2) {
			t.Fatalf("os-check with v2 published: want 'update available' naming %s (make exit 2)\n%s", v2, c.Output())
		}
	})
	step("4-os-upgrade", func(t *testing.T) {
		u := h.Make(t, 10*time.Minute, "os-upgrade")
		if u.ExitCode != 0 || !strings.Contains(u.Stdout, "staged:    "+v2) {
			t.Fatalf("os-upgrade: want %s staged\n%s", v2, u.Output())
		}
	})
	step("5-os-apply-verify-v2", func(t *testing.T) {
		a := h.Make(t, 2*time.Minute, "os-apply", "YES=1")
		if a.ExitCode != 0 || !strings.Contains(a.Stdout, "rebooting into "+v2) {
			t.Fatalf("os-apply:\n%s", a.Output())
		}
		h.AwaitReboot(t, 5*time.Minute)
		Verified(t, h, v2)
	})
	step("6-os-rollback-verify-v1", func(t *testing.T) {
		r := h.Make(t, 2*time.Minute, "os-rollback", "YES=1")
		if r.ExitCode != 0 || !strings.Contains(r.Stdout, "rolling back to "+p.V1Digest) {
			t.Fatalf("os-rollback:\n%s", r.Output())
		}
		h.AwaitReboot(t, 5*time.Minute)
		Verified(t, h, p.V1Digest)
	})
	step("7-unsigned-refused", func(t *testing.T) {
		h.Publish(t, p.Unsigned, false)
		u := h.Make(t, 5*time.Minute, "os-upgrade")
		if u.ExitCode == 0 || !strings.Contains(u.Stderr, "is not signed by a key this host trusts") ||
			!strings.Contains(u.Stderr, "nothing was staged") {
			t.Fatalf("os-upgrade to an unsigned image: want the refusal, nothing staged\n%s", u.Output())
		}
		Verified(t, h, p.V1Digest)
	})
	step("8-automatic-rollback", func(t *testing.T) {
		if p.Broken == "" || p.BrokenCheck == "" {
			t.Fatal("the plan has no broken image: automatic rollback is part of every host's life")
		}
		broken := h.Publish(t, p.Broken, true)
		if u := h.Make(t, 10*time.Minute, "os-upgrade"); u.ExitCode != 0 || !strings.Contains(u.Stdout, "staged:    "+broken) {
			t.Fatalf("os-upgrade to the broken image:\n%s", u.Output())
		}
		if a := h.Make(t, 2*time.Minute, "os-apply", "YES=1"); a.ExitCode != 0 || !strings.Contains(a.Stdout, "rebooting into "+broken) {
			t.Fatalf("os-apply of the broken image:\n%s", a.Output())
		}
		// No make target or script runs on the host until it is back: the
		// rollback is greenboot's and the health gate's alone.
		h.AwaitHealthSettled(t, 30*time.Minute)
		Verified(t, h, p.V1Digest)
		s := h.Make(t, time.Minute, "os-status")
		for _, want := range []string{"booted:    " + p.V1Digest, "rollback:  " + broken,
			"bad:       " + broken + " (abandoned by a rollback on", "automatic rollback: failed the health gate: " + p.BrokenCheck} {
			if s.ExitCode != 0 || !strings.Contains(s.Stdout, want) {
				t.Fatalf("os-status after the automatic rollback: want %q\n%s", want, s.Output())
			}
		}
		u := h.Make(t, 5*time.Minute, "os-upgrade")
		if u.ExitCode == 0 || !strings.Contains(u.Stderr, "recorded as bad by a rollback") || !strings.Contains(u.Stderr, p.BrokenCheck) {
			t.Fatalf("os-upgrade with the rolled-back image still published: want a refusal naming %s\n%s", p.BrokenCheck, u.Output())
		}
		if s := h.Make(t, time.Minute, "os-status"); s.ExitCode != 0 || !strings.Contains(s.Stdout, "staged:    none") {
			t.Fatalf("os-status after the refusal: want nothing staged\n%s", s.Output())
		}
	})
}

// Verified runs `make verify` expecting digest and requires every check to pass.
func Verified(t *testing.T, h Host, digest string) {
	t.Helper()
	r := h.Make(t, 5*time.Minute, "verify", "VERIFY_ARGS=--expect-digest "+digest+" --wait-boot 120")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "PASS  bootc-digest  booted digest is "+digest) {
		t.Fatalf("make verify expecting %s:\n%s", digest, r.Output())
	}
}
