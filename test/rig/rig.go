// Package rig boots the OS image under real systemd (systemd-nspawn) with
// bootc's filesystem rules and runs scripts/verify-instance.sh inside the
// guest. test/boot drives upgrades, rollbacks, a new app and a bad image
// through it; test/bench times boot-to-verified with it.
//
// The rig simulates one bootc host:
//
//   - a deployment per image: the image's root filesystem, booted with
//     --read-only so /usr (and everything from the image) cannot change;
//   - /etc per deployment: a copy of the image's /etc made when the image is
//     first deployed and kept with the deployment, so booting it again (a
//     rollback) gets its own /etc back, as ostree keeps one /etc per deployment.
//     A new deployment starts from its image's /etc: bootc's 3-way merge would
//     carry local /etc edits over, and these scenarios make none;
//   - one /var for the whole host, shared by every deployment and never rolled
//     back, seeded from the first deployed image's /var only (bootc unpacks
//     image /var content at install time, never on upgrades).
//
// The rig is not bootc: there is no ostree, no /run/ostree-booted and no bootc
// status. verify-instance.sh therefore reports its bootc checks as SKIP inside
// the rig, and the rig asks for --layout-checks so /usr read-only and /var
// writable are still checked on the simulated layout. A bootc double inside
// the guest would make those checks pass on invented data; they are covered by
// test/verify with recorded doubles instead.
//
// Everything the rig adds lives outside the image and outside the deployment's
// /etc, bind-mounted at boot: a runtime unit in /run/systemd/system that runs
// the verification after multi-user.target and powers off, the scripts/
// directory (read-only) and a results directory.
package rig

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// Where the rig's own files appear inside the guest (a tmpfs: nothing persists).
const (
	guestRigDir     = "/run/testboot-rig"
	guestResultsDir = guestRigDir + "/results"
	rigUnit         = "testboot-rig-verify.service"
)

// Host is one simulated bootc host: its deployments and its persistent /var.
type Host struct {
	Dir    string // everything of this host; removed when the test ends
	VarDir string // the host's one /var
	deps   map[string]*Deployment
	boots  int
}

// Deployment is one image deployed on the host.
type Deployment struct {
	Image  harness.Image
	Root   string // the image's root filesystem (booted read-only)
	EtcDir string // this deployment's /etc
}

// NewHost makes an empty host under /var/tmp (root filesystems are too big for
// a tmpfs /tmp). The host's directory goes when the test ends, after any guest
// still running has been killed.
func NewHost(t testing.TB) *Host {
	t.Helper()
	if err := os.MkdirAll("/var/tmp", 0o1777); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "bootc-testboot-rig.")
	if err != nil {
		t.Fatal(err)
	}
	h := &Host{Dir: dir, VarDir: filepath.Join(dir, "var"), deps: map[string]*Deployment{}}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the rig's host directory %s: %v", dir, err)
		}
	})
	if err := os.MkdirAll(h.VarDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

// Deploy makes img a deployment of the host (what `bootc upgrade`/`switch`
// stage and a reboot boots). An image deployed before is not deployed again:
// its deployment, with its own /etc, is returned, which is what a rollback boots.
func (h *Host) Deploy(t testing.TB, img harness.Image) *Deployment {
	t.Helper()
	if d, ok := h.deps[img.ID]; ok {
		return d
	}
	dir := filepath.Join(h.Dir, "deploy", strconv.Itoa(len(h.deps)))
	d := &Deployment{Image: img, Root: filepath.Join(dir, "root"), EtcDir: filepath.Join(dir, "etc")}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	mnt := harness.MountImage(t, img.Ref)
	copyTree(t, mnt, d.Root)
	copyTree(t, filepath.Join(d.Root, "etc"), d.EtcDir)
	if len(h.deps) == 0 {
		// First install: the image's /var becomes the host's /var, once.
		copyTree(t, filepath.Join(d.Root, "var"), h.VarDir)
	}
	h.deps[img.ID] = d
	t.Logf("deployed %s (%s) in %s", img.Ref, img.ID[:19], time.Since(start).Round(100*time.Millisecond))
	return d
}

// copyTree copies a directory's content with owners, modes, links and xattrs.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", "--no-target-directory", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v: %s", src, dst, err, out)
	}
}

