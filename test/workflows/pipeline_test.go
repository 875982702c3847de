package workflows

// What the README's CI/CD section promises about the pipeline, checked on the files.

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"bootc-testboot/test/harness"

	"gopkg.in/yaml.v3"
)

type pJob struct {
	Needs    yaml.Node `yaml:"needs"` // a name or a list of names
	If       string    `yaml:"if"`
	Strategy struct {
		Matrix struct {
			Include []map[string]string `yaml:"include"`
		} `yaml:"matrix"`
	} `yaml:"strategy"`
	Steps []struct {
		Uses string            `yaml:"uses"`
		Run  string            `yaml:"run"`
		Env  map[string]string `yaml:"env"`
	} `yaml:"steps"`
}

type pWorkflow struct {
	Name string               `yaml:"name"`
	On   map[string]yaml.Node `yaml:"on"`
	Jobs map[string]pJob      `yaml:"jobs"`
}

func loadWorkflow(t *testing.T, name string) pWorkflow {
	t.Helper()
	var wf pWorkflow
	if err := yaml.Unmarshal([]byte(harness.ReadFile(t, harness.Path(".github", "workflows", name))), &wf); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return wf
}

// script is every run: of a job, in order; env is every env: value.
func (j pJob) script() (run, env string) {
	for _, s := range j.Steps {
		run += s.Run + "\n"
		for _, v := range s.Env {
			env += v + "\n"
		}
	}
	return run, env
}

// goals is every make goal a run script names.
func goals(script string) (targets []string, err error) {
	calls, err := makeCommands(script)
	for _, c := range calls {
		targets = append(targets, c.Goals...)
	}
	return targets, err
}

