package simhost

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/lifecycle"
)

// The images of the health gate's scenarios: v7 is healthy but its hello
// takes slowStartSeconds to start; v8's hello cannot start at all.
const (
	slowStartVersion = 7
	slowStartSeconds = 15
	brokenVersion    = 8
	// The gate's timeout on the host (HEALTH_GATE_TIMEOUT): above the slow
	// start, short enough for the failing boots.
	gateTimeout = 45
)

// healthGateModify changes hello's unit in the images of the health gate's
// scenarios (dir is the copy of the repository the image is built from).
func healthGateModify(dir string, n int) error {
	p := filepath.Join(dir, "apps", "hello", "hello.service")
	var from, to string
	switch n {
	case slowStartVersion:
		from, to = "ExecStart=/usr/bin/hello\n", "ExecStartPre=/bin/sleep "+strconv.Itoa(slowStartSeconds)+"\nExecStart=/usr/bin/hello\n"
	case brokenVersion:
		from, to = "ExecStart=/usr/bin/hello\n", "ExecStart=/bin/false\n"
	default:
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), from) {
		return fmt.Errorf("%s has no %q line to change for image v%d", p, strings.TrimSpace(from), n)
	}
	return os.WriteFile(p, []byte(strings.Replace(string(b), from, to, 1)), 0o644)
}

// gateJournal is what the health gate wrote to the journal in this boot.
func gateJournal(t *testing.T, h *Host) string {
	t.Helper()
	r := h.SSH(t, time.Minute, "sudo journalctl -b 0 -t bootc-testboot/health-gate.sh --no-pager -o cat")
	if r.ExitCode != 0 {
		t.Fatalf("journalctl: %s", r.Output())
	}
	return r.Stdout
}

