package ops

// The update decision through the unchanged scripts, in every situation where bootc's own
// cache (status.*.cachedUpdate, `upgrade --check`) names the wrong image: after a
// download, after a rollback, with the tag moved back, with a stale cache. The bootc
// double follows upstream's rules (see its header), so these scenarios run on the same
// state a real host would have.

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

var v3 = harness.Img("v3").ImageDigest

// lifecycleHost: a fresh install of v1 (nothing staged, no rollback); the registry serves v1.
func lifecycleHost(t *testing.T) *harness.Doubles {
	t.Helper()
	harness.Require(t, "flock")
	d := harness.NewDoubles(t)
	d.SetBootc(t, harness.BootcHost(harness.Img("v1")))
	d.SetRegistry(t, harness.Img("v1"))
	return d
}

// run runs upgrade-os.sh or rollback-os.sh and checks the exit code.
func run(t *testing.T, d *harness.Doubles, code int, script string, args ...string) harness.Result {
	t.Helper()
	r := d.RunCmd(t, harness.Cmd{Script: script, Args: args, Timeout: 20 * time.Second})
	if r.ExitCode != code {
		t.Fatalf("%s %s: exit %d, want %d\n%s", script, strings.Join(args, " "), r.ExitCode, code, r.Output())
	}
	return r
}

// applyAndReboot runs `apply --yes` and waits for the host to come back.
func applyAndReboot(t *testing.T, d *harness.Doubles) {
	t.Helper()
	boots := d.Boots(t)
	run(t, d, 0, "upgrade-os.sh", "apply", "--yes")
	d.WaitForBoots(t, boots+1, 10*time.Second)
}

// rollbackAndReboot runs rollback-os.sh --yes and waits for the host to come back.
func rollbackAndReboot(t *testing.T, d *harness.Doubles) {
	t.Helper()
	boots := d.Boots(t)
	run(t, d, 0, "rollback-os.sh", "--yes")
	d.WaitForBoots(t, boots+1, 10*time.Second)
}

func wantBooted(t *testing.T, d *harness.Doubles, digest string) {
	t.Helper()
	if got := d.Bootc(t).Status.Booted.Image.ImageDigest; got != digest {
		t.Fatalf("booted %s, want %s", got, digest)
	}
}

func wantStaged(t *testing.T, d *harness.Doubles, digest string, locked bool) {
	t.Helper()
	st := d.Bootc(t).Status.Staged
	if st == nil || st.Image.ImageDigest != digest || st.DownloadOnly != locked {
		t.Fatalf("staged %+v, want %s (download-only %v)", st, digest, locked)
	}
	if got := strings.TrimSpace(harness.ReadFile(t, stateFile(d, "expected-digest"))); got != digest {
		t.Errorf("expected-digest %s, want %s", got, digest)
	}
}

func wantLine(t *testing.T, r harness.Result, line string) {
	t.Helper()
	if !strings.Contains(r.Stdout, line) {
		t.Errorf("stdout lacks %q:\n%s", line, r.Output())
	}
}

func TestFirstUpdateDownloadApply(t *testing.T) {
	t.Parallel()
	d := lifecycleHost(t)
	run(t, d, 0, "upgrade-os.sh", "check")
	d.SetRegistry(t, harness.Img("v2"))
	r := run(t, d, 10, "upgrade-os.sh", "check")
	wantLine(t, r, "available: "+v2+" (version v2, built 2026-01-03T03:04:05Z)")
	run(t, d, 0, "upgrade-os.sh", "download")
	wantStaged(t, d, v2, true)
	r = run(t, d, 10, "upgrade-os.sh", "check")
	wantLine(t, r, "staged:    already downloaded")
	applyAndReboot(t, d)
	wantBooted(t, d, v2)
	run(t, d, 0, "upgrade-os.sh", "check")
}

