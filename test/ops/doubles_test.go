package ops

// The doubles must say what upstream says (output lines, exit codes, status JSON), or the
// scripts would be tested against an invented tool.

import (
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
	d := harness.NewDoubles(t)
	r := runDouble(t, d, "systemd-run", "--unit=x", "--", "touch", "/tmp/testboot-should-not-exist")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "refusing to run 'touch'") || exists("/tmp/testboot-should-not-exist") {
		t.Errorf("systemd-run ran a real command: %d %q", r.ExitCode, r.Stderr)
	}
}

func TestIsMutating(t *testing.T) {
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
