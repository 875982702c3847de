package simhost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/lifecycle"
)

// SetSoftRebootCapable says whether deployments staged from now on keep the
// booted kernel, initramfs and kernel arguments (ostree
// `deployment_can_soft_reboot`). Under nspawn every deployment shares the test
// machine's kernel, so the rig decides: off (the default) is an image with a
// new kernel or kernel arguments, on is an upgrade that changes only apps. The
// guest's bootc still requires systemd's soft-reboot.target in the booted
// image (guest/bootc).
func (h *Host) SetSoftRebootCapable(t testing.TB, on bool) {
	t.Helper()
	p := filepath.Join(h.StateDir(), "bootc", "soft-reboot-capable")
	if on {
		writeFile(t, p, "", 0o644)
	} else if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// SystemdSoftReboots reports whether the booted image's systemd can soft-reboot
// (soft-reboot.target, what ostree-ext `systemd_has_soft_reboot` looks for):
// systemd 254 and later, so the trixie stand-in and the real bases, not
// bookworm (STANDIN_SUITE=bookworm).
func (h *Host) SystemdSoftReboots() bool {
	_, err := os.Stat(filepath.Join(h.booted.root, "usr", "lib", "systemd", "system", "soft-reboot.target"))
	return err == nil
}

// KernelBoots counts the host's kernel boots: under the rig, one per run of
// systemd-nspawn. A soft reboot stays in the run; a reboot starts a new one.
// (The guest's boot ID cannot tell them apart here: it is a file nspawn
// mounts over /proc/sys/kernel/random/boot_id, which a soft reboot's switch
// into the new root leaves behind.)
func (h *Host) KernelBoots() int { return h.runs }

// ProbeDowntime asks hello's /health through the guest's nginx, over the SSH
// path the operator uses, one request after the other (lifecycle.Downtime).
func (h *Host) ProbeDowntime() func() time.Duration {
	args := append(strings.Fields(h.SSHOpts()), "-o", "ConnectTimeout=2", "--", h.Host(),
		"curl -fsS -o /dev/null --max-time 2 http://127.0.0.1/health")
	return lifecycle.Downtime(func() bool { return h.execNoT(5*time.Second, "ssh", args...).ExitCode == 0 })
}
