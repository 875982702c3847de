package harness

// Running the project's scripts against the recorded test doubles in test/doubles/bin.
//
// Typical use in a suite:
//
//	d := harness.NewDoubles(t)                      // fresh state, log, uid 0
//	d.SetBootc(harness.BootcHost(harness.Img("v1")))  // the host's deployments
//	d.SetRegistry(harness.Img("v2"))                // what the registry serves
//	r := d.Run(t, "upgrade-os.sh", "check")          // scripts/upgrade-os.sh, doubles first on PATH
//	r.ExitCode, r.Stdout, r.Stderr                  // what the script did
//	d.Calls(t)                                      // every call any double received, in order
//	d.AssertNoMutation(t)                           // nothing in the record changed the system
//
// Scenario files are plain files under d.State (see each double's header for its files);
// Set/SetJSON/Remove write them. Scripts get TESTBOOT_STATE_DIR and TESTBOOT_LOCK pointing
// into the test's temp dir, so nothing under /var/lib or /run is touched.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Doubles is one test's simulated machine: scenario state, call record, environment.
type Doubles struct {
	State    string   // $DOUBLES_STATE: scenario files, one directory per tool
	Log      string   // $DOUBLES_LOG: one JSON line per call
	StateDir string   // $TESTBOOT_STATE_DIR given to the scripts (instead of /var/lib/bootc-testboot)
	Lock     string   // $TESTBOOT_LOCK given to the scripts (instead of /run/bootc-testboot/lock)
	Env      []string // extra KEY=VALUE for every Run (appended last, so it wins)
}

// DoublesBin is the directory holding the doubles; it goes first on PATH.
func DoublesBin() string { return Path("test", "doubles", "bin") }