func wantOutcomes(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("greenboot outcomes, one per boot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("greenboot outcomes, one per boot:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// healthGateSteps: the automatic rollback on the host TestUpgradeApplyRollback
// leaves booted on v6 with v7 (slow to start, healthy) downloaded. greenboot
// is the rig's model (greenboot.go); the checks, the hooks and the records
// are the image's own, and no script is run by the test between the apply
// and the end of each step.
func healthGateSteps(step func(string, func(*testing.T)), f *fixture, lh *lifecycleHost, v7 published) {
	h := lh.h
	step("11-health-gate-slow-start-passes-records-good", func(t *testing.T) {
		// The healthy boots so far recorded the last known good digest.
		v6 := h.booted.digest
		requireStatus(t, h, "good:      "+v6, "health:    pass on "+v6)
		// Operator settings in /etc: a shorter gate, one failed boot before
		// greenboot rolls back (its own setting).
		if r := h.SSH(t, time.Minute, "sudo sh -c 'printf \"HEALTH_GATE=on\\nHEALTH_GATE_TIMEOUT="+strconv.Itoa(gateTimeout)+
			"\\n\" >/etc/bootc-testboot/health-gate.conf && mkdir -p /etc/greenboot && echo GREENBOOT_MAX_BOOT_ATTEMPTS=1 >/etc/greenboot/greenboot.conf'"); r.ExitCode != 0 {
			t.Fatalf("configuring the gate: %s", r.Output())
		}
		a := h.Make(t, 2*time.Minute, "os-apply", "YES=1")
		if a.ExitCode != 0 {
			t.Fatalf("os-apply v7:\n%s", a.Output())
		}
		h.AwaitReboot(t, 2*time.Minute)
		wantOutcomes(t, h.SettleGreenboot(t, 3*time.Minute), v7.Pushed+": green")
		requireVerified(t, h, v7.Pushed)
		requireStatus(t, h, "booted:    "+v7.Pushed, "good:      "+v7.Pushed, "health:    pass on "+v7.Pushed)
		// It passed by waiting: the first attempts found hello still starting.
		j := gateJournal(t, h)
		m := regexp.MustCompile(`health gate passed on ` + regexp.QuoteMeta(v7.Pushed) + ` after (\d+)s \((\d+) attempts\)`).FindStringSubmatch(j)
		if m == nil {
			t.Fatalf("journal: want the gate's pass on %s\n%s", v7.Pushed, j)
		}
		if n, _ := strconv.Atoi(m[2]); n < 2 {
			t.Errorf("the gate passed at its first attempt (%s): hello's %ds start was not waited for", m[0], slowStartSeconds)
		}
		if !strings.Contains(j, "last known good: "+v7.Pushed) {
			t.Errorf("journal: want the last known good line\n%s", j)
		}
	})

	var v8 published
	step("12-health-gate-broken-app-rolls-back-by-itself", func(t *testing.T) {
		img := f.build(t, brokenVersion)
		lh.add(img)
		lifecycle.AutomaticRollback(t, lh, img.Version, "unit:hello.service", v7.Pushed)
		v8 = lh.pushed[img.Version]
		// First failure: greenboot sets the counter and reboots; the counter
		// runs out in GRUB; the second failure rolls back to v7.
		wantOutcomes(t, lh.outcomes,
			v8.Pushed+": red: boot_counter set to 1", v8.Pushed+": red: rolled back from "+v8.Pushed, v7.Pushed+": green")
		requireStatus(t, h, "good:      "+v7.Pushed)
		if j := gateJournal(t, h); !strings.Contains(j, "automatic rollback: "+v8.Pushed+" failed the health gate (unit:hello.service") {
			t.Errorf("journal: want the automatic rollback line naming the failed check\n%s", j)
		}
	})

	step("13-health-gate-rollback-also-unhealthy-no-loop", func(t *testing.T) {
		// v7's hello breaks through /etc (the merge carries the drop-in to v8
		// as well); v8 is forced past its bad record.
		if r := h.SSH(t, time.Minute, "sudo sh -c 'mkdir -p /etc/systemd/system/hello.service.d && "+
			"printf \"[Service]\\nExecStart=\\nExecStart=/bin/false\\n\" >/etc/systemd/system/hello.service.d/50-broken.conf'"); r.ExitCode != 0 {
			t.Fatalf("breaking hello in /etc: %s", r.Output())
		}
		if r := h.SSH(t, 5*time.Minute, "sudo bootc-testboot-upgrade download --force"); r.ExitCode != 0 || !strings.Contains(r.Stdout, "staged:    "+v8.Pushed) {
			t.Fatalf("upgrade-os.sh download --force:\n%s", r.Output())
		}
		if r := h.SSH(t, 2*time.Minute, "sudo bootc-testboot-upgrade apply --yes --force"); r.ExitCode != 0 {
			t.Fatalf("upgrade-os.sh apply --force:\n%s", r.Output())
		}
		h.AwaitReboot(t, 2*time.Minute)
		wantOutcomes(t, h.SettleGreenboot(t, 3*time.Minute),
			v8.Pushed+": red: boot_counter set to 1", v8.Pushed+": red: rolled back from "+v8.Pushed, v7.Pushed+": green")
		last := h.readHealthLast(t)
		if last["result"] != "held" || last["digest"] != v7.Pushed {
			t.Fatalf("the gate's result on v7 with hello broken: want held, got %v", last)
		}
		// It stays on v7: no further reboot, SSH answers, status says why.
		if h.RebootedWithin(t, 20*time.Second) {
			t.Fatalf("the host rebooted again after the rollback: a loop")
		}
		requireStatus(t, h, "booted:    "+v7.Pushed, "rollback:  "+v8.Pushed,
			"health:    held on "+v7.Pushed, "waiting for an operator", "unit:hello.service")
		if j := gateJournal(t, h); !strings.Contains(j, "the rollback deployment "+v8.Pushed+" is recorded as bad") {
			t.Errorf("journal: want the held decision\n%s", j)
		}
		if r := h.SSH(t, time.Minute, "sudo cat /var/lib/bootc-testboot/last-known-good"); !strings.HasPrefix(r.Stdout, v7.Pushed) {
			t.Errorf("last known good after a held boot: want still %s\n%s", v7.Pushed, r.Output())
		}
	})
}
