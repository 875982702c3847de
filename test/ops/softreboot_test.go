package ops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// The bootc double offers a soft reboot only where systemd can do one
// (ostree-ext `systemd_has_soft_reboot`: soft-reboot.target), and has the
// next root prepared (DOUBLES_PREPARE_SOFT_REBOOT) before it reboots, as
// bootc's `prepare_soft_reboot` does; the simulated host relies on both.
func TestSoftRebootNeedsSystemdSupport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unit := filepath.Join(dir, "soft-reboot.target")
	hook := filepath.Join(dir, "prepare")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho \"$1\" >>\""+dir+"/prepared\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	d := lifecycleHost(t)
	d.Env = append(d.Env, "DOUBLES_SOFT_REBOOT_UNIT="+unit, "DOUBLES_PREPARE_SOFT_REBOOT="+hook)
	d.Set(t, "bootc/soft-reboot-capable", "")
	d.SetRegistry(t, harness.Img("v2"))
	run(t, d, 0, "upgrade-os.sh", "download")
	if d.Bootc(t).Status.Staged.SoftRebootCapable {
		t.Fatal("staged as soft-reboot capable on a system without soft-reboot.target")
	}
	boots := d.Boots(t)
	r := run(t, d, 0, "upgrade-os.sh", "apply", "--yes")
	wantLine(t, r, "reboot:    full (bootc cannot soft-reboot")
	d.WaitForBoots(t, boots+1, 10*time.Second)
	if _, err := os.Stat(filepath.Join(dir, "prepared")); err == nil {
		t.Error("a next root was prepared for a full reboot")
	}

	if err := os.WriteFile(unit, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d.SetRegistry(t, harness.Img("v3"))
	run(t, d, 0, "upgrade-os.sh", "download")
	boots = d.Boots(t)
	r = run(t, d, 0, "upgrade-os.sh", "apply", "--yes")
	wantLine(t, r, "reboot:    soft (userspace only")
	d.WaitForBoots(t, boots+1, 10*time.Second)
	b, err := os.ReadFile(filepath.Join(dir, "prepared"))
	if err != nil || strings.TrimSpace(string(b)) != "staged" {
		t.Errorf("the next root prepared: %q (%v), want the staged deployment once", b, err)
	}
}
