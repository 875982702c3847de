package ops

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

var (
	v0 = harness.Img("v0").ImageDigest
	v1 = harness.Img("v1").ImageDigest
	v2 = harness.Img("v2").ImageDigest
)

func TestStatusSummarisesDeployments(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	h := d.Bootc(t)
	h.Status.Staged = harness.Entry(harness.Img("v2"))
	h.Status.Staged.DownloadOnly = true
	// A stale cache bootc left on the booted deployment must not be reported.
	h.Status.Booted.CachedUpdate = harness.Img("v0")
	d.SetBootc(t, h)
	if r := d.Run(t, "upgrade-os.sh", "check"); r.ExitCode != 10 {
		t.Fatalf("check: exit %d\n%s", r.ExitCode, r.Output())
	}
	r := d.Run(t, "upgrade-os.sh", "status")
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	for _, want := range []string{
		"image:     " + harness.DefaultRef,
		"booted:    " + v1 + " (version v1, built 2026-01-02T03:04:05Z)",
		"staged:    " + v2 + " (version v2",
		"download-only: applied only by \"upgrade-os.sh apply\"",
		"rollback:  " + v0 + " (version v0",
		"update:    " + v2 + " (version v2, built 2026-01-03T03:04:05Z) at the last check (",
		"), staged",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.Stdout)
		}
	}
	d.AssertNoMutation(t)
}

func TestStatusNothingStagedNoRollback(t *testing.T) {
	t.Parallel()
	d := harness.NewDoubles(t)
	d.SetBootc(t, harness.BootcHost(harness.Img("v1")))
	r := d.Run(t, "upgrade-os.sh", "status")
	for _, want := range []string{"staged:    none", "rollback:  none", "update:    unknown (run \"upgrade-os.sh check\")"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.Output())
		}
	}
}

func TestStatusJSONIsBootcDocument(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	r := d.Run(t, "upgrade-os.sh", "status", "--json")
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	var h harness.Host
	if err := json.Unmarshal([]byte(r.Stdout), &h); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.Stdout)
	}
	if h.APIVersion != "org.containers.bootc/v1" || h.Status.Booted.Image.ImageDigest != v1 {
		t.Errorf("unexpected document: %s", r.Stdout)
	}
	if len(harness.Find(r.Calls, "bootc", "status", "--format=json", "--format-version=1")) != 1 {
		t.Errorf("status not read as JSON v1:\n%s", harness.FormatCalls(r.Calls))
	}
}

func TestNotABootcHost(t *testing.T) {
	t.Parallel()
	for _, action := range []string{"status", "check", "download", "apply"} {
		t.Run(action, func(t *testing.T) {
			d := harness.NewDoubles(t)
			d.SetBootc(t, harness.NotBootcHost())
			args := []string{action}
			if action == "apply" {
				args = append(args, "--yes")
			}
			r := d.Run(t, "upgrade-os.sh", args...)
			errorLine(t, r, 1, "not booted via bootc")
			d.AssertNoMutation(t)
		})
	}
}

func TestMalformedStatusJSON(t *testing.T) {
	t.Parallel()
	d := harness.NewDoubles(t)
	d.Set(t, "bootc/status.json", `{"apiVersion": "org.containers.bootc/v1", "status": {`)
	r := d.Run(t, "upgrade-os.sh", "status")
	errorLine(t, r, 1, "bootc status did not print a status document")
	d.AssertNoMutation(t)
}

func TestCheckUpToDate(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	d.SetRegistry(t, harness.Img("v1"))
	r := d.Run(t, "upgrade-os.sh", "check")
	if r.ExitCode != 0 || lastLine(r.Stdout) != "up to date" {
		t.Fatalf("exit %d, want 0 and 'up to date'\n%s", r.ExitCode, r.Output())
	}
	if len(harness.Find(r.Calls, "skopeo", "inspect", "--raw", "--no-creds", "docker://"+harness.DefaultRef)) != 1 {
		t.Errorf("the registry was not asked for the tracked reference:\n%s", harness.FormatCalls(r.Calls))
	}
	d.AssertNoMutation(t)
}

