package simhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// Host is what a user passes as HOST=.
func (h *Host) Host() string { return AdminUser + "@127.0.0.1" }

// SSHOpts is SSH_OPTS as docs/008 tells users to pass a key and a host-key
// policy (split on spaces by scripts/on-host.sh). The host key is pinned at
// the first connection: a host key that changes across upgrades and
// rollbacks (an /etc merge that lost /etc/ssh) fails every later command.
func (h *Host) SSHOpts() string {
	return strings.Join([]string{
		"-F", "/dev/null", "-p", fmt.Sprint(h.sshPort), "-i", h.key, "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + h.known, "-o", "StrictHostKeyChecking=accept-new",
		"-o", "HostKeyAlias=testboot-simhost", "-o", "BatchMode=yes", "-o", "ConnectTimeout=15",
		"-o", "LogLevel=ERROR",
	}, " ")
}

// Result is one command's outcome.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
	Took           time.Duration
}

// Output is both streams, for messages.
func (r Result) Output() string { return "stdout:\n" + r.Stdout + "\nstderr:\n" + r.Stderr }

// Make runs `make TARGET HOST=ops@127.0.0.1 VARS...` in the repository with
// SSH_OPTS, as a user on their workstation would. Bounded by timeout: the
// whole process group is killed after it.
func (h *Host) Make(t testing.TB, timeout time.Duration, target string, vars ...string) Result {
	t.Helper()
	args := append([]string{"-C", harness.Root(), "--no-print-directory", target, "HOST=" + h.Host()}, vars...)
	r := h.exec(t, timeout, "make", args...)
	t.Logf("make %s %s: exit %d in %.1fs\n%s%s", target, strings.Join(vars, " "), r.ExitCode, r.Took.Seconds(),
		indent(r.Stdout), indent(r.Stderr))
	return r
}

// SSH runs a shell command on the host as the admin user, through the same
// SSH path (for what the test itself looks at or changes, e.g. an /etc edit).
func (h *Host) SSH(t testing.TB, timeout time.Duration, command string) Result {
	t.Helper()
	return h.exec(t, timeout, "ssh", append(strings.Fields(h.SSHOpts()), "--", h.Host(), command)...)
}

// Start starts make without waiting (a second operator at the same time).
func (h *Host) Start(t testing.TB, target string, vars ...string) func(timeout time.Duration) Result {
	t.Helper()
	args := append([]string{"-C", harness.Root(), "--no-print-directory", target, "HOST=" + h.Host()}, vars...)
	done := make(chan Result, 1)
	go func() { done <- h.execNoT(10*time.Minute, "make", args...) }()
	return func(timeout time.Duration) Result {
		select {
		case r := <-done:
			return r
		case <-time.After(timeout):
			return Result{ExitCode: -1, Stderr: "still running after " + timeout.String()}
		}
	}
}

func (h *Host) exec(t testing.TB, timeout time.Duration, name string, args ...string) Result {
	t.Helper()
	r := h.execNoT(timeout, name, args...)
	if r.ExitCode == -1 {
		t.Errorf("%s %s: %s", name, strings.Join(args, " "), r.Stderr)
	}
	return r
}

func (h *Host) execNoT(timeout time.Duration, name string, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = harness.Root()
	cmd.Env = h.environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader("")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.ExitCode = -1
		r.Stderr += fmt.Sprintf("\nstill running after %s (killed)", timeout)
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	case err != nil:
		r.ExitCode = -1
		r.Stderr += "\n" + err.Error()
	}
	return r
}

// environ is the workstation's environment: the caller's, without what
// would change the scripts or make (the Makefile's variables, SSH_OPTS,
// test settings), plus SSH_OPTS for this host.
func (h *Host) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TESTBOOT_") || strings.HasPrefix(name, "DOUBLES_") || strings.HasPrefix(name, "MAKE") {
			continue
		}
		switch name {
		case "HOST", "YES", "VERIFY_ARGS", "SSH_OPTS", "IMAGE", "VERSION", "REGISTRY", "IMAGE_NAME", "OUTPUT", "EXTRA_TAGS", "TLS_VERIFY":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "SSH_OPTS="+h.SSHOpts(), "TESTBOOT_NO_JOURNAL=1")
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}
