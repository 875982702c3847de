package simhost

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// Downtime is what TestSoftReboot measured, for `make bench` (test/bench
// reads it from $BENCH_REBOOT_OUT): seconds from the last good answer of
// hello's /health through nginx before the reboot to the first good one
// after it, over the operator's SSH path.
type Downtime struct {
	SoftApply    float64 `json:"soft_apply_seconds"`
	FullRollback float64 `json:"full_rollback_seconds"`
	SoftRollback float64 `json:"soft_rollback_seconds"`
}

// TestSoftReboot: an upgrade that changes only apps (the rig makes the staged
// deployment soft-reboot capable, as ostree does when kernel, initramfs and
// kernel arguments are the same) is applied by a soft reboot; a broken image
// applied by a soft reboot is still rolled back by greenboot; a rollback with
// FULL_REBOOT=1 reboots fully, one without soft-reboots. Each reboot's
// downtime is logged; the two rollbacks (no deployment to write) are the
// like-for-like pair `make bench` compares.
func TestSoftReboot(t *testing.T) {
	f := newFixture(t)
	v1 := f.publish(t, f.build(t, 1))
	h := Install(t, f.reg, f.ref, f.evaluator)
	h.Boot(t)
	requireVerified(t, h, v1.Pushed)
	if !h.SystemdSoftReboots() {
		t.Fatal("the image's systemd has no soft-reboot.target (systemd 254 or later): the stand-in must be Debian 13 or later")
	}
	h.SetSoftRebootCapable(t, true)
	var d Downtime

	// reboot runs os-apply or os-rollback and returns the downtime and
	// whether the host's kernel kept running (a soft reboot).
	reboot := func(t *testing.T, target, want string, vars ...string) (time.Duration, bool) {
		t.Helper()
		runs := h.KernelBoots()
		down := h.ProbeDowntime()
		r := h.Make(t, 2*time.Minute, target, append([]string{"YES=1"}, vars...)...)
		if r.ExitCode != 0 || !strings.Contains(r.Stdout, "reboot:    "+want) {
			t.Fatalf("make %s: want a %s reboot\n%s", target, want, r.Output())
		}
		h.AwaitReboot(t, 2*time.Minute)
		dt := down()
		if dt == 0 {
			t.Fatalf("make %s: the probe saw no outage", target)
		}
		t.Logf("downtime through nginx, %s reboot: %.2fs", want, dt.Seconds())
		return dt, h.KernelBoots() == runs
	}

	// softApply publishes version n, downloads it and applies it.
	softApply := func(t *testing.T, n int) published {
		t.Helper()
		v := f.publish(t, f.build(t, n))
		if u := h.Make(t, 5*time.Minute, "os-upgrade"); u.ExitCode != 0 || !strings.Contains(u.Stdout, "staged:    "+v.Pushed) {
			t.Fatalf("os-upgrade:\n%s", u.Output())
		}
		dt, soft := reboot(t, "os-apply", "soft")
		if !soft {
			t.Errorf("os-apply said soft, but the host's kernel booted again")
		}
		d.SoftApply = dt.Seconds()
		requireVerified(t, h, v.Pushed)
		// /etc was merged as at a full reboot.
		if r := h.SSH(t, time.Minute, "tail -n1 "+nginxConf); r.Stdout != nginxMark(n)+"\n" {
			t.Errorf("/etc after the soft reboot: want v%d's %s\n%s", n, nginxConf, r.Output())
		}
		return v
	}

	var v2, v3 published
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"1-app-only-upgrade-soft", func(t *testing.T) {
			v2 = softApply(t, 2)
			requireStatus(t, h, "booted:    "+v2.Pushed, "rollback:  "+v1.Pushed)
		}},
		{"2-broken-image-after-soft-reboot-rolled-back", func(t *testing.T) {
			// greenboot counts boots in GRUB, which a soft reboot does not
			// run: the soft boot of the broken image fails its health check,
			// greenboot reboots (fully), and GRUB counts from there (docs/008).
			// Operator settings in /etc, as in the health gate's scenarios: a
			// short gate, one failed boot before greenboot rolls back.
			if r := h.SSH(t, time.Minute, "sudo sh -c 'printf \"HEALTH_GATE=on\\nHEALTH_GATE_TIMEOUT=20\\n\" >/etc/bootc-testboot/health-gate.conf && mkdir -p /etc/greenboot && echo GREENBOOT_MAX_BOOT_ATTEMPTS=1 >/etc/greenboot/greenboot.conf'"); r.ExitCode != 0 {
				t.Fatalf("configuring the gate: %s", r.Output())
			}
			broken := f.publish(t, f.build(t, brokenVersion))
			if u := h.Make(t, 5*time.Minute, "os-upgrade"); u.ExitCode != 0 || !strings.Contains(u.Stdout, "staged:    "+broken.Pushed) {
				t.Fatalf("os-upgrade to the broken image:\n%s", u.Output())
			}
			runs := h.KernelBoots()
			if a := h.Make(t, 2*time.Minute, "os-apply", "YES=1"); a.ExitCode != 0 || !strings.Contains(a.Stdout, "reboot:    soft") {
				t.Fatalf("os-apply of the broken image: want a soft reboot\n%s", a.Output())
			}
			h.AwaitReboot(t, 2*time.Minute)
			if h.KernelBoots() != runs {
				t.Fatalf("the broken image was not booted by a soft reboot")
			}
			out := h.SettleGreenboot(t, 3*time.Minute)
			t.Logf("greenboot outcomes, one per boot:\n  %s", strings.Join(out, "\n  "))
			if len(out) < 2 || !strings.HasPrefix(out[0], broken.Pushed+": red: ") || out[len(out)-1] != v2.Pushed+": green" {
				t.Fatalf("want the broken image red, then %s green after greenboot's rollback: %v\n%s", v2.Pushed, out, gateJournal(t, h))
			}
			requireVerified(t, h, v2.Pushed)
			requireStatus(t, h, "booted:    "+v2.Pushed, "bad:       "+broken.Pushed)
		}},
		{"3-upgrade-soft-again", func(t *testing.T) {
			v3 = softApply(t, 3)
			requireStatus(t, h, "booted:    "+v3.Pushed, "rollback:  "+v2.Pushed)
		}},
		{"4-rollback-full-reboot-forced", func(t *testing.T) {
			dt, soft := reboot(t, "os-rollback", "full (--full-reboot)", "FULL_REBOOT=1")
			if soft {
				t.Errorf("os-rollback FULL_REBOOT=1: the host's kernel kept running")
			}
			d.FullRollback = dt.Seconds()
			requireVerified(t, h, v2.Pushed)
		}},
		{"5-rollback-soft", func(t *testing.T) {
			// bootc rollback --soft-reboot=auto: the rollback deployment is
			// soft-reboot capable too. Back to v3, which the last rollback
			// recorded as bad: an operator may, with os-rollback.
			dt, soft := reboot(t, "os-rollback", "soft")
			if !soft {
				t.Errorf("os-rollback said soft, but the host's kernel booted again")
			}
			d.SoftRollback = dt.Seconds()
			requireVerified(t, h, v3.Pushed)
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			t.Fatalf("%s failed: the later steps depend on it", s.name)
		}
	}

	t.Logf("downtime: soft apply %.2fs, full rollback %.2fs, soft rollback %.2fs", d.SoftApply, d.FullRollback, d.SoftRollback)
	if p := os.Getenv("BENCH_REBOOT_OUT"); p != "" && !t.Failed() {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