func TestCheckUpdateAvailable(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	r := d.Run(t, "upgrade-os.sh", "check")
	if r.ExitCode != 10 {
		t.Fatalf("exit %d, want 10 (update available)\n%s", r.ExitCode, r.Output())
	}
	for _, want := range []string{"booted:    " + v1 + " (version v1", "available: " + v2 + " (version v2", "update available"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if d.Bootc(t).Status.Staged != nil {
		t.Error("check staged something")
	}
	d.AssertNoMutation(t)
	if len(harness.Find(r.Calls, "logger", "--tag", "bootc-testboot/upgrade-os.sh")) == 0 {
		t.Errorf("check not logged to the journal:\n%s", harness.FormatCalls(r.Calls))
	}
}

func TestCheckFailsWhenRegistryUnreachable(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	d.Set(t, "registry/fail", `pinging container registry ghcr.io: Get "https://ghcr.io/v2/": dial tcp: connection refused`)
	r := d.Run(t, "upgrade-os.sh", "check")
	lastErrorLine(t, r, 1, "cannot read "+harness.DefaultRef+" from the registry")
	if !strings.Contains(lastLine(r.Stderr), "connection refused") {
		t.Errorf("bootc's own error not shown:\n%s", r.Stderr)
	}
	d.AssertNoMutation(t)
}

func TestDownloadStagesLockedAndRecordsDigest(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	r := d.Run(t, "upgrade-os.sh", "download")
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	st := d.Bootc(t).Status.Staged
	if st == nil || st.Image.ImageDigest != v2 || !st.DownloadOnly {
		t.Fatalf("want v2 staged download-only, got %+v", st)
	}
	if got := strings.TrimSpace(harness.ReadFile(t, stateFile(d, "expected-digest"))); got != v2 {
		t.Errorf("expected-digest = %q, want %q", got, v2)
	}
	if !strings.Contains(r.Stderr, "a reboot before 'upgrade-os.sh apply' discards this download") {
		t.Errorf("no warning about reboots:\n%s", r.Stderr)
	}
	// The registry is asked first: the digest is judged before anything is downloaded.
	var order []string
	for _, c := range r.Calls {
		if (c.Tool == "bootc" && len(c.Args) > 0 && c.Args[0] == "upgrade") || c.Tool == "skopeo" {
			order = append(order, c.Tool+" "+c.Args[0]+" "+c.Args[1])
		}
	}
	if strings.Join(order, ",") != "skopeo inspect --raw,skopeo inspect --config,bootc upgrade --download-only" {
		t.Errorf("calls: %q", order)
	}
	for _, c := range r.Calls {
		if c.Has("bootc", "--apply") || c.Tool == "systemd-run" || c.Tool == "reboot" || c.Has("systemctl", "reboot") {
			t.Errorf("download must not reboot: %s", c)
		}
	}
}

func TestDownloadWhenUpToDateDoesNothing(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	d.SetRegistry(t, harness.Img("v1"))
	r := d.Run(t, "upgrade-os.sh", "download")
	if r.ExitCode != 0 || lastLine(r.Stdout) != "up to date" {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	d.AssertNoMutation(t)
}

func TestDownloadTwiceDownloadsOnce(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	d.Run(t, "upgrade-os.sh", "download")
	r := d.Run(t, "upgrade-os.sh", "download")
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	if n := len(harness.Find(r.Calls, "bootc", "upgrade", "--download-only")); n != 0 {
		t.Errorf("second download pulled again (%d calls)", n)
	}
}

func TestDownloadOnOldBootc(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	d.SetBootcVersion(t, "1.10.0")
	r := d.Run(t, "upgrade-os.sh", "download")
	errorLine(t, r, 1, "--download-only needs bootc >= 1.12.0")
	if !strings.Contains(r.Stderr, "instead run 'sudo bootc upgrade' (it stages the update for the next reboot") {
		t.Errorf("no advice for old hosts:\n%s", r.Stderr)
	}
	d.AssertNoMutation(t)
}

func TestDownloadRefusesBadDigest(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	d.Set(t, "../var-lib-bootc-testboot/bad-digests", v2+"\t2026-01-01T00:00:00Z\tv2\n")
	r := d.Run(t, "upgrade-os.sh", "download")
	lastErrorLine(t, r, 1, "recorded as bad by a rollback")
	if !strings.Contains(r.Stderr, "--force") {
		t.Errorf("no hint at --force:\n%s", r.Stderr)
	}
	d.AssertNoMutation(t)
	if d.Bootc(t).Status.Staged != nil {
		t.Error("a bad digest was staged")
	}

	r = d.Run(t, "upgrade-os.sh", "download", "--force")
	if r.ExitCode != 0 || d.Bootc(t).Status.Staged == nil {
		t.Fatalf("--force did not download: exit %d\n%s", r.ExitCode, r.Output())
	}
}

func TestDownloadFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	// The check works, the download fails (e.g. disk full).
	d.SetBootcVersion(t, "1.16.9")
	r := d.Run(t, "upgrade-os.sh", "check")
	if r.ExitCode != 10 {
		t.Fatalf("check: %d", r.ExitCode)
	}
	d.Set(t, "bootc/fail-upgrade", "error: Upgrading: Insufficient free space")
	r = d.Run(t, "upgrade-os.sh", "download")
	lastErrorLine(t, r, 1, "failed")
	if exists(stateFile(d, "expected-digest")) {
		t.Error("expected-digest recorded although nothing was downloaded")
	}
}

// stageDownload brings the host to "v2 downloaded".
func stageDownload(t *testing.T, d *harness.Doubles) {
	t.Helper()
	if r := d.Run(t, "upgrade-os.sh", "download"); r.ExitCode != 0 {
		t.Fatalf("download: exit %d\n%s", r.ExitCode, r.Output())
	}
}

func TestApplyRebootsDetachedAndReturns(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	stageDownload(t, d)
	start := time.Now()
	r := d.RunCmd(t, harness.Cmd{Script: "upgrade-os.sh", Args: []string{"apply", "--yes"}, Timeout: 20 * time.Second})
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("apply waited for the reboot")
	}
	if !strings.Contains(r.Stdout, "verify-instance.sh --expect-digest "+v2) {
		t.Errorf("no follow-up hint:\n%s", r.Stdout)
	}
	units := harness.Find(r.Calls, "systemd-run", "--unit=bootc-testboot-apply", "--collect", "bootc", "upgrade", "--from-downloaded", "--apply")
	if len(units) != 1 {
		t.Fatalf("apply not started as a detached unit:\n%s", harness.FormatCalls(r.Calls))
	}
	// The detached bootc asks systemd to reboot, as upstream does.
	d.WaitForCall(t, 10*time.Second, "systemctl", "reboot")
	if st := d.Bootc(t).Status.Staged; st == nil || st.DownloadOnly {
		t.Errorf("the staged deployment is still locked: %+v", st)
	}
}

