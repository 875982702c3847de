package docs

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// The fixture repository under testdata/repo has one good document that every
// check must accept and one bad document per check that it must reject.
var fixtureRoot = filepath.Join("testdata", "repo")

func loadFixture(t *testing.T, rel string) *Doc {
	t.Helper()
	d, err := Load(fixtureRoot, rel)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// runAll applies every check to one fixture document.
func runAll(t *testing.T, d *Doc) map[string][]Problem {
	t.Helper()
	repo, err := NewRepo(mustAbs(t, fixtureRoot), "scripts/ops.sh")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]Problem{}
	for name, check := range repo.Checks() {
		out[name] = check(d)
	}
	return out
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Each bad fixture must make its own check report every listed finding, and
// must leave the other checks quiet, so a finding is never an accident of
// another check. The good documents, which use the same constructs correctly,
// pass every check.
func TestBadFixturesAreRejected(t *testing.T) {
	cases := []struct {
		file, check string
		want        []string
	}{
		{"README.md", "", nil},
		{"docs/good.md", "", nil},
		{"docs/bad-links.md", "links", []string{
			"no-such-file.md does not exist",
			"no heading or anchor #no-such-heading in docs/good.md",
			"no heading or anchor #nowhere",
			"leaves the repository",
			"missing-ref.md does not exist",
		}},
		{"docs/bad-paths.md", "paths", []string{
			"`scripts/lib/missing.bash` does not exist",
			"`configs/missing.conf` does not exist",
		}},
		{"docs/bad-make.md", "make", []string{
			"`make deploy`: no such target",
			"`make nonexistent`: no such target",
			"docs/bad-make.md:9: `make wrapped-target`: no such target",
		}},
		{"docs/bad-flags.md", "flags", []string{
			"`scripts/tool.sh --force`: flag not in the script's --help",
			"script `scripts/missing.sh` does not exist",
			"`scripts/tool.sh --really`: flag not in the script's --help",
			"`scripts/broken-help.sh --help` failed",
			"`scripts/tool.sh --nope`: flag not in the script's --help", // through TOOL_ARGS
		}},
		{"docs/bad-make-error.md", "makeerr", []string{
			"line 4 of the Makefile is not a recipe line of build",
			"line 9 of the Makefile is not a recipe line of nosuch",
		}},
		{"docs/bad-shell.md", "shell", []string{
			"bash block does not parse",
			"console block does not parse",
			"sh block does not parse",
			"console block without a \"$ \" prompt",
			"bash block does not parse with shellwords, so its commands go unchecked",
		}},
		{"docs/bad-quotes.md", "quotes", []string{
			`docs/bad-quotes.md:3: "ops.sh: error: the available image ... is bad; refusing it" is not a message scripts/ops.sh prints`,
			`docs/bad-quotes.md:4: "SKIP nosuch-check": scripts/ops.sh defines no check "nosuch-check"`,
			`docs/bad-quotes.md:7: "ops.sh: error: downloading sha256:0123 (bootc upgrade --download-only)" is not a message`,
			`docs/bad-quotes.md:14: "bad:       sha256:0123 (rolled back on 2026-01-01)" is not a "bad:" line scripts/ops.sh prints`,
			`docs/bad-quotes.md:16: "PASS  http:/health  GET http://127.0.0.1/health -> 2xx": scripts/ops.sh defines no check "http:/health"`,
			`docs/bad-quotes.md:17: "PASS  unit:hello.service  running": no PASS unit:hello.service line of scripts/ops.sh reads like this`,
		}},
		{"docs/bad-mermaid.md", "mermaid", []string{
			`starts with "flowchat LR", not a known diagram type`,
			`unclosed '['`,
			`unmatched ')'`,
		}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			all := runAll(t, loadFixture(t, c.file))
			var got []string
			for _, p := range all[c.check] {
				got = append(got, p.String())
			}
			joined := strings.Join(got, "\n")
			for _, w := range c.want {
				if !strings.Contains(joined, w) {
					t.Errorf("%s: %s check did not report %q; it reported:\n%s", c.file, c.check, w, joined)
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("%s: %s check reported %d problems, want %d:\n%s", c.file, c.check, len(got), len(c.want), joined)
			}
			for check, problems := range all {
				if check == c.check {
					continue
				}
				for _, p := range problems {
					// bad-flags names scripts/missing.sh in backticks: the paths check rightly fires too.
					if c.check == "flags" && check == "paths" && strings.Contains(p.Msg, "scripts/missing.sh") {
						continue
					}
					t.Errorf("%s: unrelated %s check fired: %s", c.file, check, p)
				}
			}
		})
	}
}

func TestSlugFollowsGitHubRules(t *testing.T) {
	cases := map[string]string{
		"Quick start":                       "quick-start",
		"Upgrade & Rollback":                "upgrade--rollback",
		"`bootc upgrade --download-only`":   "bootc-upgrade---download-only",
		"/etc: the three-way merge":         "etc-the-three-way-merge",
		"What is **bootc**?":                "what-is-bootc",
		"Step 3 — build the image":          "step-3--build-the-image",
		"[Links](x.md) in headings":         "links-in-headings",
		"snake_case stays":                  "snake_case-stays",
		"012. Runbook: disk full (/var, /)": "012-runbook-disk-full-var-",
		"Ünïcode letters stay":              "ünïcode-letters-stay",
		"Make targets (`make help`) ":       "make-targets-make-help",
	}
	for in, want := range cases {
		if got := Parse("", "## "+in+"\n").Anchors; len(got) != 1 || got[0] != want {
			t.Errorf("anchor of heading %q = %q, want %q", in, got, want)
		}
	}
}

func TestAnchorsNumberRepeatedHeadings(t *testing.T) {
	a := Parse("", "# A\n## Setup\n```\n# not a heading\n```\n## Setup\n## Setup\n<a id=\"custom\"></a>\n").Anchors
	if got := strings.Join(a, " "); got != "a setup setup-1 setup-2 custom" {
		t.Errorf("anchors %q, want a setup setup-1 setup-2 custom (a # line in a fenced block is no heading)", got)
	}
}

func TestMakefileScripts(t *testing.T) {
	targets, vars, err := MakefileScripts(fixtureRoot, filepath.Join(fixtureRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(targets); got != "map[check:scripts/tool.sh run:scripts/runner.sh status:scripts/ops.sh]" {
		t.Errorf("scripts by target = %s", got)
	}
	if got := vars["TOOL_ARGS"]; got != "scripts/tool.sh" {
		t.Errorf("TOOL_ARGS maps to %q, want scripts/tool.sh (all: %v)", got, vars)
	}
	if got := vars["RUN_ARGS"]; got != "scripts/runner.sh" {
		t.Errorf("RUN_ARGS (split by read -a) maps to %q, want scripts/runner.sh (all: %v)", got, vars)
	}
	if len(vars) != 2 {
		t.Errorf("want only TOOL_ARGS and RUN_ARGS, got %v", vars)
	}
}
