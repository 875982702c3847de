package ops

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// nasty arguments: each must arrive as exactly one argument, unevaluated.
func nastyArgs(marker string) []string {
	return []string{
		"a b", "  two  spaces ", "$(touch " + marker + ")", "`touch " + marker + "`", "; touch " + marker,
		"&& touch " + marker, "| touch " + marker, "it's", `"double"`, `back\slash`, "*", "~", "$HOME",
		"new\nline", "tab\there", "", "--yes", "-n", "'", `'"'"'`,
	}
}

// scriptsCopy is a scripts/ directory holding the real on-host.sh and lib/ plus the
// print-args.sh fixture, so the exact arguments a script receives can be read back.
func scriptsCopy(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "scripts")
	if err := os.MkdirAll(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(harness.Path("scripts", "on-host.sh"), filepath.Join(dir, "on-host.sh"))
	copyFile(harness.Path("scripts", "lib", "common.sh"), filepath.Join(dir, "lib", "common.sh"))
	copyFile(harness.Path("test", "ops", "testdata", "print-args.sh"), filepath.Join(dir, "print-args.sh"))
	return dir
}

func parseArgs(t *testing.T, r harness.Result) []string {
	t.Helper()
	line := strings.SplitN(r.Stdout, "\n", 2)[0]
	var got []string
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("no argument list in output: %v\n%s", err, r.Output())
	}
	return got
}

