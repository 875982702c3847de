// Package workflows checks the GitHub Actions workflows of the repository for
// the rules GitHub itself does not enforce: every action pinned to a commit, an
// explicit least-privilege permissions block on every job, no secret expanded
// into a script or printed, no pull-request run that can publish, every
// `make TARGET` a workflow runs exists in the Makefile, no input expanded into a
// script, every dispatch input checked before use, and no image build in a job
// that can write packages. actionlint (its own suite) covers the rest: syntax
// and required keys, expressions, action reference format, permission scope
// names, untrusted github.event.* in scripts and shellcheck of run: blocks
// (rhysd/actionlint docs/checks.md); its untrusted inputs do not include
// workflow_dispatch inputs, hence input-in-run here.
package workflows

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Rule names, as reported in findings.
const (
	RulePin         = "pin"
	RulePermissions = "permissions"
	RuleSecret      = "secret"
	RuleMakeTarget  = "make-target"
	RulePRWrite     = "pr-write"
	RuleInputInRun  = "input-in-run"
	RuleInputCheck  = "input-check"
	RuleBuildWrite  = "build-write"
)

// Finding is one rule violation at a line of a workflow file.
type Finding struct {
	File string
	Line int
	Rule string
	Msg  string
}

func (f Finding) String() string { return fmt.Sprintf("%s:%d: [%s] %s", f.File, f.Line, f.Rule, f.Msg) }

var (
	actionRef    = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[^@\s]+)?@([^@\s]+)$`)
	commitSHA    = regexp.MustCompile(`^[0-9a-f]{40}$`)
	dockerDigest = regexp.MustCompile(`^docker://[^@\s]+@sha256:[0-9a-f]{64}$`)
	versionNote  = regexp.MustCompile(`^#\s*v\d+(\.\d+)*\b`)
	expression   = regexp.MustCompile(`\$\{\{(.*?)\}\}`)
	secretExpr   = regexp.MustCompile(`\bsecrets\.|\bsecrets\[|\bgithub\.token\b`)
	printCommand = regexp.MustCompile(`(^|[\s;&|(])(echo|printf|print|cat|tee|logger)\b`)
	hereStrings  = regexp.MustCompile(`<<<\s*("[^"]*"|'[^']*'|\S+)`)
	inputsExpr   = regexp.MustCompile(`\binputs\b`)
	inputName    = regexp.MustCompile(`\binputs(?:\.([A-Za-z_][A-Za-z0-9_-]*)|\[\s*'([^']+)'\s*\])`)
	soleInput    = regexp.MustCompile(`^\$\{\{\s*(?:github\.event\.)?inputs(?:\.([A-Za-z_][A-Za-z0-9_-]*)|\[\s*'([^']+)'\s*\])\s*\}\}$`)
	// Actions that build an image with the job's credentials at hand.
	buildActions = regexp.MustCompile(`^(docker/build-push-action|redhat-actions/buildah-build)@`)
)

// CheckFile parses one workflow file and applies every rule.
func CheckFile(path string, targets map[string]bool) ([]Finding, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Check(filepath.Base(path), data, targets)
}

// Check applies every rule to the workflow in data; name labels the findings.
func Check(name string, data []byte, targets map[string]bool) ([]Finding, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a workflow (top level is not a mapping)", name)
	}
	c := &checker{file: name, targets: targets}
	c.workflow(doc.Content[0])
	sort.SliceStable(c.findings, func(i, j int) bool { return c.findings[i].Line < c.findings[j].Line })
	return c.findings, nil
}

type checker struct {
	file     string
	targets  map[string]bool
	dispatch bool // the workflow has workflow_dispatch inputs
	findings []Finding
}

func (c *checker) add(n *yaml.Node, rule, format string, args ...any) {
	c.findings = append(c.findings, Finding{c.file, n.Line, rule, fmt.Sprintf(format, args...)})
}