func TestNewerImageAfterDownloadReplacesIt(t *testing.T) {
	t.Parallel()
	d := lifecycleHost(t)
	d.SetRegistry(t, harness.Img("v2"))
	run(t, d, 0, "upgrade-os.sh", "download")
	d.SetRegistry(t, harness.Img("v3"))

	// bootc's own answer now sits on the staged v2 (the last pulled image), and the booted
	// cache still names v2: exactly what misled the scripts before.
	r := run(t, d, 10, "upgrade-os.sh", "check")
	if h := d.Bootc(t); h.Status.Staged.CachedUpdate != nil {
		t.Errorf("the check changed bootc's state: %+v", h.Status.Staged.CachedUpdate)
	}
	wantLine(t, r, "available: "+v3+" (version v3")
	wantLine(t, r, "staged:    "+v2+" (version v2, built 2026-01-03T03:04:05Z), which the registry no longer serves")

	r = run(t, d, 0, "upgrade-os.sh", "download")
	wantStaged(t, d, v3, true)
	if !strings.Contains(r.Stderr, "replacing the staged "+v2+" with "+v3) {
		t.Errorf("replacement not reported:\n%s", r.Stderr)
	}
	applyAndReboot(t, d)
	wantBooted(t, d, v3)
	if rb := d.Bootc(t).Status.Rollback; rb == nil || rb.Image.ImageDigest != v1 {
		t.Errorf("rollback %+v, want v1", rb)
	}
}

// upgradedThenRolledBack: v1 -> v2 applied, then rolled back to v1 (v2 recorded as bad).
func upgradedThenRolledBack(t *testing.T) *harness.Doubles {
	t.Helper()
	d := lifecycleHost(t)
	d.SetRegistry(t, harness.Img("v2"))
	run(t, d, 10, "upgrade-os.sh", "check") // bootc caches v2 on v1's commit: booted.cachedUpdate = v2
	run(t, d, 0, "upgrade-os.sh", "download")
	applyAndReboot(t, d)
	rollbackAndReboot(t, d)
	wantBooted(t, d, v1)
	if h := d.Bootc(t); h.Status.Rollback == nil || h.Status.Rollback.Image.ImageDigest != v2 {
		t.Fatalf("rollback deployment %+v, want v2", h.Status.Rollback)
	}
	return d
}

func TestFixedImageAfterRollbackIsTaken(t *testing.T) {
	t.Parallel()
	d := upgradedThenRolledBack(t)
	// The bad v2 is still on the tag: not an update anyone should take.
	run(t, d, 1, "upgrade-os.sh", "download")
	d.SetRegistry(t, harness.Img("v3"))

	r := run(t, d, 10, "upgrade-os.sh", "check")
	wantLine(t, r, "available: "+v3+" (version v3")
	// What bootc itself shows at this point (store.rs cache_pending on the last pulled v2):
	h := d.Bootc(t)
	if h.Status.Booted.CachedUpdate == nil || h.Status.Booted.CachedUpdate.ImageDigest != v2 {
		t.Errorf("booted.cachedUpdate %+v, want the stale v2", h.Status.Booted.CachedUpdate)
	}
	if h.Status.Rollback.CachedUpdate != nil {
		t.Errorf("check wrote bootc's cache: %+v", h.Status.Rollback.CachedUpdate)
	}

	run(t, d, 0, "upgrade-os.sh", "download")
	wantStaged(t, d, v3, true)
	applyAndReboot(t, d)
	wantBooted(t, d, v3)
}

func TestTagMovedBackAfterRollback(t *testing.T) {
	t.Parallel()
	d := upgradedThenRolledBack(t)
	d.SetRegistry(t, harness.Img("v1"))
	r := run(t, d, 0, "upgrade-os.sh", "check")
	wantLine(t, r, "available: same as booted")
	r = run(t, d, 0, "upgrade-os.sh", "download")
	if lastLine(r.Stdout) != "up to date" {
		t.Errorf("download: %s", r.Output())
	}
	if m := harness.Mutations(r.Calls); len(m) != 0 {
		t.Errorf("download changed something:\n%s", harness.FormatCalls(m))
	}
	r = run(t, d, 0, "upgrade-os.sh", "status")
	wantLine(t, r, "update:    none at the last check")
}

