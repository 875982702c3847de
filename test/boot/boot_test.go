// Package boot checks upgrades, rollbacks, a new app and a bad image end to
// end on the boot rig (test/rig), with scripts/verify-instance.sh running
// inside the guest.
package boot

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
	"bootc-testboot/test/rig"
)

// The rig's images get their own repository, so other suites' cleanups never
// remove them.
const imageRepo = "localhost/bootc-testboot-boot"

// hello's visit counter in the host's /var (DynamicUser + StateDirectory=hello).
const visitsFile = "lib/private/hello/visits"

const (
	greetingV1 = "Hello from bootc-testboot"
	greetingV2 = "Hello from bootc-testboot, upgraded"
)

// build builds the repository, changed by modify when set, on the stand-in
// base, or on $BOOT_BASE_IMAGE when given (`make boot-test BOOT_BASE_IMAGE=...`,
// as CI does with the real bootc base).
func build(t *testing.T, version string, modify func(dir string) error) harness.Image {
	t.Helper()
	base := os.Getenv("BOOT_BASE_IMAGE")
	if base != "" {
		t.Logf("building on BOOT_BASE_IMAGE=%s", base)
	}
	return harness.BuildImage(t, harness.BuildOptions{Image: imageRepo, Version: version, BaseImage: base, Modify: modify})
}

func requireRig(t *testing.T) {
	t.Helper()
	harness.RequireImageTools(t)
	harness.Require(t, "systemd-nspawn", "cp")
}

// TestUpgradeRollback walks one host through its life, each step a subtest on
// the same persistent /var: install v1, upgrade to v2, roll back to v1, upgrade
// to an image that adds an app, upgrade to a bad image, roll back from it.
func TestUpgradeRollback(t *testing.T) {
	requireRig(t)
	v1 := build(t, "boot-v1", nil)
	host := rig.NewHost(t)

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.Fatalf("%s failed: the later steps depend on it", name)
		}
	}

	step("1-boot-v1", func(t *testing.T) {
		b := host.Boot(t, host.Deploy(t, v1), rig.BootOptions{Visits: 3, VerifyArgs: []string{"--expect-version", v1.Version}})
		requirePassed(t, b)
		requireVersion(t, b, v1.Version)
		requireVisits(t, host, b, 3)
		requireGreeting(t, b, greetingV1)
		// Honest about what the rig is not: bootc checks are skipped, never passed.
		if c := b.Report.Check("bootc-booted"); c.Status != "SKIP" || !strings.Contains(c.Detail, "/run/ostree-booted") {
			t.Errorf("bootc-booted = %s %q, want SKIP naming /run/ostree-booted", c.Status, c.Detail)
		}
		for _, name := range []string{"usr-read-only", "var-writable", "unit:hello.service", "unit:api.service",
			"unit:nginx.service", "unit:sshd", "health:hello.service", "health:api.service", "http:/", "http:/api/info"} {
			if c := b.Report.Check(name); c.Status != "PASS" {
				t.Errorf("check %s = %s %q, want PASS", name, c.Status, c.Detail)
			}
		}
	})

	var v2 harness.Image
	step("2-upgrade-v2-keeps-var", func(t *testing.T) {
		v2 = build(t, "boot-v2", changeHello)
		b := host.Boot(t, host.Deploy(t, v2), rig.BootOptions{Visits: 1, VerifyArgs: []string{"--expect-version", v2.Version}})
		requirePassed(t, b)
		requireVersion(t, b, v2.Version)
		requireGreeting(t, b, greetingV2)
		requireVisits(t, host, b, 4) // 3 on v1, 1 now
	})

	step("3-rollback-v1-keeps-var", func(t *testing.T) {
		b := host.Boot(t, host.Deploy(t, v1), rig.BootOptions{Visits: 1, VerifyArgs: []string{"--expect-version", v1.Version}})
		requirePassed(t, b)
		requireVersion(t, b, v1.Version)
		requireGreeting(t, b, greetingV1)
		requireVisits(t, host, b, 5) // /var is not rolled back
	})

	step("4-upgrade-adds-an-app", func(t *testing.T) {
		v3 := build(t, "boot-v3-extra", func(dir string) error {
			if err := changeHello(dir); err != nil {
				return err
			}
			return harness.AddExtraApp(dir)
		})
		b := host.Boot(t, host.Deploy(t, v3), rig.BootOptions{Visits: 1, VerifyArgs: []string{"--expect-version", v3.Version}})
		requirePassed(t, b)
		found := false
		for _, app := range b.Report.Facts.Apps {
			found = found || (app.Unit == "extra.service" && app.HealthPath == "/extra/health")
		}
		if !found {
			t.Errorf("verify did not discover extra.service from the image: apps %+v", b.Report.Facts.Apps)
		}
		for _, name := range []string{"unit:extra.service", "health:extra.service"} {
			if c := b.Report.Check(name); c.Status != "PASS" {
				t.Errorf("check %s = %s %q, want PASS", name, c.Status, c.Detail)
			}
		}
		requireVisits(t, host, b, 6)
	})

	step("5-bad-image-fails-verification", func(t *testing.T) {
		bad := build(t, "boot-bad", breakAPIUnit)
		b := host.Boot(t, host.Deploy(t, bad), rig.BootOptions{VerifyArgs: []string{"--expect-version", bad.Version}})
		if b.ExitCode != 1 || b.Report.OK {
			t.Fatalf("verify of the bad image: exit %d ok=%v, want exit 1\n%s", b.ExitCode, b.Report.OK, b.RawReport)
		}
		c := b.Report.Check("unit:api.service")
		// Crash-looping under Restart= ("activating/auto-restart") or given up
		// ("failed/failed"): either way the exit is named, and where to look.
		if c.Status != "FAIL" || !strings.Contains(c.Detail, "result exit-code") ||
			!strings.Contains(c.Detail, "journalctl -u api.service") {
			t.Errorf("unit:api.service = %s %q, want FAIL with the exit-code result and the unit's journal", c.Status, c.Detail)
		}
		if c := b.Report.Check("unit:hello.service"); c.Status != "PASS" {
			t.Errorf("hello is fine in the bad image, got %s %q", c.Status, c.Detail)
		}
		t.Logf("the rig's report of the bad image (what a health-gated rollback acts on):\n%s", b.Report.Failed())
		if !strings.Contains(b.Report.Failed(), "api.service") {
			t.Errorf("no failed check names api.service:\n%s", b.Report.Failed())
		}
	})

	step("6-rollback-from-bad-image", func(t *testing.T) {
		b := host.Boot(t, host.Deploy(t, v1), rig.BootOptions{Visits: 1, VerifyArgs: []string{"--expect-version", v1.Version}})
		requirePassed(t, b)
		requireVersion(t, b, v1.Version)
		requireVisits(t, host, b, 7)
	})

	// A guest that does not finish in time is stopped, not left running.
	t.Run("boot-timeout-stops-the-guest", func(t *testing.T) {
		other := rig.NewHost(t)
		b, err := other.TryBoot(t, other.Deploy(t, v1), rig.BootOptions{Timeout: 500 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "no power-off within 500ms") {
			t.Fatalf("TryBoot with a 500ms timeout: err = %v, want the timeout named", err)
		}
		if len(b.GuestPIDs) == 0 {
			t.Fatal("the guest's init was never seen")
		}
		for _, pid := range b.GuestPIDs {
			if harness.Alive(pid) {
				t.Errorf("guest process %d still alive after the timeout", pid)
			}
		}
	})
}