// get returns the key and value nodes of key in a mapping, or nils.
func get(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func (c *checker) workflow(root *yaml.Node) {
	onKey, on := get(root, "on")
	if on == nil {
		// YAML 1.1 readers turn a bare `on` into true; yaml.v3 keeps the string.
		onKey, on = get(root, "true")
	}
	prTriggered := triggeredByPR(on)

	permKey, perms := get(root, "permissions")
	switch {
	case perms == nil:
		c.add(root, RulePermissions, "no top-level permissions: set `permissions: {}` (or contents: read) and grant more per job")
	default:
		if w := writeScopes(perms); len(w) > 0 {
			c.add(permKey, RulePermissions, "top-level permissions grant %s: grant write access per job, only where needed", strings.Join(w, ", "))
		}
	}

	secretEnv := map[string]bool{}
	collectSecretEnv(root, secretEnv)
	c.dispatch = dispatchInputs(on)

	_, jobs := get(root, "jobs")
	if jobs == nil || jobs.Kind != yaml.MappingNode {
		return // a missing jobs: section is actionlint's (rhysd/actionlint parse.go, parser.parse)
	}
	for i := 0; i+1 < len(jobs.Content); i += 2 {
		name, job := jobs.Content[i], jobs.Content[i+1]
		c.job(name, job, prTriggered, onKey, perms, maps.Clone(secretEnv))
	}
}

func (c *checker) job(name, job *yaml.Node, prTriggered bool, onKey, topPerms *yaml.Node, secretEnv map[string]bool) {
	permKey, perms := get(job, "permissions")
	effective := perms
	if perms == nil {
		effective = topPerms
		c.add(name, RulePermissions, "job %q has no permissions block: list exactly what it needs", name.Value)
	} else if prTriggered {
		for _, scope := range writeScopes(perms) {
			if scope == "packages" || scope == "id-token" || scope == "attestations" || scope == "contents" || scope == "write-all" {
				c.add(permKey, RulePRWrite, "job %q grants %s: write in a workflow triggered by pull requests (line %d); publishing belongs to pushes to main", name.Value, scope, onKey.Line)
			}
		}
	}
	if k, uses := get(job, "uses"); uses != nil {
		c.uses(k, uses)
	}
	collectSecretEnv(job, secretEnv)
	canWritePackages := false
	if effective != nil {
		for _, scope := range writeScopes(effective) {
			canWritePackages = canWritePackages || scope == "packages" || scope == "write-all"
		}
	}
	// Inputs in the job's own env: or with: reach every step unchecked.
	if c.dispatch {
		for _, key := range []string{"env", "with"} {
			if _, m := get(job, key); m != nil {
				c.uncheckedInputs(m, nil, fmt.Sprintf("job %q", name.Value))
			}
		}
	}
	checked := map[string]bool{}
	_, steps := get(job, "steps")
	if steps == nil || steps.Kind != yaml.SequenceNode {
		return
	}
	for _, step := range steps.Content {
		env := maps.Clone(secretEnv)
		collectSecretEnv(step, env)
		k, uses := get(step, "uses")
		if uses != nil {
			c.uses(k, uses)
			if canWritePackages && buildActions.MatchString(uses.Value) {
				c.add(uses, RuleBuildWrite, "job %q holds packages: write and builds an image with %s: build in a job with read-only permissions and hand the image over as an artifact", name.Value, uses.Value)
			}
		}
		_, run := get(step, "run")
		if run != nil {
			c.run(run, env)
			if canWritePackages {
				for _, line := range imageBuilds(run.Value) {
					c.add(&yaml.Node{Line: scriptStart(run) + line}, RuleBuildWrite, "job %q holds packages: write and builds an image here, running the base image's tools next to that token: build in a job with read-only permissions and hand the image over as an artifact", name.Value)
				}
			}
		}
		if c.dispatch {
			c.inputSteps(step, run, checked)
		}
	}
}

// dispatchInputs reports whether the workflow can be dispatched with inputs.
func dispatchInputs(on *yaml.Node) bool {
	_, wd := get(on, "workflow_dispatch")
	_, inputs := get(wd, "inputs")
	return inputs != nil && inputs.Kind == yaml.MappingNode && len(inputs.Content) > 0
}

// inputSteps: a dispatch input is text its dispatcher chose. Before a step
// hands it to an action (with:) or a script (env:), an earlier step must check
// its format: take it through env: as the whole value of a variable, match that
// variable against a pattern ([[ $VAR =~ ... ]]) and report a mismatch with
// ::error. Uses inside run: itself are the input-in-run rule's.
func (c *checker) inputSteps(step, run *yaml.Node, checked map[string]bool) {
	checking := map[string]bool{}
	if _, env := get(step, "env"); env != nil && env.Kind == yaml.MappingNode && run != nil &&
		strings.Contains(run.Value, "::error") {
		for i := 0; i+1 < len(env.Content); i += 2 {
			m := soleInput.FindStringSubmatch(strings.TrimSpace(env.Content[i+1].Value))
			if m == nil {
				continue
			}
			test := regexp.MustCompile(`\$\{?` + regexp.QuoteMeta(env.Content[i].Value) + `\}?"?\s*=~`)
			if test.MatchString(run.Value) {
				checking[m[1]+m[2]] = true
			}
		}
	}
	for _, key := range []string{"env", "with"} {
		if _, m := get(step, key); m != nil {
			c.uncheckedInputs(m, func(in string) bool { return checked[in] || checking[in] }, "this step")
		}
	}
	for in := range checking {
		checked[in] = true
	}
}

// uncheckedInputs reports each input a mapping's values refer to that ok does
// not accept (nil: none is accepted).
func (c *checker) uncheckedInputs(m *yaml.Node, ok func(string) bool, where string) {
	if m.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		v := m.Content[i+1]
		for _, e := range expression.FindAllStringSubmatch(v.Value, -1) {
			for _, in := range inputName.FindAllStringSubmatch(e[1], -1) {
				name := in[1] + in[2]
				if ok == nil || !ok(name) {
					c.add(v, RuleInputCheck, "input %q reaches %s (%s) before a step checks its format: take it through env:, test it with [[ $VAR =~ ^...$ ]] and fail with ::error naming the input", name, where, m.Content[i].Value)
				}
			}
		}
	}
}