// BootOptions says what one boot does besides verifying.
type BootOptions struct {
	// Visits: GET / through nginx this many times before verifying, to put
	// state into /var (hello counts visits in /var/lib/private/hello).
	Visits int
	// VerifyArgs are extra arguments for verify-instance.sh.
	VerifyArgs []string
	// Timeout for the whole boot, power-off included (default 90s). The guest
	// is stopped, then killed, when it runs out.
	Timeout time.Duration
}

// Boot is the outcome of booting a deployment once.
type Boot struct {
	Deployment *Deployment
	// Verified is from starting systemd-nspawn to the verification's exit
	// code appearing in the results: boot to verified.
	Verified time.Duration
	// Total is from start to the guest having powered off.
	Total time.Duration
	// ExitCode is verify-instance.sh's exit status inside the guest.
	ExitCode int
	// Report is verify-instance.sh's --json document.
	Report Report
	// RawReport is the document as printed.
	RawReport string
	// LastVisit is hello's answer to the last GET / of BootOptions.Visits.
	LastVisit map[string]any
	// ResultsDir holds everything the guest wrote: verify.json, verify.stderr,
	// journal.txt, failed-units.txt, console.log (the boot console).
	ResultsDir string

	GuestPIDs []int // the container's init as seen from the host
}

// Report is the part of verify-instance.sh --json the tests read.
type Report struct {
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
	Facts  struct {
		BootcHost       bool           `json:"bootc_host"`
		BootcSkipReason string         `json:"bootc_skip_reason"`
		SystemState     string         `json:"system_state"`
		FailedUnits     []string       `json:"failed_units"`
		APIInfo         map[string]any `json:"api_info"`
		Apps            []struct {
			Unit       string `json:"unit"`
			HealthPath string `json:"health_path"`
		} `json:"apps"`
	} `json:"facts"`
	Summary struct{ Passed, Failed, Skipped int } `json:"summary"`
}

// Check is one check of the report.
type Check struct{ Name, Status, Detail string }

// Check returns the named check (zero Check when absent).
func (r Report) Check(name string) Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return Check{}
}

// Failed lists the checks that failed, one per line.
func (r Report) Failed() string {
	var b strings.Builder
	for _, c := range r.Checks {
		if c.Status == "FAIL" {
			fmt.Fprintf(&b, "  FAIL  %s  %s\n", c.Name, c.Detail)
		}
	}
	return b.String()
}