func TestApplyNothingStaged(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	r := d.Run(t, "upgrade-os.sh", "apply", "--yes")
	errorLine(t, r, 1, "nothing is staged; run 'upgrade-os.sh download' first")
	d.AssertNoMutation(t)
}

func TestApplyAsksWithoutYes(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	stageDownload(t, d)
	r := d.RunCmd(t, harness.Cmd{Script: "upgrade-os.sh", Args: []string{"apply"}, Stdin: "y\n"})
	lastErrorLine(t, r, 1, "refusing without a terminal; pass --yes")
	if m := harness.Mutations(r.Calls); len(m) != 0 {
		t.Errorf("apply without confirmation mutated:\n%s", harness.FormatCalls(m))
	}
	if st := d.Bootc(t).Status.Staged; st == nil || !st.DownloadOnly {
		t.Error("the download was unlocked without confirmation")
	}
}

func TestApplyRefusesBadOrUnexpectedDigest(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	stageDownload(t, d)
	d.Set(t, "../var-lib-bootc-testboot/bad-digests", v2+"\t2026-01-01T00:00:00Z\tv2\n")
	r := d.Run(t, "upgrade-os.sh", "apply", "--yes")
	lastErrorLine(t, r, 1, "recorded as bad by a rollback")
	if m := harness.Mutations(r.Calls); len(m) != 0 {
		t.Errorf("mutated:\n%s", harness.FormatCalls(m))
	}

	d2 := newHost(t)
	stageDownload(t, d2)
	d2.Set(t, "../var-lib-bootc-testboot/expected-digest", v0+"\n")
	r = d2.Run(t, "upgrade-os.sh", "apply", "--yes")
	lastErrorLine(t, r, 1, "is not the one 'download' recorded")
	if m := harness.Mutations(r.Calls); len(m) != 0 {
		t.Errorf("mutated:\n%s", harness.FormatCalls(m))
	}
	r = d2.Run(t, "upgrade-os.sh", "apply", "--yes", "--force")
	if r.ExitCode != 0 {
		t.Fatalf("--force: exit %d\n%s", r.ExitCode, r.Output())
	}
	d2.WaitForCall(t, 10*time.Second, "systemctl", "reboot")
}

