package ops

// The doubles must say what upstream says (output lines, exit codes, status JSON), or the
// scripts would be tested against an invented tool.

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

func runDouble(t *testing.T, d *harness.Doubles, tool string, args ...string) harness.Result {
	t.Helper()
	return d.RunCmd(t, harness.Cmd{Script: harness.Path("test", "doubles", "bin", tool), Args: args,
		Env: []string{"DOUBLES_PARK_SECONDS=1"}})
}

func TestBootcDoubleFollowsUpstream(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	if r := runDouble(t, d, "bootc", "--version"); r.Stdout != "bootc 1.16.9\n" {
		t.Errorf("--version: %q", r.Stdout)
	}
	r := runDouble(t, d, "bootc", "status", "--format=json", "--format-version=1")
	if strings.Count(strings.TrimSpace(r.Stdout), "\n") != 0 || !strings.HasPrefix(r.Stdout, `{"apiVersion":"org.containers.bootc/v1","kind":"BootcHost","metadata"`) {
		t.Errorf("status is not one compact line with sorted keys: %.120s", r.Stdout)
	}
	if r := runDouble(t, d, "bootc", "status", "--format=json", "--format-version=2"); r.ExitCode != 1 || !strings.Contains(r.Stderr, "Unsupported format version") {
		t.Errorf("format-version 2: %d %s", r.ExitCode, r.Stderr)
	}
	if r := runDouble(t, d, "bootc", "upgrade", "--from-downloaded"); r.ExitCode != 1 || r.Stderr != "error: Upgrading: No staged deployment found\n" {
		t.Errorf("--from-downloaded with nothing staged: %d %q", r.ExitCode, r.Stderr)
	}
	if r := runDouble(t, d, "bootc", "upgrade", "--check", "--apply"); r.ExitCode != 2 || !strings.Contains(r.Stderr, "cannot be used with") {
		t.Errorf("conflicting flags: %d %q", r.ExitCode, r.Stderr)
	}
	r = runDouble(t, d, "bootc", "upgrade", "--check")
	if r.ExitCode != 0 || !strings.HasPrefix(r.Stdout, "Update available for: docker://"+harness.DefaultRef+"\n  Version: v2\n  Digest: "+v2) {
		t.Errorf("--check with an update: %d %q", r.ExitCode, r.Stdout)
	}
	r = runDouble(t, d, "bootc", "upgrade", "--download-only")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "Queued for next boot: "+harness.DefaultRef) || !d.Bootc(t).Status.Staged.DownloadOnly {
		t.Errorf("--download-only: %d %q", r.ExitCode, r.Stdout)
	}
	// --apply asks systemd for a reboot and does not return by itself.
	start := time.Now()
	r = runDouble(t, d, "bootc", "upgrade", "--from-downloaded", "--apply")
	if time.Since(start) < time.Second || r.ExitCode == 0 {
		t.Errorf("--apply returned: exit %d after %s", r.ExitCode, time.Since(start))
	}
	d.WaitForCall(t, 5*time.Second, "systemctl", "reboot")
	r = runDouble(t, d, "bootc", "rollback")
	if r.ExitCode != 0 || r.Stdout != "Next boot: rollback deployment\n" || d.Bootc(t).Status.Staged != nil {
		t.Errorf("rollback: %d %q (staged must be discarded)", r.ExitCode, r.Stdout)
	}
	d.SetUID(t, 1000)
	if r := runDouble(t, d, "bootc", "status", "--json"); r.ExitCode != 1 || !strings.Contains(r.Stderr, "This command must be executed as the root user") {
		t.Errorf("non-root: %d %q", r.ExitCode, r.Stderr)
	}
}

