package simhost

import (
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

// TestLifecycleDriver runs the lifecycle driver of `make vm-test` against
// the simulated host, so every step and make target it uses is exercised here.
func TestLifecycleDriver(t *testing.T) {
	f := newFixture(t)
	v1 := f.publish(t, f.build(t, 1))
	images := map[string]harness.Image{}
	for _, n := range []int{2, 3} {
		img := f.build(t, n)
		images[img.Version] = img
	}
	h := Install(t, f.reg, f.ref, f.evaluator)
	h.Boot(t)
	lifecycle.Run(t, &lifecycleHost{h: h, f: f, images: images},
		lifecycle.Plan{V1Digest: v1.Pushed, V2: "sim-v2", Unsigned: "sim-v3"})
}