func requirePassed(t *testing.T, b rig.Boot) {
	t.Helper()
	if b.ExitCode != 0 || !b.Report.OK {
		t.Fatalf("verify-instance.sh in the guest booted from %s: exit %d\n%s\nresults: %s\n%s",
			b.Deployment.Image.Ref, b.ExitCode, b.Report.Failed(), b.ResultsDir, rig.GuestDiagnostics(b.ResultsDir))
	}
}

func requireVersion(t *testing.T, b rig.Boot, want string) {
	t.Helper()
	if got := b.Report.Facts.APIInfo["version"]; got != want {
		t.Fatalf("/api/info version = %v, want %s (api_info %v)", got, want, b.Report.Facts.APIInfo)
	}
}

func requireGreeting(t *testing.T, b rig.Boot, want string) {
	t.Helper()
	if got := b.LastVisit["message"]; got != want {
		t.Errorf("GET / message = %v, want %q (the deployment's own hello)", got, want)
	}
}

// requireVisits checks the count twice: as hello reported it on the last
// GET / in the guest, and in the host's /var after power-off.
func requireVisits(t *testing.T, h *rig.Host, b rig.Boot, want int) {
	t.Helper()
	if got, ok := b.LastVisit["visits"].(float64); !ok || int(got) != want {
		t.Errorf("GET / visits = %v, want %d (the count must survive upgrades and rollbacks)", b.LastVisit["visits"], want)
	}
	data, err := os.ReadFile(filepath.Join(h.VarDir, visitsFile))
	if err != nil {
		t.Fatalf("hello's state in the host's /var: %v", err)
	}
	if got := strings.TrimSpace(string(data)); got != strconv.Itoa(want) {
		t.Errorf("%s in the host's /var = %q, want %d", visitsFile, got, want)
	}
}
