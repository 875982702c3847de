package simhost

import (
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
	"bootc-testboot/test/lifecycle"
)

// lifecycleHost is the simulated host as the lifecycle driver sees it: the
// same make targets over SSH that `make vm-test` runs against a KVM guest.
type lifecycleHost struct {
	h      *Host
	f      *fixture
	images map[string]harness.Image
}

func (l *lifecycleHost) Make(t *testing.T, timeout time.Duration, target string, vars ...string) lifecycle.Result {
	r := l.h.Make(t, timeout, target, vars...)
	return lifecycle.Result{Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode}
}

func (l *lifecycleHost) AwaitReboot(t *testing.T, timeout time.Duration) { l.h.AwaitReboot(t, timeout) }

// AwaitHealthSettled follows the rig's greenboot model (greenboot.go) through
// the boots it makes; the rig plays the boot loader between them.
func (l *lifecycleHost) AwaitHealthSettled(t *testing.T, timeout time.Duration) {
	t.Helper()
	l.h.AwaitReboot(t, 2*time.Minute)
	t.Logf("greenboot outcomes, one per boot:\n  %s", strings.Join(l.h.SettleGreenboot(t, timeout/10), "\n  "))
}

func (l *lifecycleHost) Publish(t *testing.T, version string, sign bool) string {
	img, ok := l.images[version]
	if !ok {
		t.Fatalf("no image %q was built for the driver", version)
	}
	if sign {
		return l.f.publish(t, img).Pushed
	}
	return l.f.publishUnsigned(t, img).Pushed
}

// The driver's images, built after the health gate's scenarios: a healthy
// v2, an unsigned one, and one whose hello cannot start (as v8's).
const (
	driverV2 = iota + brokenVersion + 1
	driverUnsigned
	driverBroken
)

// lifecycleSteps runs the lifecycle driver of `make vm-test` on the host
// TestUpgradeApplyRollback leaves (booted on v7 with hello broken through
// /etc, held by the gate, the gate and greenboot configured in /etc), so
// every step and make target of the VM run is exercised here without
// booting another host.
func lifecycleSteps(step func(string, func(*testing.T)), f *fixture, h *Host, v7 published) {
	step("14-healthy-again-for-the-driver", func(t *testing.T) {
		// The operator repairs hello in /etc and reboots: v7 passes the gate
		// again and is the driver's v1.
		if r := h.SSH(t, time.Minute, "sudo rm /etc/systemd/system/hello.service.d/50-broken.conf"); r.ExitCode != 0 {
			t.Fatalf("repairing hello in /etc: %s", r.Output())
		}
		h.SSH(t, 30*time.Second, "sudo systemctl reboot") // the session may end with the reboot
		h.AwaitReboot(t, 2*time.Minute)
		wantOutcomes(t, h.SettleGreenboot(t, 3*time.Minute), v7.Pushed+": green")
		requireStatus(t, h, "booted:    "+v7.Pushed, "health:    pass on "+v7.Pushed)
	})
	step("15-lifecycle-driver", func(t *testing.T) {
		images := map[int]harness.Image{}
		byVersion := map[string]harness.Image{}
		for _, n := range []int{driverV2, driverUnsigned, driverBroken} {
			images[n] = f.build(t, n)
			byVersion[images[n].Version] = images[n]
		}
		lifecycle.Run(t, &lifecycleHost{h: h, f: f, images: byVersion}, lifecycle.Plan{V1Digest: v7.Pushed,
			V2: images[driverV2].Version, Unsigned: images[driverUnsigned].Version,
			Broken: images[driverBroken].Version, BrokenCheck: "unit:hello.service"})
	})
}