func TestBootcDoubleVersionGates(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	d.SetBootcVersion(t, "1.10.0")
	if r := runDouble(t, d, "bootc", "upgrade", "--download-only"); r.ExitCode != 2 || !strings.Contains(r.Stderr, "unexpected argument '--download-only'") {
		t.Errorf("download-only on 1.10: %d %q", r.ExitCode, r.Stderr)
	}
	d.SetBootcVersion(t, "1.1.2")
	if r := runDouble(t, d, "bootc", "rollback", "--apply"); r.ExitCode != 2 {
		t.Errorf("rollback --apply on 1.1.2: %d %q", r.ExitCode, r.Stderr)
	}
	d2 := harness.NewDoubles(t)
	d2.SetBootc(t, harness.BootcHost(harness.Img("v1")))
	if r := runDouble(t, d2, "bootc", "rollback"); r.ExitCode != 1 || r.Stderr != "error: No rollback available\n" {
		t.Errorf("no rollback: %d %q", r.ExitCode, r.Stderr)
	}
	if m := harness.Mutations(d2.Calls(t)); len(m) != 1 {
		t.Errorf("the record must hold the refused rollback as a mutating call: %v", m)
	}
}

func TestSystemdRunDoubleRunsOnlyDoubles(t *testing.T) {
	t.Parallel()
	d := harness.NewDoubles(t)
	r := runDouble(t, d, "systemd-run", "--unit=x", "--", "touch", "/tmp/testboot-should-not-exist")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "refusing to run 'touch'") || exists("/tmp/testboot-should-not-exist") {
		t.Errorf("systemd-run ran a real command: %d %q", r.ExitCode, r.Stderr)
	}
}

func TestIsMutating(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		call harness.Call
		want bool
	}{
		{harness.Call{Tool: "bootc", Args: []string{"status", "--format=json"}}, false},
		{harness.Call{Tool: "bootc", Args: []string{"upgrade", "--check"}}, false},
		{harness.Call{Tool: "bootc", Args: []string{"upgrade", "--download-only"}}, true},
		{harness.Call{Tool: "bootc", Args: []string{"rollback"}}, true},
		{harness.Call{Tool: "systemctl", Args: []string{"is-active", "nginx"}}, false},
		{harness.Call{Tool: "systemctl", Args: []string{"reboot"}}, true},
		{harness.Call{Tool: "podman", Args: []string{"image", "inspect", "x"}}, false},
		{harness.Call{Tool: "podman", Args: []string{"run", "--rm", "x"}}, true},
		{harness.Call{Tool: "aws", Args: []string{"--region", "r", "ec2", "describe-images"}}, false},
		{harness.Call{Tool: "aws", Args: []string{"--region", "r", "ec2", "create-tags"}}, true},
		{harness.Call{Tool: "aws", Args: []string{"s3", "cp", "a", "b"}}, true},
		{harness.Call{Tool: "logger", Args: []string{"--", "reboot"}}, false},
		{harness.Call{Tool: "reboot"}, true},
	} {
		if got := harness.IsMutating(c.call); got != c.want {
			t.Errorf("IsMutating(%s) = %v, want %v", c.call, got, c.want)
		}
	}
}