// scriptStart is the line of a run: script's first line.
func scriptStart(run *yaml.Node) int {
	if run.Style == yaml.LiteralStyle || run.Style == yaml.FoldedStyle {
		return run.Line + 1 // the script starts on the line after `run: |`
	}
	return run.Line
}

// uses: an action must be pinned to a full commit SHA with its version in a
// comment, so a moved tag cannot change what runs and Dependabot can update it.
func (c *checker) uses(key, v *yaml.Node) {
	ref := v.Value
	switch {
	case strings.HasPrefix(ref, "./"):
		return
	case strings.HasPrefix(ref, "docker://"):
		if !dockerDigest.MatchString(ref) {
			c.add(v, RulePin, "%s: pin the container image by digest (docker://IMAGE@sha256:...)", ref)
		}
		return
	}
	m := actionRef.FindStringSubmatch(ref)
	if m == nil {
		return // a malformed reference is actionlint's (rhysd/actionlint rule_action.go, checkRepoAction)
	}
	if !commitSHA.MatchString(m[2]) {
		c.add(v, RulePin, "%s: pin to a full 40-hex commit SHA with the version in a comment (`@<sha> # vX.Y.Z`), not %q", ref, m[2])
		return
	}
	comment := strings.TrimSpace(v.LineComment)
	if comment == "" {
		comment = strings.TrimSpace(key.LineComment)
	}
	if !versionNote.MatchString(comment) {
		c.add(v, RulePin, "%s: add the version the SHA stands for as a comment (`# vX.Y.Z`)", ref)
	}
}

// run: secrets never enter the script text (they would be part of the shell's
// command line and of any error message) and are never printed; neither do
// inputs enter it (they would be code); make targets exist.
func (c *checker) run(run *yaml.Node, secretEnv map[string]bool) {
	script := run.Value
	base := scriptStart(run)
	for i, line := range strings.Split(script, "\n") {
		at := &yaml.Node{Line: base + i}
		for _, m := range expression.FindAllStringSubmatch(line, -1) {
			if secretExpr.MatchString(m[1]) {
				c.add(at, RuleSecret, "secret expression %s inside a run script: pass it through env: and read it from stdin or the tool's own variable", strings.TrimSpace(m[0]))
			}
			// The runner pastes the expression's value into the script before
			// bash reads it: a quote in the input ends the string, and the rest runs.
			if inputsExpr.MatchString(m[1]) {
				c.add(at, RuleInputInRun, "input expression %s inside a run script: pass it through env: and check its format first", strings.TrimSpace(m[0]))
			}
		}
		for name := range secretEnv {
			if !refersTo(line, name) {
				continue
			}
			if printCommand.MatchString(line) {
				c.add(at, RuleSecret, "run script prints $%s, which holds a secret", name)
			} else if !refersTo(hereStrings.ReplaceAllString(line, ""), name) {
				continue // fed on stdin: never on a command line
			} else {
				c.add(at, RuleSecret, "run script puts $%s, which holds a secret, on a command line: feed it on stdin (<<<) or let the tool read its own variable", name)
			}
		}
	}
	calls, err := makeCommands(script)
	if err != nil {
		c.add(run, RuleMakeTarget, "run script does not parse as bash, so its make targets cannot be checked: %v", err)
	}
	for _, cmd := range calls {
		if cmd.OtherMakefile {
			continue
		}
		for _, t := range cmd.Goals {
			if !c.targets[t] {
				c.add(&yaml.Node{Line: base + cmd.line}, RuleMakeTarget, "`make %s`: the Makefile has no target %q", t, t)
			}
		}
	}
}

func refersTo(line, name string) bool {
	re := regexp.MustCompile(`\$\{?` + regexp.QuoteMeta(name) + `\b`)
	return re.MatchString(line)
}

// collectSecretEnv adds the names of env: entries of node whose value comes
// from a secret (or the workflow token).
func collectSecretEnv(node *yaml.Node, into map[string]bool) {
	_, env := get(node, "env")
	if env == nil || env.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(env.Content); i += 2 {
		for _, m := range expression.FindAllStringSubmatch(env.Content[i+1].Value, -1) {
			if secretExpr.MatchString(m[1]) {
				into[env.Content[i].Value] = true
			}
		}
	}
}

// triggeredByPR reports whether on (a name, a list or a mapping of events)
// names a pull-request event.
func triggeredByPR(on *yaml.Node) bool {
	if on == nil {
		return false
	}
	for _, n := range append([]*yaml.Node{on}, on.Content...) {
		if n.Kind == yaml.ScalarNode && (n.Value == "pull_request" || n.Value == "pull_request_target") {
			return true
		}
	}
	return false
}

// writeScopes lists the scopes a permissions node grants write access to.
func writeScopes(perms *yaml.Node) []string {
	switch perms.Kind {
	case yaml.ScalarNode:
		if perms.Value == "write-all" {
			return []string{"write-all"}
		}
	case yaml.MappingNode:
		var out []string
		for i := 0; i+1 < len(perms.Content); i += 2 {
			if perms.Content[i+1].Value == "write" {
				out = append(out, perms.Content[i].Value)
			}
		}
		return out
	}
	return nil
}
