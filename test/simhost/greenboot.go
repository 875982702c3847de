package simhost

// greenboot on the simulated host. The image installs greenboot and our hooks
// (Containerfile, scripts/health-gate.sh); the Debian stand-in has no greenboot,
// so the rig plays it by the rules of fedora-iot/greenboot-rs 0.16.4:
//
//   - in the guest, guest/greenboot runs as greenboot-healthcheck.service does
//     (before boot-complete.target; see writeGreenbootUnit): the image's
//     required.d, wanted.d, green.d and red.d files unchanged, then the GRUB
//     variables, reboot and `bootc rollback` as src/main.rs health_check;
//   - at an orderly shutdown with a deployment that will be finalized,
//     greenboot-set-rollback-trigger.service (ExecStop, RequiredBy
//     ostree-finalize-staged.service) records its digest as
//     greenboot_next_deployment_id (src/main.rs SetRollbackTrigger,
//     src/lib/handler.rs get_staged_deployment_id);
//   - at every boot, the GRUB script grub2/08_greenboot.cfg: with boot_counter
//     set and boot_success=0 the counter goes down by one; boot_success is
//     reset to 0.
//
// The GRUB environment is a file of KEY=VALUE lines in /sysroot, read by both.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

const (
	guestGreenboot = guestSimDir + "/greenboot"
	grubenvRel     = stateRel + "/grubenv"
)

// greenbootBind lends the guest the model.
func greenbootBind() string { return "--bind-ro=" + guestFile("greenboot") + ":" + guestGreenboot }

// writeGreenbootUnit adds the model's unit to the guest's runtime units, with
// greenboot-healthcheck.service's ordering
// (usr/lib/systemd/system/greenboot-healthcheck.service).
func writeGreenbootUnit(t testing.TB, dir string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "testboot-sim-greenboot.service"), fmt.Sprintf(`[Unit]
Description=Simulated host: greenboot health check (model)
Before=boot-complete.target
After=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%s
`, guestGreenboot), 0o644)
	// greenboot's unit is wanted by multi-user.target, which then waits for
	// it; the rig's ready marker comes after multi-user.target, and a boot
	// greenboot reboots would never be "up". So the model is pulled in by the
	// marker's unit instead (no ordering): the gate runs as in the real boot,
	// and the test waits for its outcome (GreenbootResult).
	mkdir(t, filepath.Join(dir, "testboot-sim-ready.service.d"))
	writeFile(t, filepath.Join(dir, "testboot-sim-ready.service.d", "greenboot.conf"),
		"[Unit]\nWants=testboot-sim-greenboot.service\n", 0o644)
}

func (h *Host) grubenv(t testing.TB) map[string]string {
	t.Helper()
	env := map[string]string{}
	b, err := os.ReadFile(filepath.Join(h.Sysroot, grubenvRel))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	return env
}

func (h *Host) writeGrubenv(t testing.TB, env map[string]string) {
	t.Helper()
	var b strings.Builder
	for _, k := range []string{"boot_success", "boot_counter", "greenboot_next_deployment_id"} {
		if v, ok := env[k]; ok {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
	}
	writeFile(t, filepath.Join(h.Sysroot, grubenvRel), b.String(), 0o644)
}

// greenbootAtReboot plays what greenboot does outside the booted system
// between two boots; finalize calls it before it moves the deployments. A soft
// reboot (soft) stops units as a reboot does, so the rollback trigger is
// recorded, but GRUB does not run: nothing is counted (docs 008).
func (h *Host) greenbootAtReboot(t testing.TB, powerCut, soft bool) {
	t.Helper()
	env := h.grubenv(t)
	if !powerCut {
		// greenboot-set-rollback-trigger.service stops with
		// ostree-finalize-staged.service; the image's drop-in
		// (configs/greenboot-set-rollback-trigger.conf) leaves out a
		// download-only deployment, which the reboot discards.
		var doc struct {
			Status struct {
				Staged *struct {
					DownloadOnly bool `json:"downloadOnly"`
					Image        *struct {
						ImageDigest string `json:"imageDigest"`
					} `json:"image"`
				} `json:"staged"`
			} `json:"status"`
		}
		readJSON(t, filepath.Join(h.StateDir(), "bootc", "status.json"), &doc)
		if s := doc.Status.Staged; s != nil && !s.DownloadOnly && s.Image != nil {
			env["greenboot_next_deployment_id"] = s.Image.ImageDigest
		}
	}
	if soft {
		h.writeGrubenv(t, env)
		return
	}
	// grub2/08_greenboot.cfg.
	if c, ok := env["boot_counter"]; ok && env["boot_success"] == "0" {
		n, err := strconv.Atoi(c)
		if err != nil {
			t.Fatalf("grubenv boot_counter=%q", c)
		}
		if n <= 0 {
			t.Fatalf("GRUB would boot the rollback deployment by itself (boot_counter=%d, default=1): not modelled", n)
		}
		env["boot_counter"] = strconv.Itoa(n - 1)
	}
	env["boot_success"] = "0"
	h.writeGrubenv(t, env)
}

// GreenbootResult waits for the modelled greenboot's outcome of the current
// boot: "green", "red: ..." or "unmodelled: ..." (which fails the test).
func (h *Host) GreenbootResult(t testing.TB, timeout time.Duration) string {
	t.Helper()
	g := h.guest
	if g == nil {
		t.Fatal("GreenbootResult: the host is not running")
	}
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(filepath.Join(g.report, "greenboot")); err == nil {
			r := strings.TrimSpace(string(b))
			if strings.HasPrefix(r, "unmodelled") {
				t.Fatalf("boot %d: %s", h.boots, r)
			}
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("boot %d: no greenboot outcome within %s\n%s", h.boots, timeout, harness.Tail(h.Console(), 30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// SettleGreenboot follows greenboot through the reboots it makes until a boot
// it does not reboot: it returns every boot's outcome in order.
func (h *Host) SettleGreenboot(t testing.TB, perBoot time.Duration) []string {
	t.Helper()
	var out []string
	for i := 0; i < 10; i++ {
		r := h.GreenbootResult(t, perBoot)
		out = append(out, fmt.Sprintf("%s: %s", h.booted.digest, r))
		if !strings.HasPrefix(r, "red: ") || strings.Contains(r, "manual intervention") {
			return out
		}
		h.AwaitReboot(t, 2*time.Minute)
	}
	t.Fatalf("greenboot still rebooting after 10 boots: %v", out)
	return nil
}

// readHealthLast is the gate's last result in the host's /var.
func (h *Host) readHealthLast(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	b, err := os.ReadFile(filepath.Join(h.VarDir, "lib", "bootc-testboot", "health", "last.json"))
	if err != nil {
		t.Fatalf("the health gate's record: %v", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("health/last.json: %v", err)
	}
	return m
}