func TestOnHostQuotingRemote(t *testing.T) {
	t.Parallel()
	d := harness.NewDoubles(t)
	d.SetUID(t, 1000) // an ordinary user on the remote host
	dir := scriptsCopy(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	want := nastyArgs(marker)
	r := d.RunCmd(t, harness.Cmd{Script: filepath.Join(dir, "on-host.sh"),
		Args: append([]string{"--host", "ec2-user@203.0.113.10", "print-args.sh"}, want...)})
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	if got := parseArgs(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("arguments changed on the way:\n got %q\nwant %q", got, want)
	}
	if exists(marker) {
		t.Fatal("an argument was evaluated by the remote shell")
	}
	ssh := harness.Find(r.Calls, "ssh", "ec2-user@203.0.113.10")
	if len(ssh) != 1 {
		t.Fatalf("want one ssh call:\n%s", harness.FormatCalls(r.Calls))
	}
	if ssh[0].Args[len(ssh[0].Args)-2] != "ec2-user@203.0.113.10" || ssh[0].Args[len(ssh[0].Args)-3] != "--" {
		t.Errorf("host not after --: %q", ssh[0].Args)
	}
	// Not root remotely: through sudo, and the script ran from a temp dir that is gone.
	if len(harness.Find(r.Calls, "sudo", "--", "bash")) != 1 || !strings.Contains(r.Stdout, "uid=0") {
		t.Errorf("not run through sudo:\n%s\n%s", harness.FormatCalls(r.Calls), r.Stdout)
	}
	m := strings.SplitN(r.Stdout[strings.Index(r.Stdout, "dir=")+4:], "\n", 2)[0]
	if m == dir || exists(m) {
		t.Errorf("remote temp dir %q not removed (or the local copy was used)", m)
	}
}

func TestOnHostQuotingLocal(t *testing.T) {
	t.Parallel()
	d := harness.NewDoubles(t)
	dir := scriptsCopy(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	want := nastyArgs(marker)
	r := d.RunCmd(t, harness.Cmd{Script: filepath.Join(dir, "on-host.sh"), Args: append([]string{"print-args.sh"}, want...)})
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	if got := parseArgs(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("arguments changed:\n got %q\nwant %q", got, want)
	}
	if exists(marker) {
		t.Fatal("an argument was evaluated")
	}
	if len(harness.Find(r.Calls, "sudo")) != 0 || len(harness.Find(r.Calls, "ssh")) != 0 {
		t.Errorf("as root locally: no sudo, no ssh:\n%s", harness.FormatCalls(r.Calls))
	}
}

func TestOnHostLocalNonRootUsesSudo(t *testing.T) {
	t.Parallel()
	d := harness.NewDoubles(t)
	d.SetUID(t, 1000)
	dir := scriptsCopy(t)
	r := d.RunCmd(t, harness.Cmd{Script: filepath.Join(dir, "on-host.sh"), Args: []string{"print-args.sh", "x"}})
	if r.ExitCode != 0 || len(harness.Find(r.Calls, "sudo", "--", filepath.Join(dir, "print-args.sh"), "x")) != 1 {
		t.Errorf("exit %d; want the script through sudo:\n%s\n%s", r.ExitCode, harness.FormatCalls(r.Calls), r.Output())
	}
}

func TestOnHostRemoteRootNoSudo(t *testing.T) {
	t.Parallel()
	d := harness.NewDoubles(t)
	dir := scriptsCopy(t)
	d.SetUID(t, 0)
	r := d.RunCmd(t, harness.Cmd{Script: filepath.Join(dir, "on-host.sh"), Args: []string{"--host", "root@host-1.example.com", "print-args.sh"}})
	if r.ExitCode != 0 || len(harness.Find(r.Calls, "sudo")) != 0 {
		t.Errorf("exit %d; root needs no sudo:\n%s", r.ExitCode, harness.FormatCalls(r.Calls))
	}
}

func TestOnHostRunsRealScriptsRemotely(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	// The exit code of the remote script comes back: 10 = update available.
	r := d.Run(t, "on-host.sh", "--host", "ec2-user@203.0.113.10", "upgrade-os.sh", "check")
	if r.ExitCode != 10 || !strings.Contains(r.Stdout, "update available") {
		t.Fatalf("exit %d, want 10\n%s", r.ExitCode, r.Output())
	}
	r = d.Run(t, "on-host.sh", "--host", "ec2-user@203.0.113.10", "upgrade-os.sh", "download")
	if r.ExitCode != 0 {
		t.Fatalf("download: exit %d\n%s", r.ExitCode, r.Output())
	}
	// apply over SSH: the session ends cleanly while the reboot is still to come.
	start := time.Now()
	r = d.RunCmd(t, harness.Cmd{Script: "on-host.sh", Args: []string{"--host", "ec2-user@203.0.113.10", "upgrade-os.sh", "apply", "--yes"}, Timeout: 20 * time.Second})
	if r.ExitCode != 0 || time.Since(start) > 15*time.Second {
		t.Fatalf("apply over ssh: exit %d after %s\n%s", r.ExitCode, time.Since(start), r.Output())
	}
	d.WaitForCall(t, 10*time.Second, "systemctl", "reboot")
}

func TestOnHostSSHUnreachable(t *testing.T) {
	t.Parallel()
	d := newHost(t)
	d.Set(t, "ssh/unreachable", "")
	r := d.Run(t, "on-host.sh", "--host", "ec2-user@203.0.113.10", "upgrade-os.sh", "status")
	lastErrorLine(t, r, 255, "Connection refused")
}

func TestOnHostBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{nil, "no script given"},
		{[]string{"--host"}, "--host needs a value"},
		{[]string{"--host", "upgrade-os.sh"}, "no script given"},
		{[]string{"--host", "-oProxyCommand=touch /tmp/testboot-pwned", "upgrade-os.sh", "status"}, "is not USER@HOST"},
		{[]string{"--host", "203.0.113.10", "upgrade-os.sh", "status"}, "is not USER@HOST"},
		{[]string{"--host", "ec2-user@host;touch /tmp/testboot-pwned", "upgrade-os.sh", "status"}, "is not USER@HOST"},
		{[]string{"--host", "ec2-user@$(touch /tmp/testboot-pwned)", "upgrade-os.sh", "status"}, "is not USER@HOST"},
		{[]string{"--host", "-l@x", "upgrade-os.sh"}, "is not USER@HOST"},
		{[]string{"../scripts/upgrade-os.sh", "status"}, "is not a script name from scripts/"},
		{[]string{"/bin/sh", "-c", "id"}, "is not a script name from scripts/"},
		{[]string{"upgrade-os.sh;id"}, "is not a script name from scripts/"},
		{[]string{"missing.sh"}, "no script 'missing.sh' in scripts/"},
		{[]string{"on-host.sh", "upgrade-os.sh"}, "no script 'on-host.sh'"},
		{[]string{"--bogus", "upgrade-os.sh"}, "unknown option '--bogus'"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			d := newHost(t)
			r := d.Run(t, "on-host.sh", c.args...)
			errorLine(t, r, 2, c.want)
			if calls := harness.Find(d.Calls(t), "ssh"); len(calls) != 0 {
				t.Errorf("bad input reached ssh")
			}
			d.AssertNoMutation(t)
		})
	}
	if exists("/tmp/testboot-pwned") {
		t.Error("an argument was evaluated")
	}
}

func TestOnHostPassesScriptErrors(t *testing.T) {
	t.Parallel()
	// A script's usage error comes back through on-host.sh unchanged, locally and remotely.
	for _, prefix := range [][]string{nil, {"--host", "ec2-user@203.0.113.10"}} {
		d := newHost(t)
		r := d.Run(t, "on-host.sh", append(prefix, "upgrade-os.sh", "reboot-now")...)
		lastErrorLine(t, r, 2, "unknown action 'reboot-now'")
		for _, c := range d.Calls(t) {
			if harness.IsMutating(c) && c.Tool != "ssh" {
				t.Errorf("mutating call: %s", c)
			}
		}
	}
}