func TestStaleCacheWithNothingNew(t *testing.T) {
	t.Parallel()
	d := lifecycleHost(t)
	h := d.Bootc(t)
	h.Status.Booted.CachedUpdate = harness.Img("v2") // written by a check long ago
	d.SetBootc(t, h)
	r := run(t, d, 0, "upgrade-os.sh", "check")
	wantLine(t, r, "available: same as booted")
	run(t, d, 0, "upgrade-os.sh", "download")
	d.AssertNoMutation(t)
	r = run(t, d, 0, "upgrade-os.sh", "status")
	wantLine(t, r, "update:    none at the last check")
}

func TestNothingAnywhere(t *testing.T) {
	t.Parallel()
	d := lifecycleHost(t)
	r := run(t, d, 0, "upgrade-os.sh", "check")
	if lastLine(r.Stdout) != "up to date" {
		t.Errorf("check: %s", r.Output())
	}
	run(t, d, 0, "upgrade-os.sh", "download")
	errorLine(t, d.Run(t, "upgrade-os.sh", "apply", "--yes"), 1, "nothing is staged")
	d.AssertNoMutation(t)
}

func TestDownloadThenTagMovedBackKeepsDownloadLocked(t *testing.T) {
	t.Parallel()
	d := lifecycleHost(t)
	d.SetRegistry(t, harness.Img("v2"))
	run(t, d, 0, "upgrade-os.sh", "download")
	d.SetRegistry(t, harness.Img("v1"))
	r := run(t, d, 0, "upgrade-os.sh", "download")
	if !strings.Contains(r.Stderr, "the staged deployment "+v2+" is not what the registry serves") {
		t.Errorf("no word about the stale download:\n%s", r.Stderr)
	}
	if m := harness.Mutations(r.Calls); len(m) != 0 {
		t.Errorf("download changed something:\n%s", harness.FormatCalls(m))
	}
	wantStaged(t, d, v2, true)
}

func TestOlderImageIsNotAnUpdate(t *testing.T) {
	t.Parallel()
	d := lifecycleHost(t)
	h := d.Bootc(t)
	h.Status.Booted = harness.Entry(harness.Img("v5"))
	d.SetBootc(t, h)
	// A newer-looking name on an older build: the build time decides.
	old := harness.ImgBuilt("v6", "2026-01-02T00:00:00Z")
	d.SetRegistry(t, old)
	r := run(t, d, 11, "upgrade-os.sh", "check")
	if lastLine(r.Stdout) != "older image: not an update" || !strings.Contains(r.Stderr, "before the booted image") {
		t.Errorf("check output:\n%s", r.Output())
	}
	r = d.Run(t, "upgrade-os.sh", "download")
	lastErrorLine(t, r, 1, "is refused as a downgrade: it was built 2026-01-02T00:00:00Z, before the booted image (2026-01-06T03:04:05Z) (--allow-downgrade accepts it)")
	d.AssertNoMutation(t)

	run(t, d, 0, "upgrade-os.sh", "download", "--allow-downgrade")
	wantStaged(t, d, old.ImageDigest, true)
	r = d.Run(t, "upgrade-os.sh", "apply", "--yes")
	lastErrorLine(t, r, 1, "the staged image "+old.ImageDigest+" is refused as a downgrade")
	if m := harness.Mutations(r.Calls); len(m) != 0 {
		t.Errorf("apply changed something:\n%s", harness.FormatCalls(m))
	}
	boots := d.Boots(t)
	run(t, d, 0, "upgrade-os.sh", "apply", "--yes", "--allow-downgrade")
	d.WaitForBoots(t, boots+1, 10*time.Second)
	wantBooted(t, d, old.ImageDigest)
}

func TestImageWithoutBuildTimeIsRefused(t *testing.T) {
	t.Parallel()
	d := lifecycleHost(t)
	undated := harness.ImageSpec{Version: "v2", Arch: "amd64"}.Status()
	d.SetRegistry(t, undated)
	r := run(t, d, 11, "upgrade-os.sh", "check")
	if !strings.Contains(r.Stderr, "it has no build time") {
		t.Errorf("check:\n%s", r.Output())
	}
	lastErrorLine(t, d.Run(t, "upgrade-os.sh", "download"), 1, "it has no build time")
}