// Boot boots d with real systemd as PID 1, lets the rig unit verify the
// running system and power it off, and returns what the guest reported. It
// fails the test when the guest does not report (boot hang, timeout), with
// the console and journal; a failed verification is for the caller to judge.
func (h *Host) Boot(t testing.TB, d *Deployment, opts BootOptions) Boot {
	t.Helper()
	b, err := h.TryBoot(t, d, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TryBoot is Boot returning the rig's failure (timeout, no report, unclean
// power-off) as an error. The guest is gone when it returns, on every path.
func (h *Host) TryBoot(t testing.TB, d *Deployment, opts BootOptions) (Boot, error) {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 90 * time.Second
	}
	h.boots++
	bootDir := filepath.Join(h.Dir, "boot", strconv.Itoa(h.boots))
	rigDir := filepath.Join(bootDir, "rig")
	unitDir := filepath.Join(bootDir, "units")
	results := filepath.Join(bootDir, "results")
	for _, dir := range []string{rigDir, filepath.Join(rigDir, "results"), filepath.Join(rigDir, "scripts"), results,
		filepath.Join(unitDir, "multi-user.target.wants")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeRigFiles(t, rigDir, unitDir, opts)

	console, err := os.Create(filepath.Join(results, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()

	cmd := exec.Command("systemd-nspawn",
		"--quiet", "--boot", "--register=no", "--keep-unit",
		"--directory="+d.Root,
		"--machine=testboot-rig",
		// bootc's layout: the image read-only, /etc per deployment, one /var.
		"--read-only",
		"--bind="+d.EtcDir+":/etc",
		"--bind="+h.VarDir+":/var",
		// Loopback only: the guest's nginx on :80 does not meet the host's.
		"--private-network",
		// The rig's files: runtime units, the scripts under test, results.
		"--bind-ro="+unitDir+":/run/systemd/system",
		"--bind-ro="+rigDir+":"+guestRigDir,
		"--bind-ro="+harness.Path("scripts")+":"+guestRigDir+"/scripts",
		"--bind="+results+":"+guestResultsDir,
	)
	cmd.Stdout, cmd.Stderr = console, console
	// Plain console text in console.log (nspawn hands TERM to the guest).
	cmd.Env = append(os.Environ(), "TERM=dumb")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	b := Boot{Deployment: d, ResultsDir: results, ExitCode: -1}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return b, fmt.Errorf("systemd-nspawn: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	reaped := false
	// Whatever happens below (t.Fatal included), no guest outlives this call.
	defer func() {
		if !reaped {
			stopGuest(t, cmd.Process.Pid)
			<-exited
		}
	}()

	timeout := time.NewTimer(opts.Timeout)
	defer timeout.Stop()
	rcFile := filepath.Join(results, "verify.rc")
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var waitErr, rigErr error
wait:
	for {
		select {
		case waitErr = <-exited:
			reaped = true
			break wait
		case <-timeout.C:
			rigErr = fmt.Errorf("boot of %s: no power-off within %s; the guest was stopped", d.Image.Ref, opts.Timeout)
			b.GuestPIDs = harness.ChildrenOf(cmd.Process.Pid)
			stopGuest(t, cmd.Process.Pid)
			waitErr = <-exited
			reaped = true
			break wait
		case <-tick.C:
			if b.GuestPIDs == nil {
				b.GuestPIDs = harness.ChildrenOf(cmd.Process.Pid)
			}
			if b.Verified == 0 {
				if _, err := os.Stat(rcFile); err == nil {
					b.Verified = time.Since(start)
				}
			}
		}
	}
	b.Total = time.Since(start)
	if b.Verified == 0 {
		if _, err := os.Stat(rcFile); err == nil {
			b.Verified = b.Total
		}
	}

	rc, err := os.ReadFile(rcFile)
	if err != nil {
		return b, fmt.Errorf("%v\nboot of %s: the guest never reported a verification (nspawn: %v)\n%s",
			rigErr, d.Image.Ref, waitErr, GuestDiagnostics(results))
	}
	if b.ExitCode, err = strconv.Atoi(strings.TrimSpace(string(rc))); err != nil {
		return b, fmt.Errorf("boot of %s: verify.rc %q: %v", d.Image.Ref, rc, err)
	}
	raw, err := os.ReadFile(filepath.Join(results, "verify.json"))
	if err != nil {
		return b, err
	}
	b.RawReport = string(raw)
	if err := json.Unmarshal(raw, &b.Report); err != nil {
		return b, fmt.Errorf("boot of %s: verify-instance.sh --json printed no JSON document: %v\n%s\n%s",
			d.Image.Ref, err, raw, GuestDiagnostics(results))
	}
	if v, err := os.ReadFile(filepath.Join(results, "visit.json")); err == nil && len(v) > 0 {
		if err := json.Unmarshal(v, &b.LastVisit); err != nil {
			return b, fmt.Errorf("GET / answered %q: %v", v, err)
		}
	}
	t.Logf("boot %d: %s: boot to verified %.2fs, to power-off %.2fs, verify exit %d (%d passed, %d failed, %d skipped)",
		h.boots, d.Image.Ref, b.Verified.Seconds(), b.Total.Seconds(), b.ExitCode,
		b.Report.Summary.Passed, b.Report.Summary.Failed, b.Report.Summary.Skipped)
	if rigErr != nil {
		return b, rigErr
	}
	if waitErr != nil {
		return b, fmt.Errorf("boot of %s: systemd-nspawn ended with %v (the guest did not power off cleanly)\n%s",
			d.Image.Ref, waitErr, tailFile(filepath.Join(results, "console.log"), 30))
	}
	return b, nil
}

// writeRigFiles writes the guest-side runner and the runtime units.
func writeRigFiles(t testing.TB, rigDir, unitDir string, opts BootOptions) {
	t.Helper()
	verifyArgs := append([]string{"--json", "--layout-checks", "--wait-boot", "60"}, opts.VerifyArgs...)
	quoted := make([]string, len(verifyArgs))
	for i, a := range verifyArgs {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	// Runs inside the guest. Results are written to a temp name and renamed, so
	// the host never reads a half-written file; verify.rc comes last of the
	// verification results because the host times "verified" by it.
	runner := fmt.Sprintf(`#!/bin/sh
# Boot rig runner (inside the guest): visits, verification, diagnostics, power-off.
set -u
R=%[1]s
put() { cat >"$R/.$1.tmp" && mv "$R/.$1.tmp" "$R/$1"; }
i=0
while [ "$i" -lt %[2]d ]; do
  curl -sS --max-time 10 http://127.0.0.1/ | put visit.json
  i=$((i + 1))
done
rc=0
%[3]s/scripts/verify-instance.sh %[4]s >"$R/.verify.json.tmp" 2>"$R/verify.stderr" || rc=$?
mv "$R/.verify.json.tmp" "$R/verify.json"
echo "$rc" | put verify.rc
systemctl list-units --failed --plain --no-legend | put failed-units.txt
journalctl -b --no-pager -o short-monotonic | put journal.txt
systemctl poweroff --no-block
`, guestResultsDir, opts.Visits, guestRigDir, strings.Join(quoted, " "))
	if err := os.WriteFile(filepath.Join(rigDir, "run.sh"), []byte(runner), 0o755); err != nil {
		t.Fatal(err)
	}
	// Type=exec, not oneshot: the start job ends at once, so the boot
	// transaction completes and is-system-running reaches "running" while the
	// verification runs (a oneshot would keep the system "starting").
	unit := fmt.Sprintf(`[Unit]
Description=Boot rig: verify this boot, report to the host, power off
After=multi-user.target

[Service]
Type=exec
ExecStart=%s/run.sh
StandardOutput=journal+console
StandardError=journal+console
`, guestRigDir)
	if err := os.WriteFile(filepath.Join(unitDir, rigUnit), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../"+rigUnit, filepath.Join(unitDir, "multi-user.target.wants", rigUnit)); err != nil {
		t.Fatal(err)
	}
	// The rig is a machine without a cloud: cloud-init would wait two minutes
	// for EC2's metadata service. Masked at runtime (as `systemctl mask
	// --runtime` does), so neither the image nor the deployment's /etc changes.
	for _, u := range []string{"cloud-init-local.service", "cloud-init.service", "cloud-config.service", "cloud-final.service"} {
		if err := os.Symlink("/dev/null", filepath.Join(unitDir, u)); err != nil {
			t.Fatal(err)
		}
	}
}

// stopGuest ends a guest that is still running: SIGTERM asks systemd-nspawn
// for an orderly power-off; after a grace period the container's init (and so
// its whole PID namespace) and nspawn are killed.
func stopGuest(t testing.TB, pid int) {
	if !harness.Alive(pid) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 100; i++ { // 10s
		if !harness.Alive(pid) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, child := range harness.ChildrenOf(pid) {
		_ = syscall.Kill(child, syscall.SIGKILL) // a PID namespace's init takes the namespace with it
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	t.Logf("killed systemd-nspawn %d after it ignored SIGTERM for 10s", pid)
}

// GuestDiagnostics is what a failed boot shows: the tail of the console, the
// failed units and verify's stderr.
func GuestDiagnostics(results string) string {
	var b strings.Builder
	for _, f := range []string{"failed-units.txt", "verify.stderr"} {
		if s := tailFile(filepath.Join(results, f), 20); s != "" {
			fmt.Fprintf(&b, "--- %s\n%s\n", f, s)
		}
	}
	fmt.Fprintf(&b, "--- console (last 40 lines)\n%s\n", tailFile(filepath.Join(results, "console.log"), 40))
	return b.String()
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ""
		}
		return err.Error()
	}
	return harness.Tail(string(data), n)
}