// NewDoubles prepares empty state and record in a temp dir. The simulated user is root
// (uid 0); d.SetUID(1000) makes it an ordinary user. Detached units the systemd-run
// double started are killed when the test ends.
func NewDoubles(t testing.TB) *Doubles {
	t.Helper()
	Require(t, "bash", "jq", "setsid")
	tmp := t.TempDir()
	d := &Doubles{
		State:    filepath.Join(tmp, "doubles"),
		Log:      filepath.Join(tmp, "calls.jsonl"),
		StateDir: filepath.Join(tmp, "var-lib-bootc-testboot"),
		Lock:     filepath.Join(tmp, "run-bootc-testboot", "lock"),
	}
	for _, dir := range []string{d.State, filepath.Dir(d.Lock)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(d.Log, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d.SetUID(t, 0)
	t.Cleanup(d.killUnits)
	// A double that is not executable is skipped by PATH lookup, and the real tool
	// (systemctl reboot, bootc...) would run instead.
	entries, err := os.ReadDir(DoublesBin())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 == 0 {
			t.Fatalf("test double %s is not executable: the real tool would run instead (chmod +x it)",
				filepath.Join(DoublesBin(), e.Name()))
		}
	}
	return d
}

// killUnits ends every process group the systemd-run double detached.
func (d *Doubles) killUnits() {
	pids, _ := filepath.Glob(filepath.Join(d.State, "systemd-run", "*.pid"))
	for _, f := range pids {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			// Reaped by its parent shell; wait until the group is gone so the unit name is free.
			for i := 0; i < 100 && syscall.Kill(-pid, 0) == nil; i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
		_ = os.Remove(f)
	}
}

// Set writes a scenario file under d.State (e.g. "bootc/version"), creating directories.
func (d *Doubles) Set(t testing.TB, rel, content string) {
	t.Helper()
	p := filepath.Join(d.State, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// SetJSON writes v as JSON to a scenario file.
func (d *Doubles) SetJSON(t testing.TB, rel string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d.Set(t, rel, string(b))
}

// Remove deletes a scenario file (no error when it does not exist).
func (d *Doubles) Remove(t testing.TB, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(d.State, rel)); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
}

// Read returns a scenario file's content ("" when it does not exist).
func (d *Doubles) Read(t testing.TB, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.State, rel))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// SetUID makes `id -u` (and bootc's root check) answer uid.
func (d *Doubles) SetUID(t testing.TB, uid int) { d.Set(t, "id/uid", strconv.Itoa(uid)) }

// Environ is the environment a script runs with: the test process's, PATH with the
// doubles first, DOUBLES_*, TESTBOOT_STATE_DIR/TESTBOOT_LOCK, then d.Env and extra.
func (d *Doubles) Environ(extra ...string) []string {
	env := make([]string, 0, len(os.Environ())+8)
	for _, kv := range os.Environ() {
		// A caller's own settings must not leak into the simulated machine:
		// `make test` exports the Makefile's variables, a shell may hold AWS_*.
		if leaksIntoScripts(kv) {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"PATH="+DoublesBin()+":"+os.Getenv("PATH"),
		"DOUBLES_STATE="+d.State,
		"DOUBLES_LOG="+d.Log,
		"DOUBLES_PARK_SECONDS=60",
		"TESTBOOT_STATE_DIR="+d.StateDir,
		"TESTBOOT_LOCK="+d.Lock,
	)
	env = append(env, d.Env...)
	return append(env, extra...)
}

// leaksIntoScripts reports whether an inherited KEY=VALUE would change what the
// scripts under test do, so it is dropped from their environment.
func leaksIntoScripts(kv string) bool {
	name, _, _ := strings.Cut(kv, "=")
	for _, prefix := range []string{"DOUBLES_", "TESTBOOT_", "AWS_"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	switch name {
	case "PATH", "PROG", "IMAGE", "VERSION", "REVISION", "SOURCE_DATE_EPOCH", "BASE_IMAGE",
		"SOURCE_URL", "TARGETARCH", "OUTPUT", "EXTRA_TAGS", "TLS_VERIFY", "REGISTRY_AUTH_FILE":
		return true
	}
	return false
}

// Cmd describes one script run.
type Cmd struct {
	Script  string        // a name under scripts/ ("upgrade-os.sh") or a path
	Args    []string      // arguments, passed as they are (no shell involved)
	Stdin   string        // fed to the script's stdin (default: empty, not a terminal)
	Env     []string      // extra KEY=VALUE for this run
	Timeout time.Duration // default 30s; the whole process group is killed after it
}

// Result is what a script run produced.
type Result struct {
	Stdout, Stderr string
	ExitCode       int    // -1 when killed by the timeout
	Calls          []Call // the calls recorded during this run
}

// Output is stdout and stderr together, for error messages.
func (r Result) Output() string { return "stdout:\n" + r.Stdout + "\nstderr:\n" + r.Stderr }

// Run runs a script from scripts/ with arguments and no stdin.
func (d *Doubles) Run(t testing.TB, script string, args ...string) Result {
	t.Helper()
	return d.RunCmd(t, Cmd{Script: script, Args: args})
}

// RunCmd runs a script as described by c.
func (d *Doubles) RunCmd(t testing.TB, c Cmd) Result {
	t.Helper()
	script := c.Script
	if !strings.Contains(script, "/") {
		script = Path("scripts", script)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	before := len(d.Calls(t))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script, c.Args...)
	cmd.Dir = Root()
	cmd.Env = d.Environ(c.Env...)
	cmd.Stdin = strings.NewReader(c.Stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Own process group, so a timeout also ends whatever the script started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		r.ExitCode = -1
		t.Errorf("%s %q: still running after %s (killed)\n%s", c.Script, c.Args, timeout, r.Output())
	case errors.As(err, &exitErr):
		r.ExitCode = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", c.Script, err)
	}
	all := d.Calls(t)
	if before <= len(all) {
		r.Calls = all[before:]
	}
	return r
}

// Call is one recorded call of a double.
type Call struct {
	Tool string   `json:"tool"`
	Args []string `json:"args"`
}

// String is the call as a command line, for messages.
func (c Call) String() string { return strings.TrimSpace(c.Tool + " " + strings.Join(c.Args, " ")) }

// Has reports whether the call is to tool and carries every one of args (any order).
func (c Call) Has(tool string, args ...string) bool {
	if c.Tool != tool {
		return false
	}
	for _, want := range args {
		found := false
		for _, a := range c.Args {
			if a == want {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Calls parses the whole record so far.
func (d *Doubles) Calls(t testing.TB) []Call {
	t.Helper()
	f, err := os.Open(d.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var calls []Call
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var c Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("call record %s: bad line %q: %v", d.Log, sc.Text(), err)
		}
		calls = append(calls, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return calls
}

// Find returns the calls to tool that carry all of args.
func Find(calls []Call, tool string, args ...string) []Call {
	var out []Call
	for _, c := range calls {
		if c.Has(tool, args...) {
			out = append(out, c)
		}
	}
	return out
}

// WaitForCall polls the record until a call to tool with args appears (detached work
// such as a systemd-run unit records asynchronously) and fails the test after timeout.
func (d *Doubles) WaitForCall(t testing.TB, timeout time.Duration, tool string, args ...string) Call {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if found := Find(d.Calls(t), tool, args...); len(found) > 0 {
			return found[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no call %s %v within %s; record:\n%s", tool, args, timeout, FormatCalls(d.Calls(t)))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FormatCalls lists calls one per line, for failure messages.
func FormatCalls(calls []Call) string {
	var b strings.Builder
	for _, c := range calls {
		b.WriteString("  " + c.String() + "\n")
	}
	return b.String()
}

// IsMutating reports whether a call changes the machine, its deployments or a cloud
// account: what bad input must never reach. Reading state (bootc status, upgrade --check,
// podman image inspect, aws describe/get/head/wait) is not mutating; logging is not.
func IsMutating(c Call) bool {
	first := func(n int) string {
		if len(c.Args) > n {
			return c.Args[n]
		}
		return ""
	}
	switch c.Tool {
	case "bootc":
		switch first(0) {
		case "upgrade", "update":
			return !c.Has("bootc", "--check")
		case "rollback", "switch", "edit", "install", "usr-overlay":
			return true
		}
		return false
	case "reboot", "poweroff", "halt", "shutdown", "kexec", "ssh", "systemd-run":
		return true
	case "systemctl":
		for _, a := range c.Args {
			switch a {
			case "reboot", "poweroff", "halt", "kexec", "soft-reboot", "start", "stop", "restart",
				"enable", "disable", "mask", "unmask", "kill":
				return true
			}
		}
		return false
	case "podman":
		switch first(0) {
		case "run", "pull", "push", "rm", "rmi", "build", "tag", "create", "start":
			return true
		case "image":
			return first(1) != "exists" && first(1) != "inspect" && first(1) != "ls" && first(1) != "list"
		}
		return false
	case "aws":
		for _, a := range c.Args {
			if strings.HasPrefix(a, "-") {
				continue
			}
			for _, verb := range []string{"create-", "delete-", "deregister-", "register-", "import-",
				"modify-", "put-", "run-instances", "terminate-", "copy-", "cp", "mv", "rm", "sync",
				// SSM: a command runs on instances; documents change what they run.
				"send-command", "cancel-command", "update-document", "update-document-default-version"} {
				if a == verb || (strings.HasSuffix(verb, "-") && strings.HasPrefix(a, verb)) {
					return true
				}
			}
		}
		return false
	}
	return false
}

// Mutations returns the mutating calls among calls.
func Mutations(calls []Call) []Call {
	var out []Call
	for _, c := range calls {
		if IsMutating(c) {
			out = append(out, c)
		}
	}
	return out
}

// AssertNoMutation fails the test when the record holds any mutating call.
func (d *Doubles) AssertNoMutation(t testing.TB) {
	t.Helper()
	if m := Mutations(d.Calls(t)); len(m) > 0 {
		t.Errorf("mutating calls in the record:\n%s", FormatCalls(m))
	}
}

// Digest is a deterministic sha256:<64 hex> for a name, for fixtures.
func Digest(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "sha256:" + hex.EncodeToString(sum[:])
}
