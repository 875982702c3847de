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
// TestUpgradeApplyRollback runs the driver's steps (test/lifecycle) among its
// own scenarios on this one host.
type lifecycleHost struct {
	h *Host
	f *fixture
	// images the driver may publish, by version; pushed: what it published.
	images map[string]harness.Image
	pushed map[string]published
	// outcomes: greenboot's, one per boot, of the last AwaitHealthSettled.
	outcomes []string
}

// add makes an image built by the test one the driver can publish.
func (l *lifecycleHost) add(img harness.Image) {
	if l.images == nil {
		l.images, l.pushed = map[string]harness.Image{}, map[string]published{}
	}
	l.images[img.Version] = img
}

func (l *lifecycleHost) Make(t *testing.T, timeout time.Duration, target string, vars ...string) lifecycle.Result {
	r := l.h.Make(t, timeout, target, vars...)
	return lifecycle.Result{Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode}
}

func (l *lifecycleHost) AwaitReboot(t *testing.T, timeout time.Duration) { l.h.AwaitReboot(t, timeout) }

func (l *lifecycleHost) ProbeDowntime(*testing.T) func() time.Duration { return l.h.ProbeDowntime() }

// AwaitHealthSettled follows the rig's greenboot model (greenboot.go) through
// the boots it makes; the rig plays the boot loader between them.
func (l *lifecycleHost) AwaitHealthSettled(t *testing.T, timeout time.Duration) {
	t.Helper()
	l.h.AwaitReboot(t, 2*time.Minute)
	l.outcomes = l.h.SettleGreenboot(t, timeout/10)
	t.Logf("greenboot outcomes, one per boot:\n  %s", strings.Join(l.outcomes, "\n  "))
}

func (l *lifecycleHost) Publish(t *testing.T, version string, sign bool) string {
	img, ok := l.images[version]
	if !ok {
		t.Fatalf("no image %q was built for the driver", version)
	}
	var p published
	if sign {
		p = l.f.publish(t, img)
	} else {
		p = l.f.publishUnsigned(t, img)
	}
	l.pushed[version] = p
	return p.Pushed
}
