package workflows

import (
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"bootc-testboot/test/harness"

	"gopkg.in/yaml.v3"
)

// The repository's own workflows pass every rule.
func TestRepositoryWorkflows(t *testing.T) {
	targets, err1 := harness.MakeTargets(harness.Path("Makefile"))
	files, err2 := filepath.Glob(harness.Path(".github", "workflows", "*.y*ml"))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range files {
		names[filepath.Base(f)] = true
		findings, err := CheckFile(f, targets)
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range findings {
			t.Errorf("%s", fd)
		}
	}
	for _, want := range []string{"ci.yml", "publish.yml", "ami.yml"} {
		if !names[want] {
			t.Errorf(".github/workflows/%s is missing", want)
		}
	}
}

// The workflows stay thin: the project's work happens in make targets and
// scripts that `make test` exercises too.
func TestWorkflowsRunProjectTargets(t *testing.T) {
	want := map[string][]string{
		"ci.yml":      {"lint", "build", "boot-test", "vm-test", "bash .ci/run"},
		"publish.yml": {"build"}, // then per-architecture pushes by digest and one list (pipeline_test.go)
		"ami.yml":     {"ami"},
	}
	for file, calls := range want {
		seen := map[string]bool{}
		var scripts []string
		for _, job := range loadWorkflow(t, file).Jobs {
			run, _ := job.script()
			scripts = append(scripts, run)
			targets, err := goals(run)
			if err != nil {
				t.Errorf("%s: %v", file, err)
			}
			for _, target := range targets {
				seen[target] = true
			}
		}
		for _, c := range calls {
			if strings.Contains(c, " ") {
				if !strings.Contains(strings.Join(scripts, "\n"), c) {
					t.Errorf("%s does not run %q", file, c)
				}
			} else if !seen[c] {
				t.Errorf("%s does not run `make %s` (runs: %v)", file, c, harness.SortedKeys(seen))
			}
		}
	}
}

// Every rule fires on a small bad workflow, and only that rule; the good
// fixture, which uses the same constructs correctly, passes.
func TestRulesFireOnBadFixtures(t *testing.T) {
	targets, err := harness.MakeTargets(filepath.Join("testdata", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		file      string
		rule      string
		count     int
		line      int
		msgPrefix string
	}{
		{"good.yml", "", 0, 0, ""},
		{"bad-unpinned.yml", RulePin, 1, 10, "actions/checkout@v6"},
		{"bad-unpinned-nocomment.yml", RulePin, 2, 10, "actions/checkout@de0fac2e"},
		{"bad-permissions.yml", RulePermissions, 1, 5, `job "test" has no permissions`},
		{"bad-toplevel-permissions.yml", RulePermissions, 1, 3, "top-level permissions grant contents"},
		{"bad-secret-echo.yml", RuleSecret, 1, 10, "secret expression ${{ secrets.API_TOKEN }}"},
		{"bad-secret-env-echo.yml", RuleSecret, 1, 13, "run script prints $API_TOKEN"},
		{"bad-secret-cli.yml", RuleSecret, 1, 12, "run script puts $PASSWORD"},
		{"bad-make-target.yml", RuleMakeTarget, 1, 12, "`make deploy`"},
		{"bad-pr-write.yml", RulePRWrite, 1, 7, `job "publish" grants packages: write`},
		{"bad-input-in-run.yml", RuleInputInRun, 2, 18, "input expression ${{ inputs.name }} inside a run script"},
		{"bad-input-unchecked.yml", RuleInputCheck, 2, 16, `input "region" reaches this step (ref) before a step checks its format`},
		{"bad-build-write.yml", RuleBuildWrite, 2, 12, `job "publish" holds packages: write and builds an image here`},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			findings, err := CheckFile(filepath.Join("testdata", tc.file), targets)
			if err != nil {
				t.Fatal(err)
			}
			if len(findings) != tc.count {
				t.Fatalf("got %d findings, want %d:\n%v", len(findings), tc.count, findings)
			}
			for _, f := range findings {
				if f.Rule != tc.rule {
					t.Errorf("finding from rule %q, want only %q: %s", f.Rule, tc.rule, f)
				}
			}
			if tc.count > 0 {
				f := findings[0]
				if f.Line != tc.line || !strings.HasPrefix(f.Msg, tc.msgPrefix) {
					t.Errorf("first finding = %s\nwant line %d, message starting %q", f, tc.line, tc.msgPrefix)
				}
			}
		})
	}
}

// A run script bash cannot parse is reported, not skipped: its make targets
// would go unchecked.
func TestUnparsableRunScript(t *testing.T) {
	if _, err := makeCommands("if make test; then"); err == nil {
		t.Error("a run script that does not parse was accepted")
	}
	if lines := imageBuilds("sudo -E make build\nenv A=1 podman build .\nscripts/build-image.sh\nmake -C x build"); len(lines) != 3 {
		t.Errorf("image builds on lines %v, want 0, 1 and 2", lines)
	}
}

// Dependabot watches the actions, every Go module and the base image.
func TestDependabotCoversEveryEcosystem(t *testing.T) {
	var cfg struct {
		Version int `yaml:"version"`
		Updates []struct {
			Ecosystem   string   `yaml:"package-ecosystem"`
			Directory   string   `yaml:"directory"`
			Directories []string `yaml:"directories"`
		} `yaml:"updates"`
	}
	if err := yaml.Unmarshal([]byte(harness.ReadFile(t, harness.Path(".github", "dependabot.yml"))), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Version != 2 {
		t.Errorf("dependabot.yml version = %d, want 2", cfg.Version)
	}
	dirs := map[string]bool{} // "ecosystem" and "ecosystem:/directory"
	for _, u := range cfg.Updates {
		dirs[u.Ecosystem] = true
		for _, d := range append(u.Directories, u.Directory) {
			dirs[u.Ecosystem+":"+path.Clean(d)] = d != ""
		}
	}
	if !dirs["github-actions"] {
		t.Error("no github-actions entry")
	}
	mods, _ := filepath.Glob(harness.Path("*", "go.mod"))
	more, _ := filepath.Glob(harness.Path("*", "*", "go.mod"))
	for _, m := range append(mods, more...) {
		rel, _ := filepath.Rel(harness.Root(), filepath.Dir(m))
		if strings.HasPrefix(rel, "test/") {
			continue // fixtures inside test/ are not modules of the product
		}
		if !dirs["gomod:/"+filepath.ToSlash(rel)] {
			t.Errorf("Go module /%s has no gomod entry in dependabot.yml", rel)
		}
	}
	if dirs["docker"] {
		t.Error("dependabot.yml has a docker entry, but Dependabot cannot read `FROM ${BASE_IMAGE}`: the base image belongs to .github/renovate.json")
	}
}
