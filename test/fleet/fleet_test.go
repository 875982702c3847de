// Package fleet tests scripts/fleet.sh (make fleet-upgrade, fleet-status, ssm-document)
// against the aws double's simulated SSM fleet (test/doubles/bin/aws, "SSM fleet"), and
// the SSM document ssm/bootc-testboot-os.yaml against the bootc doubles.
package fleet

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

var (
	d1 = harness.Digest("fleet v1")
	d2 = harness.Digest("fleet v2")
	d0 = harness.Digest("fleet v0")
)

type fleet struct {
	d   *harness.Doubles
	out string // $OUTPUT
	ids []string
}

func hostID(i int) string { return fmt.Sprintf("i-%017x", i) }

// newFleet: n instances tagged Env=prod, booted on v1 (v0 as rollback), SSM Online, the
// document registered, the registry serving v2.
func newFleet(t *testing.T, n int) *fleet {
	t.Helper()
	d := harness.NewDoubles(t)
	f := &fleet{d: d, out: t.TempDir()}
	d.Env = append(d.Env, "OUTPUT="+f.out, "AWS_REGION=us-east-1", "TESTBOOT_NO_JOURNAL=1")
	d.Set(t, "aws/credentials", "")
	doc, err := os.ReadFile(harness.Path("ssm", "bootc-testboot-os.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d.Set(t, "aws/ssm/documents/bootc-testboot-os.yaml", string(doc))
	d.Set(t, "aws/ssm/documents/bootc-testboot-os.latest", "1\n")
	d.Set(t, "aws/ssm/documents/bootc-testboot-os.default", "1\n")
	d.Set(t, "aws/ssm/registry", d2+"\n")
	d.Set(t, "aws/ssm/registry-version", "v2\n")
	for i := 1; i <= n; i++ {
		id := hostID(i)
		f.ids = append(f.ids, id)
		f.set(t, id, "tags", `{"Env":"prod"}`)
		f.set(t, id, "booted", d1+"\n")
		f.set(t, id, "version", "v1\n")
		f.set(t, id, "rollback", d0+"\n")
		f.set(t, id, "rollback-version", "v0\n")
	}
	return f
}

func (f *fleet) set(t *testing.T, id, file, content string) {
	t.Helper()
	f.d.Set(t, "aws/ssm/hosts/"+id+"/"+file, content)
}

func (f *fleet) booted(t *testing.T, id string) string {
	t.Helper()
	return strings.TrimSpace(f.d.Read(t, "aws/ssm/hosts/"+id+"/booted"))
}

// run: scripts/fleet.sh with fast polling and short timeouts.
func (f *fleet) run(t *testing.T, args ...string) harness.Result {
	t.Helper()
	args = append(args, "--poll-seconds", "0", "--timeout", "20")
	return f.d.RunCmd(t, harness.Cmd{Script: "fleet.sh", Args: args, Timeout: 3 * time.Minute})
}

func (f *fleet) upgrade(t *testing.T, extra ...string) harness.Result {
	t.Helper()
	return f.run(t, append([]string{"upgrade", "--tag", "Env=prod", "--digest", d2, "--yes"}, extra...)...)
}

type report struct {
	Status string `json:"status"`
	Hosts  map[string]struct {
		Wave   *int   `json:"wave"`
		State  string `json:"state"`
		Detail string `json:"detail"`
	} `json:"hosts"`
	Waves []struct {
		Hosts  []string `json:"hosts"`
		Status string   `json:"status"`
	} `json:"waves"`
}

func (f *fleet) report(t *testing.T) report {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(f.out, "fleet", "rollout-*.json"))
	if len(files) != 1 {
		t.Fatalf("want one report under %s/fleet, got %v", f.out, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", files[0], err)
	}
	return r
}

// sends: the send-command calls with this action, each as its instance IDs.
func sends(calls []harness.Call, action string) [][]string {
	var out [][]string
	for _, c := range harness.Find(calls, "aws", "send-command") {
		var ids []string
		act := ""
		for i := 0; i < len(c.Args); i++ {
			switch c.Args[i] {
			case "--instance-ids":
				for i+1 < len(c.Args) && !strings.HasPrefix(c.Args[i+1], "--") {
					i++
					ids = append(ids, c.Args[i])
				}
			case "--parameters":
				var p map[string][]string
				if err := json.Unmarshal([]byte(c.Args[i+1]), &p); err == nil && len(p["action"]) == 1 {
					act = p["action"][0]
				}
			}
		}
		if act == action {
			out = append(out, ids)
		}
	}
	return out
}

func touched(calls []harness.Call, id string) bool {
	for _, ids := range append(append(sends(calls, "download"), sends(calls, "apply")...), sends(calls, "rollback")...) {
		for _, i := range ids {
			if i == id {
				return true
			}
		}
	}
	return false
}

func expectExit(t *testing.T, r harness.Result, code int) {
	t.Helper()
	if r.ExitCode != code {
		t.Fatalf("exit %d, want %d\n%s", r.ExitCode, code, r.Output())
	}
}

func TestFleetAllHealthy(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 5)
	r := f.upgrade(t)
	expectExit(t, r, 0)
	for _, id := range f.ids {
		if got := f.booted(t, id); got != d2 {
			t.Errorf("%s boots %s, want %s", id, got, d2)
		}
	}
	rep := f.report(t)
	if rep.Status != "complete" || len(rep.Waves) != 3 {
		t.Errorf("report: status %q, %d waves; want complete, 3 (1, 10%%, 50%%, rest of 5)", rep.Status, len(rep.Waves))
	}
	for id, h := range rep.Hosts {
		if h.State != "verified" {
			t.Errorf("%s: state %q, want verified", id, h.State)
		}
	}
	// Downloads first, for everyone at once; then the canary alone.
	if dl := sends(r.Calls, "download"); len(dl) != 1 || len(dl[0]) != 5 {
		t.Errorf("downloads: %v, want one command to the 5 hosts", dl)
	}
	applies := sends(r.Calls, "apply")
	if len(applies) != 3 || len(applies[0]) != 1 || applies[0][0] != f.ids[0] {
		t.Errorf("applies: %v, want the canary %s alone first, then 2 more waves", applies, f.ids[0])
	}
	for _, c := range harness.Find(r.Calls, "aws", "send-command") {
		if !c.Has("aws", "--max-concurrency") || !c.Has("aws", "--max-errors") {
			t.Errorf("send-command without SSM rate control: %s", c)
		}
	}
	if !strings.Contains(r.Stderr, "wave 1/3 (canary)") || !strings.Contains(r.Stdout, "complete") {
		t.Errorf("no progress per wave or no summary:\n%s", r.Output())
	}

	// A second run finds every host on the digest: nothing is downloaded or applied.
	r = f.upgrade(t)
	expectExit(t, r, 0)
	if n := len(sends(r.Calls, "download")) + len(sends(r.Calls, "apply")); n != 0 {
		t.Errorf("rerun sent %d download/apply commands, want none\n%s", n, r.Output())
	}
	if !strings.Contains(r.Stdout, "nothing to roll out") {
		t.Errorf("rerun does not say there is nothing to do:\n%s", r.Output())
	}

	// fleet status shows the new digest and the last verify per host.
	r = f.run(t, "status", "--tag", "Env=prod")
	expectExit(t, r, 0)
	for _, id := range f.ids {
		line := ""
		for _, l := range strings.Split(r.Stdout, "\n") {
			if strings.HasPrefix(l, id) {
				line = l
			}
		}
		if !strings.Contains(line, d2[:19]) || !strings.Contains(line, "v2") || !strings.Contains(line, "ok ") {
			t.Errorf("status line of %s: %q, want digest %s, version v2, last verify ok", id, line, d2[:19])
		}
	}
	r = f.run(t, "status", "--tag", "Env=prod", "--json")
	expectExit(t, r, 0)
	var rows []struct {
		Instance string `json:"instance"`
		Booted   struct {
			Digest string `json:"digest"`
		} `json:"booted"`
		LastVerify struct {
			OK bool `json:"ok"`
		} `json:"lastVerify"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil || len(rows) != 5 {
		t.Fatalf("status --json: %v, %d rows\n%s", err, len(rows), r.Stdout)
	}
	for _, row := range rows {
		if row.Booted.Digest != d2 || !row.LastVerify.OK {
			t.Errorf("status --json %s: %+v", row.Instance, row)
		}
	}
}

func TestFleetCanaryFails(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 4)
	f.set(t, f.ids[0], "fail-verify", d2)
	r := f.upgrade(t)
	expectExit(t, r, 1)
	if got := f.booted(t, f.ids[0]); got != d1 {
		t.Errorf("canary boots %s after the failed rollout, want it rolled back to %s", got, d1)
	}
	for _, id := range f.ids[1:] {
		if got := f.booted(t, id); got != d1 {
			t.Errorf("%s boots %s, want it untouched on %s", id, got, d1)
		}
	}
	if a := sends(r.Calls, "apply"); len(a) != 1 || len(a[0]) != 1 {
		t.Errorf("applies %v, want the canary only", a)
	}
	rep := f.report(t)
	if rep.Status != "halted" || rep.Hosts[f.ids[0]].State != "rolled-back" {
		t.Errorf("report: %q, canary %+v; want halted, rolled-back", rep.Status, rep.Hosts[f.ids[0]])
	}
	if !strings.Contains(rep.Hosts[f.ids[0]].Detail, "http:/health") {
		t.Errorf("the report does not say why the canary failed: %+v", rep.Hosts[f.ids[0]])
	}
	if !strings.Contains(r.Stdout, f.ids[0]) || !strings.Contains(r.Stdout, "rolled-back") {
		t.Errorf("no per-host outcome printed:\n%s", r.Stdout)
	}
	// A halted rollout is not taken up again by accident.
	r = f.upgrade(t)
	expectExit(t, r, 1)
	if !strings.Contains(r.Stderr, "--restart") || len(harness.Mutations(r.Calls)) != 0 {
		t.Errorf("rerun after a halt: want a refusal naming --restart and no command\n%s", r.Output())
	}
}

func TestFleetSkipsOfflineHost(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 4)
	off := f.ids[2]
	f.set(t, off, "ping", "ConnectionLost")
	r := f.upgrade(t)
	expectExit(t, r, 0)
	if touched(r.Calls, off) {
		t.Errorf("a command was sent to the offline %s", off)
	}
	if !strings.Contains(r.Stderr, off+": SSM agent is ConnectionLost: skipped") {
		t.Errorf("the offline host is not reported:\n%s", r.Stderr)
	}
	if st := f.report(t).Hosts[off].State; st != "offline" {
		t.Errorf("report: %s is %q, want offline", off, st)
	}
	for _, id := range f.ids {
		if id != off && f.booted(t, id) != d2 {
			t.Errorf("%s was not upgraded", id)
		}
	}
}

func TestFleetFailedDownloadExcludesHost(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 4)
	bad := f.ids[1]
	f.set(t, bad, "fail-download", "no space left on device")
	r := f.upgrade(t)
	expectExit(t, r, 0)
	h := f.report(t).Hosts[bad]
	if h.State != "download-failed" || !strings.Contains(h.Detail, "no space left") {
		t.Errorf("report: %s %+v, want download-failed with the reason", bad, h)
	}
	for _, a := range sends(r.Calls, "apply") {
		for _, id := range a {
			if id == bad {
				t.Errorf("apply sent to %s whose download failed", bad)
			}
		}
	}
	for _, id := range f.ids {
		if want := map[bool]string{true: d1, false: d2}[id == bad]; f.booted(t, id) != want {
			t.Errorf("%s boots %s, want %s", id, f.booted(t, id), want)
		}
	}
}

func TestFleetWaveOverThresholdHalts(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 6)
	// Wave 2 is hosts 2-4; two of them fail, one is allowed.
	f.set(t, f.ids[1], "fail-verify", d2)
	f.set(t, f.ids[2], "fail-verify", d2)
	r := f.upgrade(t, "--waves", "1,3,rest", "--max-errors", "1")
	expectExit(t, r, 1)
	if got := f.booted(t, f.ids[0]); got != d2 {
		t.Errorf("wave 1 (%s) boots %s, want it kept on %s", f.ids[0], got, d2)
	}
	for _, id := range f.ids[1:4] {
		if got := f.booted(t, id); got != d1 {
			t.Errorf("wave 2 host %s boots %s, want it rolled back to %s", id, got, d1)
		}
	}
	for _, id := range f.ids[4:] {
		if touched(harness.Find(r.Calls, "aws", "send-command"), id) && len(sends(r.Calls, "apply")) > 2 {
			t.Errorf("wave 3 host %s got an apply", id)
		}
		if f.booted(t, id) != d1 {
			t.Errorf("wave 3 host %s was changed", id)
		}
	}
	rep := f.report(t)
	if rep.Status != "halted" || rep.Waves[0].Status != "done" || rep.Waves[1].Status != "halted" || rep.Waves[2].Status != "pending" {
		t.Errorf("report: %+v", rep)
	}
	for _, id := range f.ids[1:4] {
		if st := rep.Hosts[id].State; st != "rolled-back" {
			t.Errorf("%s: state %q, want rolled-back", id, st)
		}
	}
}

func TestFleetResumesInterruptedRollout(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 5)
	// The operator's session dies right after wave 2's apply was sent.
	f.d.Set(t, "aws/ssm/interrupt-at-send", "apply 2")
	r := f.upgrade(t)
	if r.ExitCode == 0 {
		t.Fatalf("the interrupted run exited 0\n%s", r.Output())
	}
	if rep := f.report(t); rep.Status != "in-progress" || rep.Waves[0].Status != "done" {
		t.Fatalf("state after the interruption: %+v", rep)
	}
	f.d.Remove(t, "aws/ssm/interrupt-at-send")
	r = f.upgrade(t)
	expectExit(t, r, 0)
	if !strings.Contains(r.Stderr, "resuming") {
		t.Errorf("the second run does not say it resumes:\n%s", r.Stderr)
	}
	for _, a := range sends(r.Calls, "apply") {
		for _, id := range a {
			if id == f.ids[0] {
				t.Errorf("the resumed run applied to the canary again")
			}
		}
	}
	for _, id := range f.ids {
		if f.booted(t, id) != d2 {
			t.Errorf("%s boots %s after the resumed rollout", id, f.booted(t, id))
		}
	}
	if rep := f.report(t); rep.Status != "complete" {
		t.Errorf("report status %q, want complete", rep.Status)
	}
}

func TestFleetDryRunSendsNothing(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 12)
	r := f.run(t, "upgrade", "--tag", "Env=prod", "--digest", d2, "--dry-run")
	expectExit(t, r, 0)
	for _, want := range []string{"wave 1 (canary): 1 host(s)", "wave 2: 2 host(s)", "wave 3: 6 host(s)", "wave 4: 3 host(s)", "dry run"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("plan does not say %q:\n%s", want, r.Stdout)
		}
	}
	if m := harness.Mutations(r.Calls); len(m) != 0 {
		t.Errorf("dry run made mutating calls:\n%s", harness.FormatCalls(m))
	}
	// Without a terminal and without --yes: refused, nothing sent.
	r = f.run(t, "upgrade", "--tag", "Env=prod", "--digest", d2)
	if r.ExitCode == 0 || !strings.Contains(r.Stderr, "refusing without a terminal") || len(harness.Mutations(r.Calls)) != 0 {
		t.Errorf("no --yes, no terminal: exit %d, want a refusal and no command\n%s", r.ExitCode, r.Output())
	}
}

func TestFleetRefusesBadInput(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 5)
	noDigest := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{
		{"no selection", []string{"upgrade", "--digest", d2, "--yes"}, nil, 2, "no instances selected"},
		{"tag and asg", []string{"upgrade", "--tag", "Env=prod", "--asg", "web", "--digest", d2, "--yes"}, nil, 2, "not both"},
		{"tag without value", []string{"upgrade", "--tag", "Env", "--digest", d2, "--yes"}, nil, 2, "is not KEY=VALUE"},
		{"unknown tag", []string{"upgrade", "--tag", "Env=nope", "--digest", d2, "--yes"}, nil, 1, "no instance matches tag Env=nope"},
		{"unknown asg", []string{"upgrade", "--asg", "nope", "--digest", d2, "--yes"}, nil, 1, "no Auto Scaling group 'nope'"},
		{"bad digest", []string{"upgrade", "--tag", "Env=prod", "--digest", "sha256:1234", "--yes"}, nil, 2, "--digest must be sha256"},
		{"injected digest", []string{"upgrade", "--tag", "Env=prod", "--digest", "$(touch x)", "--yes"}, nil, 2, "--digest must be sha256"},
		{"no digest at all", []string{"upgrade", "--tag", "Env=prod", "--yes"}, []string{"OUTPUT=" + noDigest}, 2, "no --digest given"},
		{"zero wave", []string{"upgrade", "--tag", "Env=prod", "--digest", d2, "--waves", "0,rest", "--yes"}, nil, 2, "'0' is not a number of hosts"},
		{"rest first", []string{"upgrade", "--tag", "Env=prod", "--digest", d2, "--waves", "rest,1", "--yes"}, nil, 2, "rest can only be the last"},
		{"over 100%", []string{"upgrade", "--tag", "Env=prod", "--digest", d2, "--waves", "1,150%", "--yes"}, nil, 2, "'150%' is not"},
		{"empty wave", []string{"upgrade", "--tag", "Env=prod", "--digest", d2, "--waves", "1,,rest", "--yes"}, nil, 2, "'' is not"},
		{"waves short of the hosts", []string{"upgrade", "--tag", "Env=prod", "--digest", d2, "--waves", "1,2", "--yes"}, nil, 2, "covers 3 of the 5 hosts"},
		{"max errors", []string{"upgrade", "--tag", "Env=prod", "--digest", d2, "--max-errors", "-1", "--yes"}, nil, 2, "--max-errors"},
		{"no document", []string{"upgrade", "--tag", "Env=prod", "--digest", d2, "--document", "missing-doc", "--yes"}, nil, 1, "make ssm-document"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := f.d.RunCmd(t, harness.Cmd{Script: "fleet.sh", Args: c.args, Env: c.env})
			if r.ExitCode != c.code {
				t.Errorf("exit %d, want %d\n%s", r.ExitCode, c.code, r.Output())
			}
			lines := harness.NonEmptyLines(r.Stderr)
			if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], c.want) {
				t.Errorf("last stderr line does not say %q:\n%s", c.want, r.Stderr)
			}
			if m := harness.Mutations(r.Calls); len(m) != 0 {
				t.Errorf("bad input reached mutating calls:\n%s", harness.FormatCalls(m))
			}
		})
	}
	for _, id := range f.ids {
		if f.booted(t, id) != d1 {
			t.Errorf("%s changed", id)
		}
	}
}

func TestFleetDocumentCreateAndUpdate(t *testing.T) {
	t.Parallel()
	f := newFleet(t, 1)
	for _, suffix := range []string{"yaml", "latest", "default"} {
		f.d.Remove(t, "aws/ssm/documents/bootc-testboot-os."+suffix)
	}
	r := f.run(t, "document")
	expectExit(t, r, 0)
	if len(harness.Find(r.Calls, "aws", "create-document", "--document-type", "Command", "--document-format", "YAML")) != 1 ||
		!strings.Contains(r.Stdout, "created") {
		t.Errorf("want one create-document:\n%s\n%s", harness.FormatCalls(r.Calls), r.Output())
	}
	r = f.run(t, "document")
	expectExit(t, r, 0)
	if !strings.Contains(r.Stdout, "unchanged") || len(harness.Find(r.Calls, "aws", "update-document-default-version")) != 0 {
		t.Errorf("unchanged document: want no new default version\n%s", r.Output())
	}
	// The account holds an older text: update, then make the new version the default.
	f.d.Set(t, "aws/ssm/documents/bootc-testboot-os.yaml", "schemaVersion: '2.2'\n")
	r = f.run(t, "document")
	expectExit(t, r, 0)
	if len(harness.Find(r.Calls, "aws", "update-document-default-version", "--document-version", "2")) != 1 {
		t.Errorf("want the default version set to 2:\n%s", harness.FormatCalls(r.Calls))
	}
	if got := strings.TrimSpace(f.d.Read(t, "aws/ssm/documents/bootc-testboot-os.default")); got != "2" {
		t.Errorf("default version %q, want 2", got)
	}
	// No credentials: one line, exit 1, nothing created.
	f.d.Remove(t, "aws/credentials")
	r = f.run(t, "document")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "no usable AWS credentials") || len(harness.Mutations(r.Calls)) != 0 {
		t.Errorf("no credentials: exit %d\n%s", r.ExitCode, r.Output())
	}
}