func TestApplyOnOldBootcReboots(t *testing.T) {
	t.Parallel()
	// bootc < 1.12 stages with a plain `bootc upgrade`; any orderly reboot applies it.
	d := newHost(t)
	d.SetBootcVersion(t, "1.10.0")
	h := d.Bootc(t)
	h.Status.Staged = harness.Entry(harness.Img("v2"))
	d.SetBootc(t, h)
	r := d.Run(t, "upgrade-os.sh", "apply", "--yes")
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	if len(harness.Find(r.Calls, "systemd-run", "--unit=bootc-testboot-apply", "systemctl", "reboot")) != 1 {
		t.Errorf("want a detached systemctl reboot:\n%s", harness.FormatCalls(r.Calls))
	}
	if len(harness.Find(r.Calls, "bootc", "--from-downloaded")) != 0 {
		t.Error("--from-downloaded used on bootc 1.10")
	}
	d.WaitForCall(t, 10*time.Second, "systemctl", "reboot")
}

func TestConcurrentRunsAreRefused(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"check"}, {"download"}, {"apply", "--yes"}} {
		t.Run(args[0], func(t *testing.T) {
			d := newHost(t)
			holdLock(t, d)
			r := d.Run(t, "upgrade-os.sh", args...)
			errorLine(t, r, 3, "another bootc-testboot operation is running")
			if n := len(harness.Find(r.Calls, "bootc", "upgrade")); n != 0 {
				t.Errorf("ran bootc upgrade while locked")
			}
			d.AssertNoMutation(t)
		})
	}
}

func TestUpgradeBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{nil, "no action given"},
		{[]string{"upgrade"}, "unknown action 'upgrade'"},
		{[]string{"check", "download"}, "one action at a time"},
		{[]string{"check", "--bogus"}, "unknown option '--bogus'"},
		{[]string{"--json", "check"}, "--json is for status only"},
		{[]string{"check", "--yes"}, "--yes is for apply only"},
		{[]string{"status", "--force"}, "--force is for download and apply only"},
		{[]string{"$(touch /tmp/testboot-pwned)"}, "unknown action"},
		{[]string{"apply; reboot"}, "unknown action"},
		{[]string{""}, "unknown action"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			d := newHost(t)
			r := d.Run(t, "upgrade-os.sh", c.args...)
			errorLine(t, r, 2, c.want)
			if n := len(harness.Find(d.Calls(t), "bootc")); n != 0 {
				t.Errorf("bad input reached bootc:\n%s", harness.FormatCalls(d.Calls(t)))
			}
			d.AssertNoMutation(t)
		})
	}
	if exists("/tmp/testboot-pwned") {
		t.Error("an argument was evaluated")
	}
}

func TestUpgradeNotRoot(t *testing.T) {
	t.Parallel()
	for _, action := range []string{"status", "check", "download", "apply"} {
		t.Run(action, func(t *testing.T) {
			d := newHost(t)
			d.SetUID(t, 1000)
			r := d.Run(t, "upgrade-os.sh", action)
			errorLine(t, r, 1, "must run as root")
			d.AssertNoMutation(t)
		})
	}
}

// The operations lock must not be something any local user can hold: its directory is
// root's alone, both as tmpfiles creates it at boot and as the scripts create it.
func TestLockDirectoryIsRootOnly(t *testing.T) {
	t.Parallel()
	conf := harness.ReadFile(t, harness.Path("configs", "tmpfiles.conf"))
	common := harness.ReadFile(t, harness.Path("scripts", "lib", "common.sh"))
	m := regexp.MustCompile(`TESTBOOT_LOCK:-(/run/[^}]+)/lock\}`).FindStringSubmatch(common)
	if m == nil {
		t.Fatal("no default lock path in scripts/lib/common.sh")
	}
	if !regexp.MustCompile(`(?m)^d\s+` + regexp.QuoteMeta(m[1]) + `\s+0700\s+root\s+root\s`).MatchString(conf) {
		t.Errorf("configs/tmpfiles.conf does not create %s as 0700 root root", m[1])
	}
	d := newHost(t)
	d.Lock = filepath.Join(t.TempDir(), "fresh", "lock")
	if r := d.Run(t, "upgrade-os.sh", "check"); r.ExitCode != 10 {
		t.Fatalf("check: %d\n%s", r.ExitCode, r.Output())
	}
	info, err := os.Stat(filepath.Dir(d.Lock))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o700 {
		t.Errorf("the scripts created the lock directory with mode %o, want 700", perm)
	}
}
