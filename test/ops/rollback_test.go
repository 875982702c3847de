package ops

import (
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

func TestRollbackRebootsIntoPreviousAndRecordsBadDigest(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	stageDownload(t, d) // a staged deployment the rollback discards
	r := d.RunCmd(t, harness.Cmd{Script: "rollback-os.sh", Args: []string{"--yes"}, Timeout: 20 * time.Second})
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	for _, want := range []string{"will boot: " + v0 + " (version v0", "leaving:   " + v1 + " (version v1"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.Stdout)
		}
	}
	for _, want := range []string{"/var is not rolled back", "the staged deployment " + v2 + " will be discarded"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("no warning %q:\n%s", want, r.Stderr)
		}
	}
	if len(harness.Find(r.Calls, "systemd-run", "--unit=bootc-testboot-rollback", "bootc", "rollback", "--apply")) != 1 {
		t.Fatalf("no detached bootc rollback --apply:\n%s", harness.FormatCalls(r.Calls))
	}
	d.WaitForCall(t, 10*time.Second, "systemctl", "reboot")
	h := d.Bootc(t)
	if !h.Status.RollbackQueued || h.Status.Staged != nil {
		t.Errorf("want rollback queued and staged dropped: queued=%v staged=%+v", h.Status.RollbackQueued, h.Status.Staged)
	}
	bad := harness.ReadFile(t, stateFile(d, "bad-digests"))
	if !strings.HasPrefix(bad, v1+"\t") || !strings.HasSuffix(bad, "\tv1\trolled back by rollback-os.sh\n") {
		t.Errorf("bad-digests = %q, want the abandoned %s", bad, v1)
	}
}

func TestRolledBackDigestIsRefusedByUpgrades(t *testing.T) {
	t.Parallel()
	// After a rollback from v1 to v0, the registry still serves v1: it must not come back.
	d := harness.NewDoubles(t)
	h := harness.BootcHost(harness.Img("v0"))
	h.Status.Rollback = harness.Entry(harness.Img("v1"))
	d.SetBootc(t, h)
	d.SetRegistry(t, harness.Img("v1"))
	d.Set(t, "../var-lib-bootc-testboot/bad-digests", v1+"\t2026-01-01T00:00:00Z\tv1\n")
	r := d.Run(t, "upgrade-os.sh", "check")
	if r.ExitCode != 10 || !strings.Contains(r.Stderr, "recorded as bad by a rollback") {
		t.Errorf("check: exit %d, want 10 and a warning\n%s", r.ExitCode, r.Output())
	}
	r = d.Run(t, "upgrade-os.sh", "download")
	lastErrorLine(t, r, 1, "recorded as bad by a rollback")
	d.AssertNoMutation(t)
}

func TestRollbackOnOldBootc(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	d.SetBootcVersion(t, "1.1.2")
	r := d.Run(t, "rollback-os.sh", "--yes")
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	var seq []string
	for _, c := range r.Calls {
		if c.Has("bootc", "rollback") || c.Has("systemctl", "reboot") || c.Tool == "systemd-run" {
			seq = append(seq, c.String())
		}
	}
	if strings.Join(seq, ",") != "bootc rollback,systemctl reboot" {
		t.Errorf("want bootc rollback then systemctl reboot, got %q", seq)
	}
	if !exists(stateFile(d, "bad-digests")) {
		t.Error("abandoned digest not recorded")
	}
}

func TestRollbackWithoutRollbackDeployment(t *testing.T) {
	t.Parallel()
	d := harness.NewDoubles(t)
	d.SetBootc(t, harness.BootcHost(harness.Img("v1")))
	r := d.Run(t, "rollback-os.sh", "--yes")
	errorLine(t, r, 1, "there is no rollback deployment")
	d.AssertNoMutation(t)
	if exists(stateFile(d, "bad-digests")) {
		t.Error("recorded a bad digest without rolling back")
	}
}

func TestRollbackAlreadyQueued(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	h := d.Bootc(t)
	h.Status.RollbackQueued = true
	h.Spec.BootOrder = "rollback"
	d.SetBootc(t, h)
	r := d.Run(t, "rollback-os.sh", "--yes")
	errorLine(t, r, 1, "a rollback is already queued")
	d.AssertNoMutation(t)
}

func TestRollbackAsksWithoutYes(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	r := d.RunCmd(t, harness.Cmd{Script: "rollback-os.sh", Stdin: "y\n"})
	lastErrorLine(t, r, 1, "refusing without a terminal; pass --yes")
	d.AssertNoMutation(t)
	if exists(stateFile(d, "bad-digests")) {
		t.Error("recorded a bad digest without rolling back")
	}
}

func TestRollbackNotABootcHost(t *testing.T) {
	t.Parallel()
	d := harness.NewDoubles(t)
	d.SetBootc(t, harness.NotBootcHost())
	r := d.Run(t, "rollback-os.sh", "--yes")
	errorLine(t, r, 1, "not booted via bootc")
	d.AssertNoMutation(t)
}

func TestRollbackConcurrentRunRefused(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	holdLock(t, d)
	r := d.Run(t, "rollback-os.sh", "--yes")
	errorLine(t, r, 3, "another bootc-testboot operation is running")
	d.AssertNoMutation(t)
}

func TestRollbackBadInputAndNotRoot(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--force"}, "unknown option '--force'"},
		{[]string{"now"}, "unexpected argument 'now'"},
		{[]string{"--yes", "; reboot"}, "unexpected argument '; reboot'"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			d := newHost(t)
			r := d.Run(t, "rollback-os.sh", c.args...)
			errorLine(t, r, 2, c.want)
			if len(harness.Find(d.Calls(t), "bootc")) != 0 {
				t.Errorf("bad input reached bootc")
			}
			d.AssertNoMutation(t)
		})
	}
	t.Run("not root", func(t *testing.T) {
		d := newHost(t)
		d.SetUID(t, 1000)
		r := d.Run(t, "rollback-os.sh", "--yes")
		errorLine(t, r, 1, "must run as root")
		d.AssertNoMutation(t)
	})
}