func TestMultiArchIndexUsesThePlatformDigest(t *testing.T) {
	t.Parallel()
	d := harness.NewDoubles(t)
	harness.Require(t, "flock")
	d.SetBootc(t, harness.BootcHost(harness.ImgArch("v1", "arm64")))
	amd, arm := harness.ImgArch("v2", "amd64"), harness.ImgArch("v2", "arm64")
	index := d.Publish(t, harness.DefaultRef, amd, arm)
	r := run(t, d, 10, "upgrade-os.sh", "check")
	wantLine(t, r, "available: "+arm.ImageDigest+" (version v2")
	if strings.Contains(r.Stdout, index) || strings.Contains(r.Stdout, amd.ImageDigest) {
		t.Errorf("reported the index or another platform's digest:\n%s", r.Stdout)
	}
	run(t, d, 0, "upgrade-os.sh", "download")
	wantStaged(t, d, arm.ImageDigest, true)

	d2 := harness.NewDoubles(t)
	d2.SetBootc(t, harness.BootcHost(harness.ImgArch("v1", "s390x")))
	d2.Publish(t, harness.DefaultRef, amd, arm)
	lastErrorLine(t, d2.Run(t, "upgrade-os.sh", "check"), 1, "has no linux/s390x image")
}

func TestRegistryCredentialsAreBootcs(t *testing.T) {
	t.Parallel()
	d := lifecycleHost(t)
	root := t.TempDir()
	d.Env = append(d.Env, "TESTBOOT_ROOT="+root)
	// No auth file: anonymous, as bootc pulls then.
	r := run(t, d, 0, "upgrade-os.sh", "check")
	if len(harness.Find(r.Calls, "skopeo", "inspect", "--raw", "--no-creds", "docker://"+harness.DefaultRef)) != 1 {
		t.Errorf("without an auth file the registry was not asked anonymously:\n%s", harness.FormatCalls(r.Calls))
	}
	// Each file bootc reads, in its order: a later one added wins (runtime, then /etc, then /usr).
	for _, f := range []string{"/usr/lib/ostree/auth.json", "/etc/ostree/auth.json", "/run/ostree/auth.json"} {
		if err := os.MkdirAll(filepath.Dir(root+f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(root+f, []byte(`{"auths":{}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		r = run(t, d, 0, "upgrade-os.sh", "check")
		if len(harness.Find(r.Calls, "skopeo", "inspect", "--raw", "--authfile", root+f, "docker://"+harness.DefaultRef)) != 1 {
			t.Errorf("with %s present, skopeo did not use it:\n%s", f, harness.FormatCalls(r.Calls))
		}
	}
}

func TestStatusIgnoresBootcTracingOnStderr(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	d.Set(t, "bootc/stderr-noise", "2026-01-01T00:00:00Z DEBUG bootc_lib::status: reading deployments\n")
	r := run(t, d, 0, "upgrade-os.sh", "status")
	wantLine(t, r, "booted:    "+v1)
	d.Set(t, "bootc/status.json", "not json")
	r = d.Run(t, "upgrade-os.sh", "status")
	errorLine(t, r, 1, "bootc status did not print a status document: not json (stderr: 2026-01-01T00:00:00Z DEBUG")
}

func TestApplySoftRebootsWhenBootcOffersIt(t *testing.T) {
	t.Parallel()
	d := lifecycleHost(t)
	d.Set(t, "bootc/soft-reboot-capable", "")
	d.SetRegistry(t, harness.Img("v2"))
	run(t, d, 0, "upgrade-os.sh", "download")
	boots := d.Boots(t)
	r := run(t, d, 0, "upgrade-os.sh", "apply", "--yes")
	wantLine(t, r, "reboot:    soft (userspace only")
	if len(harness.Find(r.Calls, "systemd-run", "bootc", "upgrade", "--from-downloaded", "--apply", "--soft-reboot=auto")) != 1 {
		t.Errorf("no soft reboot asked of bootc:\n%s", harness.FormatCalls(r.Calls))
	}
	d.WaitForBoots(t, boots+1, 10*time.Second)
	wantBooted(t, d, v2)
	if got := strings.TrimSpace(d.Read(t, "host/soft-boots")); got != "1" {
		t.Errorf("soft boots = %q, want 1 (bootc did not prepare a soft reboot)", got)
	}

	// Back again with a full reboot on request.
	boots = d.Boots(t)
	r = run(t, d, 0, "rollback-os.sh", "--yes", "--full-reboot")
	wantLine(t, r, "reboot:    full (--full-reboot)")
	if n := len(harness.Find(r.Calls, "systemd-run", "--soft-reboot=auto")); n != 0 {
		t.Errorf("--full-reboot still asked for a soft reboot:\n%s", harness.FormatCalls(r.Calls))
	}
	d.WaitForBoots(t, boots+1, 10*time.Second)
	wantBooted(t, d, v1)
	if got := strings.TrimSpace(d.Read(t, "host/soft-boots")); got != "1" {
		t.Errorf("soft boots = %q after a full reboot, want still 1", got)
	}
}

func TestApplyRebootsFullyWhenSoftIsNotPossible(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, version string }{{"not capable", "1.16.9"}, {"bootc 1.6", "1.6.0"}} {
		t.Run(c.name, func(t *testing.T) {
			d := lifecycleHost(t)
			if c.version != "1.16.9" {
				d.Set(t, "bootc/soft-reboot-capable", "")
				h := d.Bootc(t)
				h.Status.Staged = harness.Entry(harness.Img("v2"))
				h.Status.Staged.SoftRebootCapable = true
				d.SetBootc(t, h)
			} else {
				d.SetRegistry(t, harness.Img("v2"))
				run(t, d, 0, "upgrade-os.sh", "download")
			}
			d.SetBootcVersion(t, c.version)
			r := run(t, d, 0, "upgrade-os.sh", "apply", "--yes")
			wantLine(t, r, "reboot:    full (bootc cannot soft-reboot")
			if n := len(harness.Find(r.Calls, "systemd-run", "--soft-reboot=auto")); n != 0 {
				t.Errorf("asked for a soft reboot:\n%s", harness.FormatCalls(r.Calls))
			}
		})
	}
}

func TestDownloadRefusedBySignaturePolicy(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	// What containers/image says when policy.json requires a signature that is missing
	// (signature/policy_eval_sigstore.go), as bootc reports it.
	d.Set(t, "bootc/fail-upgrade", "error: Upgrading: Fetching manifest: failed to invoke method OpenImage: A signature was required, but no signature exists")
	r := d.Run(t, "upgrade-os.sh", "download")
	lastErrorLine(t, r, 1, "the image the registry serves for "+harness.DefaultRef+" is not signed by a key this host trusts (/etc/containers/policy.json): error: Upgrading: Fetching manifest: failed to invoke method OpenImage: A signature was required, but no signature exists; nothing was staged")
	if d.Bootc(t).Status.Staged != nil || exists(stateFile(d, "expected-digest")) {
		t.Error("something was staged or recorded")
	}
	d.Set(t, "bootc/fail-upgrade", "error: Upgrading: disk quota exceeded")
	lastErrorLine(t, d.Run(t, "upgrade-os.sh", "download"), 1, "bootc upgrade --download-only failed (see the error above)")
}

// An SSH session that drops during apply (its output pipe closed just before the
// unlock) must not leave the download unlocked without the reboot that applies it.
func TestApplySurvivesADroppedSession(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	stageDownload(t, d)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(harness.Path("scripts", "upgrade-os.sh"), "apply", "--yes")
	cmd.Env = d.Environ()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// Read until the last line apply prints before the unlock, then drop the session:
	// every later write gets EPIPE, as when sshd is gone.
	sc := bufio.NewScanner(r)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "reboot:") {
	}
	r.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("apply hung after the session dropped")
	}
	if len(harness.Find(d.Calls(t), "systemd-run", "--unit=bootc-testboot-apply", "bootc", "upgrade", "--from-downloaded", "--apply")) != 1 {
		t.Fatalf("no reboot was started after the session dropped (staged %+v):\n%s", d.Bootc(t).Status.Staged, harness.FormatCalls(d.Calls(t)))
	}
	d.WaitForBoots(t, 1, 10*time.Second)
	wantBooted(t, d, v2)
}
