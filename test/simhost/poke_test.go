package simhost

import (
	"testing"
	"time"
)

func TestSoftPoke(t *testing.T) {
	f := newFixture(t)
	v1 := f.publish(t, f.build(t, 1))
	h := Install(t, f.reg, f.ref, f.evaluator)
	h.Boot(t)
	requireVerified(t, h, v1.Pushed)
	h.SetSoftRebootCapable(t, true)
	f.publish(t, f.build(t, 2))
	h.Make(t, 5*time.Minute, "os-upgrade")
	h.Make(t, 2*time.Minute, "os-apply", "YES=1")
	h.AwaitReboot(t, 2*time.Minute)
	t.Logf("POKE NOW %s", h.Dir)
	time.Sleep(8 * time.Minute)
}