func TestPipelineRules(t *testing.T) {
	ci, pub := loadWorkflow(t, "ci.yml"), loadWorkflow(t, "publish.yml")
	check := func(ok bool, format string, args ...any) {
		if t.Helper(); !ok {
			t.Errorf(format, args...)
		}
	}

	// Publish after ci: only workflow_run of ci (completed, main), schedule and
	// dispatch start it; a gate job checks ci's conclusion; every job needs the gate.
	wr := pub.On["workflow_run"]
	var run struct{ Workflows, Types, Branches []string }
	check(wr.Decode(&run) == nil && strings.Join(run.Workflows, ",") == ci.Name && strings.Join(run.Types, ",") == "completed" &&
		strings.Join(run.Branches, ",") == "main", "publish.yml: want on.workflow_run {workflows: [%s], types: [completed], branches: [main]}", ci.Name)
	for ev := range pub.On {
		check(ev == "workflow_run" || ev == "schedule" || ev == "workflow_dispatch", "publish.yml: trigger %q would publish without ci", ev)
	}
	gateRun, gateEnv := pub.Jobs["gate"].script()
	check(strings.Contains(gateEnv, "github.event.workflow_run.conclusion") && strings.Contains(gateRun, "!= success") &&
		strings.Contains(gateRun, "status=success"), "publish.yml: the gate job must check ci's conclusion (workflow_run) and ask for a successful ci run of the commit (schedule, dispatch)")
	var reaches func(job string, depth int) bool
	reaches = func(job string, depth int) bool {
		needs := pub.Jobs[job].Needs
		for _, n := range append(needs.Content, &needs) {
			if n.Value == "gate" || (n.Value != "" && depth < 10 && reaches(n.Value, depth+1)) {
				return true
			}
		}
		return false
	}
	for name := range pub.Jobs {
		check(name == "gate" || reaches(name, 0), "publish.yml: job %q does not wait for the gate", name)
	}

	// Weekly rebuild that publishes only changed content.
	check(pub.On["schedule"].Kind == yaml.SequenceNode, "publish.yml: no schedule trigger (weekly rebuild)")
	_, dispatch := pub.On["workflow_dispatch"]
	check(dispatch, "publish.yml: no workflow_dispatch trigger")
	pushRun, _ := pub.Jobs["push"].script()
	check(strings.Contains(pushRun, "diff_ids"), "publish.yml: the push job does not compare the rebuild's layers with latest's")

	// Both architectures, native runners, one list, every digest signed.
	arches := map[string]string{}
	for _, m := range pub.Jobs["build"].Strategy.Matrix.Include {
		arches[m["arch"]] = m["runner"]
	}
	check(arches["amd64"] == "ubuntu-24.04" && arches["arm64"] == "ubuntu-24.04-arm", "publish.yml: build matrix %v, want amd64 on ubuntu-24.04 and arm64 on ubuntu-24.04-arm", arches)
	check(strings.Contains(pushRun, "podman manifest add") && strings.Contains(pushRun, "podman manifest push --all=false"),
		"publish.yml: the push job does not join the architectures in one manifest list")
	signRun, _ := pub.Jobs["sign"].script()
	check(strings.Contains(signRun, "cosign sign --yes --recursive"), "publish.yml: the list is not signed with --recursive")

	// The builder is pinned by digest (the base: TestRenovateUpdatesTheBasePin);
	// disk is freed before image jobs.
	for _, f := range []string{"scripts/create-ami.sh", "Makefile", ".github/workflows/ami.yml", ".github/workflows/ci.yml"} {
		for _, m := range regexp.MustCompile(`bootc-image-builder:[A-Za-z0-9._-]+(@sha256:[0-9a-f]{64})?`).FindAllStringSubmatch(harness.ReadFile(t, harness.Path(f)), -1) {
			check(m[1] != "", "%s: %s is not pinned by digest", f, m[0])
		}
	}
	for file, wf := range map[string]pWorkflow{"ci.yml": ci, "publish.yml": pub, "ami.yml": loadWorkflow(t, "ami.yml")} {
		for name, job := range wf.Jobs {
			freed := false
			for _, s := range job.Steps {
				freed = freed || strings.Contains(s.Run, ".github/prepare-runner.sh")
				targets, _ := goals(s.Run)
				for _, target := range targets {
					heavy := target == "build" || target == "boot-test" || target == "vm-test" || target == "ami"
					check(!heavy || freed, "%s: job %q runs make %s before .github/prepare-runner.sh", file, name, target)
				}
			}
		}
	}

	// Renovate's validator runs in ci.
	ciAll := ""
	for _, j := range ci.Jobs {
		r, _ := j.script()
		ciAll += r
	}
	check(strings.Contains(ciAll, "renovate-config-validator --strict .github/renovate.json"), "ci.yml: Renovate's config validator does not run")

	// The VM job runs only make vm-test, whose driver make test runs against the simulated host.
	vm, ok := ci.Jobs["vm"]
	vmRun, _ := vm.script()
	targets, _ := goals(vmRun)
	check(ok && strings.Join(targets, " ") == "vm-test", "ci.yml: the vm job runs make %q, want only vm-test", targets)
	check(!strings.Contains(vm.If, "pull_request") || ci.On["schedule"].Kind == yaml.SequenceNode, "ci.yml: the vm job skips pull requests, so ci needs its nightly schedule")
	// The VM's run gives the driver a broken image (its automatic-rollback step).
	for file, want := range map[string]string{"Makefile": `\nvm-test: ##.*\n\ttest/lifecycle/vm-test.sh\n`,
		"test/lifecycle/vm-test.sh": `-run '\^TestVM\$'`, "test/lifecycle/vm_test.go": `\tRun\(t, v, Plan\{[^\n]*Broken: "vm-v\d+", BrokenCheck: "`} {
		b, err := os.ReadFile(harness.Path(file))
		check(err == nil && regexp.MustCompile(want).Match(b), "%s lacks %q: make vm-test must run the lifecycle driver that make test runs against the simulated host", file, want)
	}
	// The simulated host's main test runs every step Run drives, among its own scenarios.
	driver, err := os.ReadFile(harness.Path("test/lifecycle/driver.go"))
	check(err == nil, "test/lifecycle/driver.go: %v", err)
	runBody := regexp.MustCompile(`(?s)\nfunc Run\(.*?\n}\n`).Find(driver)
	steps := regexp.MustCompile(`\b([A-Z]\w*)\(t, h, `).FindAllSubmatch(runBody, -1)
	check(len(steps) >= 7, "test/lifecycle/driver.go: Run calls %d step functions, want its seven or more", len(steps))
	var sim []byte
	for _, file := range []string{"test/simhost/simhost_test.go", "test/simhost/healthgate_test.go"} {
		b, err := os.ReadFile(harness.Path(file))
		check(err == nil, "%s: %v", file, err)
		sim = append(sim, b...)
	}
	for _, m := range steps {
		check(bytes.Contains(sim, []byte("lifecycle."+string(m[1])+"(t, lh, ")), "test/simhost: TestUpgradeApplyRollback does not run the driver's step %s: make vm-test must run the lifecycle driver that make test runs against the simulated host", m[1])
	}
}