// The update cache follows bootc-dev/bootc crates/ostree-ext/src/container/store.rs
// `prepare_internal`/`cache_pending` and crates/lib/src/status.rs `imagestatus`.
func TestBootcDoubleCacheFollowsLastPulledImage(t *testing.T) {
	t.Parallel()
	d := lifecycleHost(t)
	check := func(want string) {
		t.Helper()
		before := d.Read(t, "bootc/status.json")
		r := runDouble(t, d, "bootc", "upgrade", "--check")
		if r.ExitCode != 0 || !strings.HasPrefix(r.Stdout, want) {
			t.Fatalf("--check: exit %d, want %q first:\n%s", r.ExitCode, want, r.Output())
		}
		if strings.HasPrefix(want, "No changes") && d.Read(t, "bootc/status.json") != before {
			t.Errorf("AlreadyPresent wrote the status")
		}
	}
	ref := "docker://" + harness.DefaultRef
	check("No changes in: " + ref + "\n")
	d.SetRegistry(t, harness.Img("v2"))
	check("Update available for: " + ref + "\n  Version: v2\n  Digest: " + v2 + "\nTotal new layers: 2     Size: 816.9 MB\nRemoved layers:   1     Size: 4.6 MB\nAdded layers:     1     Size: 4.6 MB\n")
	if c := d.Bootc(t).Status.Booted.CachedUpdate; c == nil || c.ImageDigest != v2 || *c.Version != "v2" {
		t.Fatalf("booted.cachedUpdate %+v, want v2", c)
	}
	if r := runDouble(t, d, "bootc", "upgrade", "--download-only"); r.ExitCode != 0 {
		t.Fatal(r.Output())
	}
	if st := d.Bootc(t).Status.Staged; st.CachedUpdate != nil || !st.DownloadOnly {
		t.Fatalf("a new deployment carries no cache and is locked: %+v", st)
	}
	d.SetRegistry(t, harness.Img("v3"))
	check("Update available for: " + ref + "\n  Version: v3\n")
	h := d.Bootc(t)
	if h.Status.Staged.CachedUpdate == nil || h.Status.Staged.CachedUpdate.ImageDigest != v3 {
		t.Errorf("the cache must land on the last pulled (staged) v2: %+v", h.Status.Staged.CachedUpdate)
	}
	if h.Status.Booted.CachedUpdate == nil || h.Status.Booted.CachedUpdate.ImageDigest != v2 {
		t.Errorf("the booted cache is never cleared: %+v", h.Status.Booted.CachedUpdate)
	}
	// The tag back on v2, the last pulled image: "No changes" although v1 is booted.
	d.SetRegistry(t, harness.Img("v2"))
	check("No changes in: " + ref + "\n")
	// A plain upgrade of the staged image unlocks it (cli.rs `upgrade`, staged_unchanged).
	r := runDouble(t, d, "bootc", "upgrade")
	if r.Stdout != "No changes in "+harness.DefaultRef+" => "+v2+"\nStaged deployment will now be applied on reboot\n" || d.Bootc(t).Status.Staged.DownloadOnly {
		t.Errorf("upgrade of the staged image: %q", r.Stdout)
	}
	// A reboot finalizes it: v2 boots, v1 is the rollback.
	if r := runDouble(t, d, "systemctl", "reboot"); r.ExitCode != 0 {
		t.Fatal(r.Output())
	}
	h = d.Bootc(t)
	if h.Status.Booted.Image.ImageDigest != v2 || h.Status.Rollback.Image.ImageDigest != v1 || h.Status.Staged != nil {
		t.Errorf("after the reboot: booted %s rollback %s staged %+v", h.Status.Booted.Image.ImageDigest, h.Status.Rollback.Image.ImageDigest, h.Status.Staged)
	}
}

func TestRebootDiscardsLockedDownload(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	if r := runDouble(t, d, "bootc", "upgrade", "--download-only"); r.ExitCode != 0 {
		t.Fatal(r.Output())
	}
	runDouble(t, d, "reboot")
	h := d.Bootc(t)
	if h.Status.Staged != nil || h.Status.Booted.Image.ImageDigest != v1 {
		t.Errorf("a locked download must vanish at reboot: booted %s staged %+v", h.Status.Booted.Image.ImageDigest, h.Status.Staged)
	}
	if d.Boots(t) != 1 {
		t.Errorf("boots = %d", d.Boots(t))
	}
}

func TestSkopeoDoubleServesRealManifests(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	r := runDouble(t, d, "skopeo", "inspect", "--raw", "docker://"+harness.DefaultRef)
	sum := sha256.Sum256([]byte(r.Stdout))
	if r.ExitCode != 0 || "sha256:"+hex.EncodeToString(sum[:]) != v2 {
		t.Errorf("--raw is not the manifest of %s: %d %q", v2, r.ExitCode, r.Stdout)
	}
	r = runDouble(t, d, "skopeo", "inspect", "--config", "--raw", "docker://"+harness.DefaultRef)
	if !strings.Contains(r.Stdout, `"org.opencontainers.image.version":"v2"`) {
		t.Errorf("--config --raw: %q", r.Stdout)
	}
	r = runDouble(t, d, "skopeo", "inspect", "--raw", "docker://ghcr.io/bootc-testboot/nothing:latest")
	if r.ExitCode != 2 || !strings.Contains(r.Stderr, "manifest unknown") {
		t.Errorf("unknown image: exit %d %q (skopeo exits 2 for a missing image)", r.ExitCode, r.Stderr)
	}
}
