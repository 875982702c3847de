package ops

// The Makefile hands user-set variables (AMI_NAME, HOST, VERIFY_ARGS...) to the
// scripts. Whatever a value holds, it must arrive as one argument or one
// environment variable, never as shell or make code. The tests run the real
// Makefile, on the command line and from the environment, with values built to
// break out of quoting; a marker file shows whether any of them ran.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// makeVars are the variables the Makefile or the scripts behind it read; none
// may leak in from the environment of the test run (`make test` exports some).
var makeVars = []string{
	"REGISTRY", "IMAGE_NAME", "IMAGE", "VERSION", "REVISION", "SOURCE_DATE_EPOCH", "SOURCE_URL",
	"BASE_IMAGE", "GO", "TARGETARCH", "OUTPUT", "AWS_REGION", "AWS_BUCKET", "AMI_NAME", "AMI_IMAGE",
	"HOST", "VERIFY_ARGS", "YES", "FULL_REBOOT", "EXTRA_TAGS", "TLS_VERIFY", "NO_CACHE", "ROOTLESS_OK",
	"BOOT_BASE_IMAGE", "BENCH_QUICK", "CI", "BIB_IMAGE", "SSH_OPTS", "SIGNING_KEY_DIR", "ROTATE",
	"FLEET_TAG", "FLEET_ASG", "FLEET_DIGEST", "FLEET_WAVES", "FLEET_MAX_ERRORS", "FLEET_TIMEOUT", "SSM_DOCUMENT", "DRY_RUN",
	"RUN_PORT", "RUN_MODE", "RUN_CMD", "RESET",
}

// injections: values that run `touch marker` if a shell or make evaluates them,
// and values a shell would split, glob or expand.
func injections(marker string) []string {
	return []string{
		"x'; touch " + marker + "; echo '",
		"x'$(touch " + marker + ")'",
		"x' || touch " + marker + " || '",
		"$(touch " + marker + ")",
		"$$(touch " + marker + ")",
		"$(shell touch " + marker + ")",
		"${shell touch " + marker + "}",
		"`touch " + marker + "`",
		"; touch " + marker,
		"&& touch " + marker,
		"| touch " + marker,
		"\ntouch " + marker,
		// No whitespace: survives a check that only rejects spaces.
		"$(touch${IFS}" + marker + ")",
		";touch${IFS}" + marker,
		"'`touch${IFS}" + marker + "`'",
		"a b", "  two  spaces ", "tab\there", "new\nline", "it's", `"double"`, `back\slash`,
		"'", `'"'"'`, "*", "~", "$HOME", "#hash", "a=b", "--yes", "-n", "",
	}
}

// stub stands in for every script a recipe calls (and for go): it appends to
// $STUB_LOG its name, its arguments and the variables it was given, as
// NUL-terminated fields (name, argument count, arguments, variable count,
// NAME=VALUE...), which hold any value exactly.
const stub = `#!/usr/bin/env bash
set -euo pipefail
vars=()
for n in IMAGE VERSION REVISION SOURCE_DATE_EPOCH SOURCE_URL BASE_IMAGE TARGETARCH OUTPUT EXTRA_TAGS \
  TLS_VERIFY NO_CACHE ROOTLESS_OK BOOT_BASE_IMAGE BENCH_QUICK CI GOARCH BIB_IMAGE SSH_OPTS; do
  [[ -z ${!n+set} ]] || vars+=("$n=${!n}")
done
printf '%s\0' "${0##*/}" "$#" "$@" "${#vars[@]}" "${vars[@]}" >>"$STUB_LOG"
if [[ ${0##*/} == go && $* == "env GOARCH" ]]; then echo amd64; fi
if [[ $0 == *standin/build.sh ]]; then echo localhost/bootc-testboot-standin:stub; fi
`

type stubCall struct {
	Script string
	Args   []string
	Env    map[string]string
}

// makeTree is a directory holding a copy of the Makefile, one app, and the
// stub in place of every script the recipes run.
func makeTree(t *testing.T) string {
	t.Helper()
	tree := t.TempDir()
	src, err := os.ReadFile(harness.Path("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"Makefile":          string(src),
		"apps/demo/main.go": "package main\n\nfunc main() {}\n",
	}
	for _, s := range []string{"scripts/create-ami.sh", "scripts/build-image.sh", "scripts/push-image.sh",
		"scripts/on-host.sh", "scripts/signing-keys.sh", "scripts/fleet.sh", "test/run-suites.sh", "test/bench/run.sh",
		"scripts/run-local.sh", "test/standin/build.sh", "test/lifecycle/vm-test.sh"} {
		files[s] = stub
	}
	for name, content := range files {
		p := filepath.Join(tree, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return tree
}

// goStub places the stub as `go` in a directory named after value, so that
// GO, a command, can hold the value too; it returns the stub's path.
func goStub(t *testing.T, tree, value string) string {
	t.Helper()
	p := filepath.Join(tree, "tools", value, "go")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	// filepath.Join cleans the path; the Makefile must get the value as it is.
	return tree + "/tools/" + value + "/go"
}

type makeResult struct {
	code           int
	stdout, stderr string
}

// runMake runs make TARGET in dir with env (nothing of the caller's make or
// Makefile variables) and the variable assignments in args.
func runMake(t *testing.T, dir string, env []string, args ...string) makeResult {
	t.Helper()
	harness.Require(t, "make")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", append([]string{"-s", "--no-print-directory"}, args...)...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := makeResult{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("make %q: timed out\n%s", args, r.stderr)
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// cleanEnviron is the test process's environment without make's own variables
// and without anything the Makefile or the scripts read.
func cleanEnviron(base []string) []string {
	drop := map[string]bool{"MAKEFLAGS": true, "MAKELEVEL": true, "MFLAGS": true, "MAKEOVERRIDES": true,
		"GNUMAKEFLAGS": true, "MAKE_TERMOUT": true, "MAKE_TERMERR": true, "MAKEFILES": true}
	for _, v := range makeVars {
		drop[v] = true
	}
	var env []string
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[name] {
			env = append(env, kv)
		}
	}
	return env
}

func readStubLog(t *testing.T, path string) []stubCall {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	fields := strings.Split(string(data), "\x00")
	fields = fields[:len(fields)-1] // after the last NUL
	next := func() string {
		if len(fields) == 0 {
			t.Fatalf("stub log %s is cut short", path)
		}
		f := fields[0]
		fields = fields[1:]
		return f
	}
	count := func() int {
		n, err := strconv.Atoi(next())
		if err != nil {
			t.Fatalf("stub log %s: %v", path, err)
		}
		return n
	}
	var calls []stubCall
	for len(fields) > 0 {
		c := stubCall{Script: next(), Args: []string{}, Env: map[string]string{}}
		for n := count(); n > 0; n-- {
			c.Args = append(c.Args, next())
		}
		for n := count(); n > 0; n-- {
			k, v, _ := strings.Cut(next(), "=")
			c.Env[k] = v
		}
		calls = append(calls, c)
	}
	return calls
}

// forwardCase: make TARGET with each of Vars set to each injection value must
// run Script once, with the arguments (and environment) want computes from the
// effective values.
type forwardCase struct {
	target string
	vars   []string
	script string
	unset  []string                                       // baseline variables left undefined
	extra  []string                                       // values tried besides the injections
	args   func(v map[string]string) []string             // the arguments the script must get
	env    []string                                       // variables the script must get unchanged
	reject func(name, value string) (msg string, ok bool) // values the Makefile refuses
}

func hostArgs(v map[string]string) []string {
	if v["HOST"] == "" {
		return nil
	}
	return []string{"--host", v["HOST"]}
}

func yesArgs(v map[string]string) []string {
	if v["YES"] == "1" {
		return []string{"--yes"}
	}
	return nil
}

func rejectYes(name, value string) (string, bool) {
	if (name == "YES" || name == "FULL_REBOOT") && value != "" && value != "0" && value != "1" {
		return name + " must be 1", true
	}
	return "", false
}

func fullArgs(v map[string]string) []string {
	if v["FULL_REBOOT"] == "1" {
		return []string{"--full-reboot"}
	}
	return nil
}

func rejectRotate(name, value string) (string, bool) {
	if name == "ROTATE" && value != "" && value != "0" && value != "1" {
		return "ROTATE must be 1", true
	}
	return "", false
}

// fleetSelect: the selection flags the fleet targets give scripts/fleet.sh.
func fleetSelect(v map[string]string) []string {
	a := []string{"--region", v["AWS_REGION"]}
	if v["FLEET_TAG"] != "" {
		a = append(a, "--tag", v["FLEET_TAG"])
	}
	if v["FLEET_ASG"] != "" {
		a = append(a, "--asg", v["FLEET_ASG"])
	}
	if v["SSM_DOCUMENT"] != "" {
		a = append(a, "--document", v["SSM_DOCUMENT"])
	}
	return a
}

func rejectFleet(name, value string) (string, bool) {
	if name == "DRY_RUN" && value != "" && value != "0" && value != "1" {
		return "DRY_RUN must be 1", true
	}
	return rejectYes(name, value)
}

func rejectReset(name, value string) (string, bool) {
	if name == "RESET" && value != "" && value != "0" && value != "1" {
		return "RESET must be 1", true
	}
	return "", false
}

// runDir: the state directory flag every run target gives scripts/run-local.sh.
func runDir(v map[string]string) []string { return []string{"--dir", v["OUTPUT"] + "/run"} }

func cat(parts ...[]string) []string {
	out := []string{}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var forwardCases = []forwardCase{
	{target: "ami", vars: []string{"AMI_IMAGE", "AWS_REGION", "AWS_BUCKET", "AMI_NAME"}, script: "create-ami.sh",
		args: func(v map[string]string) []string {
			a := []string{"--image", v["AMI_IMAGE"], "--region", v["AWS_REGION"]}
			if v["AWS_BUCKET"] != "" {
				a = append(a, "--bucket", v["AWS_BUCKET"])
			}
			if v["AMI_NAME"] != "" {
				a = append(a, "--name", v["AMI_NAME"])
			}
			return a
		}},
	// AMI_IMAGE defaults to $(IMAGE):latest.
	{target: "ami", vars: []string{"IMAGE"}, script: "create-ami.sh", unset: []string{"AMI_IMAGE"},
		args: func(v map[string]string) []string {
			return []string{"--image", v["IMAGE"] + ":latest", "--region", v["AWS_REGION"], "--bucket", v["AWS_BUCKET"], "--name", v["AMI_NAME"]}
		}},
	{target: "ami", vars: []string{"BIB_IMAGE"}, script: "create-ami.sh", env: []string{"BIB_IMAGE"},
		args: func(v map[string]string) []string {
			return []string{"--image", v["AMI_IMAGE"], "--region", v["AWS_REGION"], "--bucket", v["AWS_BUCKET"], "--name", v["AMI_NAME"]}
		}},
	{target: "qcow2", vars: []string{"IMAGE", "VERSION"}, script: "create-ami.sh",
		args: func(v map[string]string) []string {
			return []string{"--type", "qcow2", "--image", v["IMAGE"] + ":" + v["VERSION"]}
		}},
	// IMAGE defaults to $(REGISTRY)/$(IMAGE_NAME).
	{target: "qcow2", vars: []string{"REGISTRY", "IMAGE_NAME"}, script: "create-ami.sh", unset: []string{"IMAGE"},
		args: func(v map[string]string) []string {
			return []string{"--type", "qcow2", "--image", v["REGISTRY"] + "/" + v["IMAGE_NAME"] + ":" + v["VERSION"]}
		}},
	{target: "build", vars: []string{"IMAGE", "VERSION", "REVISION", "SOURCE_DATE_EPOCH", "SOURCE_URL", "BASE_IMAGE",
		"TARGETARCH", "OUTPUT", "NO_CACHE", "ROOTLESS_OK", "EXTRA_TAGS"}, script: "build-image.sh",
		args: func(map[string]string) []string { return []string{} },
		env: []string{"IMAGE", "VERSION", "REVISION", "SOURCE_DATE_EPOCH", "SOURCE_URL", "BASE_IMAGE", "TARGETARCH",
			"OUTPUT", "NO_CACHE", "ROOTLESS_OK", "EXTRA_TAGS"}},
	{target: "push", vars: []string{"IMAGE", "VERSION", "OUTPUT", "EXTRA_TAGS", "TLS_VERIFY"}, script: "push-image.sh",
		args: func(map[string]string) []string { return []string{} },
		env:  []string{"IMAGE", "VERSION", "OUTPUT", "EXTRA_TAGS", "TLS_VERIFY"}},
	{target: "verify", vars: []string{"HOST", "VERIFY_ARGS"}, script: "on-host.sh",
		args: func(v map[string]string) []string {
			// A list: split on whitespace, nothing else.
			return cat(hostArgs(v), []string{"verify-instance.sh"}, strings.Fields(v["VERIFY_ARGS"]))
		}},
	{target: "os-status", vars: []string{"HOST", "SSH_OPTS"}, script: "on-host.sh", env: []string{"SSH_OPTS"},
		args: func(v map[string]string) []string { return cat(hostArgs(v), []string{"upgrade-os.sh", "status"}) }},
	{target: "os-check", vars: []string{"HOST"}, script: "on-host.sh",
		args: func(v map[string]string) []string { return cat(hostArgs(v), []string{"upgrade-os.sh", "check"}) }},
	{target: "os-upgrade", vars: []string{"HOST"}, script: "on-host.sh",
		args: func(v map[string]string) []string { return cat(hostArgs(v), []string{"upgrade-os.sh", "download"}) }},
	{target: "os-apply", vars: []string{"HOST", "YES", "FULL_REBOOT"}, script: "on-host.sh", reject: rejectYes, extra: []string{"1", "0", " 1"},
		args: func(v map[string]string) []string {
			return cat(hostArgs(v), []string{"upgrade-os.sh", "apply"}, yesArgs(v), fullArgs(v))
		}},
	{target: "os-rollback", vars: []string{"HOST", "YES", "FULL_REBOOT"}, script: "on-host.sh", reject: rejectYes, extra: []string{"1", "0", " 1"},
		args: func(v map[string]string) []string {
			return cat(hostArgs(v), []string{"rollback-os.sh"}, yesArgs(v), fullArgs(v))
		}},
	{target: "fleet-upgrade", vars: []string{"FLEET_TAG", "FLEET_ASG", "FLEET_DIGEST", "FLEET_WAVES", "FLEET_MAX_ERRORS",
		"FLEET_TIMEOUT", "SSM_DOCUMENT", "AWS_REGION", "DRY_RUN", "YES"}, script: "fleet.sh",
		reject: rejectFleet, extra: []string{"1", "0", "Env=prod", "1,10%,rest"},
		args: func(v map[string]string) []string {
			a := cat([]string{"upgrade"}, fleetSelect(v))
			if v["DRY_RUN"] == "1" {
				a = append(a, "--dry-run")
			}
			for _, f := range []struct{ name, flag string }{{"FLEET_DIGEST", "--digest"}, {"FLEET_WAVES", "--waves"},
				{"FLEET_MAX_ERRORS", "--max-errors"}, {"FLEET_TIMEOUT", "--timeout"}} {
				if v[f.name] != "" {
					a = append(a, f.flag, v[f.name])
				}
			}
			return cat(a, yesArgs(v))
		}},
	{target: "fleet-status", vars: []string{"FLEET_TAG", "FLEET_ASG", "SSM_DOCUMENT", "AWS_REGION"}, script: "fleet.sh",
		args: func(v map[string]string) []string { return cat([]string{"status"}, fleetSelect(v)) }},
	{target: "ssm-document", vars: []string{"SSM_DOCUMENT", "AWS_REGION"}, script: "fleet.sh",
		args: func(v map[string]string) []string {
			a := []string{"document", "--region", v["AWS_REGION"]}
			if v["SSM_DOCUMENT"] != "" {
				a = append(a, "--document", v["SSM_DOCUMENT"])
			}
			return a
		}},
	{target: "boot-test", vars: []string{"BOOT_BASE_IMAGE", "CI"}, script: "run-suites.sh",
		args: func(map[string]string) []string { return []string{"boot"} }, env: []string{"BOOT_BASE_IMAGE", "CI"}},
	{target: "run", vars: []string{"IMAGE", "VERSION", "OUTPUT", "RUN_PORT", "RUN_MODE", "RESET"}, script: "run-local.sh",
		reject: rejectReset, extra: []string{"1", "0", " 1", "18080", "vm"},
		args: func(v map[string]string) []string {
			a := cat([]string{"start"}, runDir(v))
			if v["RESET"] == "1" {
				a = append(a, "--reset")
			}
			if v["RUN_PORT"] != "" {
				a = append(a, "--port", v["RUN_PORT"])
			}
			if v["RUN_MODE"] != "" {
				a = append(a, "--mode", v["RUN_MODE"])
			}
			return append(a, "--image", v["IMAGE"]+":"+v["VERSION"])
		}},
	{target: "run-shell", vars: []string{"OUTPUT", "RUN_CMD"}, script: "run-local.sh", extra: []string{"systemctl status nginx"},
		args: func(v map[string]string) []string {
			a := cat([]string{"shell"}, runDir(v))
			if v["RUN_CMD"] != "" {
				a = append(a, "--command", v["RUN_CMD"])
			}
			return a
		}},
	{target: "run-upgrade", vars: []string{"IMAGE", "VERSION", "OUTPUT"}, script: "run-local.sh",
		args: func(v map[string]string) []string {
			return cat([]string{"upgrade"}, runDir(v), []string{"--image", v["IMAGE"] + ":" + v["VERSION"]})
		}},
	{target: "run-stop", vars: []string{"OUTPUT"}, script: "run-local.sh",
		args: func(v map[string]string) []string { return cat([]string{"stop"}, runDir(v)) }},
	{target: "vm-test", vars: []string{"BASE_IMAGE"}, script: "vm-test.sh",
		args: func(map[string]string) []string { return []string{} }, env: []string{"BASE_IMAGE"}},
	{target: "bench", vars: []string{"BENCH_QUICK"}, script: "run.sh",
		args: func(map[string]string) []string { return []string{} }, env: []string{"BENCH_QUICK"}},
	{target: "signing-keys", vars: []string{"SIGNING_KEY_DIR", "ROTATE"}, script: "signing-keys.sh",
		reject: rejectRotate, extra: []string{"1", "0", " 1"},
		args: func(v map[string]string) []string {
			a := []string{}
			if v["SIGNING_KEY_DIR"] != "" {
				a = append(a, "--key-dir", v["SIGNING_KEY_DIR"])
			}
			if v["ROTATE"] == "1" {
				a = append(a, "--rotate")
			}
			return a
		}},
}

// effective is the value a script must get: make reads `VAR=value` on its
// command line as an assignment, which drops the blanks that start the value.
func effective(value string, onCommandLine bool) string {
	if onCommandLine {
		return strings.TrimLeft(value, " \t\n")
	}
	return value
}

// outputDefault: an empty OUTPUT means output/, as in the scripts.
func outputDefault(vals map[string]string) {
	if strings.TrimSpace(vals["OUTPUT"]) == "" {
		vals["OUTPUT"] = "output"
	}
}

// baseline: valid values for every variable, so that only the one under test varies.
func baseline(t *testing.T, tree string) map[string]string {
	return map[string]string{
		"REGISTRY": "ghcr.io/example", "IMAGE_NAME": "os", "IMAGE": "ghcr.io/example/os", "VERSION": "v1.2.3",
		"REVISION": "0123abc", "SOURCE_DATE_EPOCH": "1700000000", "SOURCE_URL": "https://example.com/os",
		"BASE_IMAGE": "", "GO": goStub(t, tree, "plain"), "TARGETARCH": "amd64", "OUTPUT": "out",
		"AWS_REGION": "us-east-1", "AWS_BUCKET": "images", "AMI_NAME": "os-v1", "AMI_IMAGE": "ghcr.io/example/os:latest",
		"HOST": "", "VERIFY_ARGS": "", "YES": "", "FULL_REBOOT": "", "SIGNING_KEY_DIR": "", "ROTATE": "",
		"FLEET_TAG": "Env=prod", "FLEET_ASG": "", "FLEET_DIGEST": "", "FLEET_WAVES": "", "FLEET_MAX_ERRORS": "",
		"FLEET_TIMEOUT": "", "SSM_DOCUMENT": "", "DRY_RUN": "",
		"RUN_PORT": "", "RUN_MODE": "", "RUN_CMD": "", "RESET": "",
	}
}

// makeCheck runs make TARGET once with name=value (on the command line or from
// the environment) and checks marker, exit status and the recorded calls.
type makeCheck struct {
	tree, marker, stubLog string
	target                string
	vals                  map[string]string // baseline, with the variable under test
	unset                 []string
	name, value           string
	onCommandLine         bool
}

func (c makeCheck) run(t *testing.T) ([]stubCall, makeResult) {
	t.Helper()
	if err := os.WriteFile(c.stubLog, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := cleanEnviron(os.Environ())
	env = append(env, "STUB_LOG="+c.stubLog, "HOME="+filepath.Join(c.tree, "home"))
	args := []string{c.target}
	for k, v := range c.vals {
		skip := false
		for _, u := range c.unset {
			skip = skip || u == k
		}
		if skip || (k == c.name && c.onCommandLine) {
			continue
		}
		env = append(env, k+"="+v)
	}
	if c.onCommandLine {
		args = append(args, c.name+"="+c.value)
	}
	r := runMake(t, c.tree, env, args...)
	if exists(c.marker) {
		os.Remove(c.marker)
		t.Errorf("make %s with %s=%q ran injected code (the marker file exists)", c.target, c.name, c.value)
	}
	return readStubLog(t, c.stubLog), r
}

func TestMakeForwardsVariablesAsData(t *testing.T) {
	harness.Require(t, "make", "jq", "bash", "realpath")
	for _, fc := range forwardCases {
		for _, name := range fc.vars {
			t.Run(fc.target+"/"+name, func(t *testing.T) {
				t.Parallel()
				tree := makeTree(t)
				marker := filepath.Join(t.TempDir(), "pwned")
				for _, value := range append(injections(marker), fc.extra...) {
					for _, onCommandLine := range []bool{true, false} {
						vals := baseline(t, tree)
						for _, u := range fc.unset {
							delete(vals, u)
						}
						vals[name] = effective(value, onCommandLine)
						outputDefault(vals)
						c := makeCheck{tree: tree, marker: marker, stubLog: filepath.Join(tree, "stub.log"),
							target: fc.target, vals: vals, unset: fc.unset, name: name, value: value, onCommandLine: onCommandLine}
						how := "environment"
						if onCommandLine {
							how = "command line"
						}
						calls, r := c.run(t)
						if fc.reject != nil {
							if msg, rejected := fc.reject(name, vals[name]); rejected {
								if r.code == 0 || !strings.Contains(r.stderr, msg) {
									t.Errorf("make %s %s=%q (%s): exit %d, want an error saying %q\n%s", fc.target, name, value, how, r.code, msg, r.stderr)
								}
								for _, call := range calls {
									if call.Script != "go" {
										t.Errorf("make %s %s=%q (%s): refused value still ran %s %q", fc.target, name, value, how, call.Script, call.Args)
									}
								}
								continue
							}
						}
						if r.code != 0 {
							t.Errorf("make %s %s=%q (%s): exit %d\n%s", fc.target, name, value, how, r.code, r.stderr)
							continue
						}
						var got []stubCall
						for _, call := range calls {
							if call.Script == fc.script {
								got = append(got, call)
							}
						}
						if len(got) != 1 {
							t.Errorf("make %s %s=%q (%s): %s ran %d times, want once\n%s", fc.target, name, value, how, fc.script, len(got), r.stderr)
							continue
						}
						if want := fc.args(vals); !reflect.DeepEqual(got[0].Args, want) {
							t.Errorf("make %s %s=%q (%s): %s got arguments\n  %q\nwant\n  %q", fc.target, name, value, how, fc.script, got[0].Args, want)
						}
						for _, e := range fc.env {
							if want, ok := vals[e]; ok && got[0].Env[e] != want {
								t.Errorf("make %s %s=%q (%s): %s got %s=%q, want %q", fc.target, name, value, how, fc.script, e, got[0].Env[e], want)
							}
						}
					}
				}
			})
		}
	}
}

// The apps recipe and the TARGETARCH default run go: GO is a command path,
// TARGETARCH and OUTPUT reach it as its environment and its -o argument.
func TestMakeAppsForwardsVariablesAsData(t *testing.T) {
	harness.Require(t, "make", "jq", "bash", "realpath")
	for _, name := range []string{"GO", "TARGETARCH", "OUTPUT"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tree := makeTree(t)
			marker := filepath.Join(t.TempDir(), "pwned")
			for _, value := range injections(marker) {
				for _, onCommandLine := range []bool{true, false} {
					vals := baseline(t, tree)
					var unset []string
					switch name {
					case "GO":
						// The path of a go that exists, holding the value; TARGETARCH
						// undefined, so its default asks that go.
						vals["GO"] = goStub(t, tree, value)
						unset = []string{"TARGETARCH"}
					default:
						vals[name] = effective(value, onCommandLine)
						outputDefault(vals)
					}
					raw := value
					if name == "GO" {
						raw = vals["GO"]
					}
					c := makeCheck{tree: tree, marker: marker, stubLog: filepath.Join(tree, "stub.log"),
						target: "apps", vals: vals, unset: unset, name: name, value: raw, onCommandLine: onCommandLine}
					calls, r := c.run(t)
					if r.code != 0 {
						t.Errorf("%s=%q: exit %d\n%s", name, value, r.code, r.stderr)
						continue
					}
					var build *stubCall
					asked := false
					for i, call := range calls {
						switch {
						case call.Script != "go":
						case reflect.DeepEqual(call.Args, []string{"env", "GOARCH"}):
							asked = true
						case len(call.Args) > 0 && call.Args[0] == "build":
							build = &calls[i]
						}
					}
					if build == nil {
						t.Errorf("%s=%q: go build did not run: %+v\n%s", name, value, calls, r.stderr)
						continue
					}
					wantArch := vals["TARGETARCH"]
					if name == "GO" {
						wantArch = "amd64" // what the stub's `go env GOARCH` answers
						// make's $(shell) drops newlines from its command, so such a
						// path is not found and the default falls back to amd64.
						if !asked && !strings.Contains(value, "\n") {
							t.Errorf("GO=%q: the TARGETARCH default did not ask $(GO) env GOARCH", value)
						}
					}
					if build.Env["GOARCH"] != wantArch {
						t.Errorf("%s=%q: go build got GOARCH=%q, want %q", name, value, build.Env["GOARCH"], wantArch)
					}
					out := build.Args[len(build.Args)-2]
					if want := filepath.Join(tree, vals["OUTPUT"], "bin", "demo"); out != want {
						t.Errorf("%s=%q: go build -o %q, want %q", name, value, out, want)
					}
				}
			}
		})
	}
}

// make clean removes exactly the directory OUTPUT names.
func TestMakeCleanRemovesOnlyOutput(t *testing.T) {
	harness.Require(t, "make", "jq", "bash")
	tree := makeTree(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	keep := filepath.Join(tree, "keep")
	if err := os.WriteFile(keep, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Only values that are harmless when split: a shell that globbed `*` or
	// expanded `~` here would delete far more than the test tree.
	for _, value := range []string{"x'; touch " + marker + "; echo '", "$(touch${IFS}" + marker + ")",
		";touch${IFS}" + marker, "`touch${IFS}" + marker + "`", "it's", "#hash"} {
		for _, onCommandLine := range []bool{true, false} {
			dir := filepath.Join(tree, value)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			vals := baseline(t, tree)
			vals["OUTPUT"] = value
			c := makeCheck{tree: tree, marker: marker, stubLog: filepath.Join(tree, "stub.log"),
				target: "clean", vals: vals, name: "OUTPUT", value: value, onCommandLine: onCommandLine}
			_, r := c.run(t)
			if r.code != 0 || exists(dir) || !exists(keep) {
				t.Errorf("make clean OUTPUT=%q: exit %d, output removed %v, other files kept %v\n%s",
					value, r.code, !exists(dir), exists(keep), r.stderr)
			}
		}
	}
}

// The reported attack, end to end: `make ami` runs the real create-ami.sh against
// the doubles; an injected AMI name is refused as a name and nothing runs.
func TestMakeAMIRefusesInjectedName(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	for _, name := range []string{"x'; touch " + marker + "; echo '", "os'$(touch " + marker + ")'",
		"os' || touch " + marker + " || '"} {
		a := newAMIEnv(t)
		env := append(cleanEnviron(a.d.Environ()), "OUTPUT="+a.output)
		r := runMake(t, harness.Root(), env, "ami", "AMI_IMAGE="+amiImage, "AWS_REGION=us-east-1",
			"AWS_BUCKET=testboot-images", "AMI_NAME="+name)
		if exists(marker) {
			t.Fatalf("AMI_NAME=%q ran as shell code", name)
		}
		if r.code == 0 || !strings.Contains(r.stderr, "--name '"+name+"' is not a usable AMI name") {
			t.Errorf("AMI_NAME=%q: exit %d; want create-ami.sh to refuse the name as given\n%s", name, r.code, r.stderr)
		}
		a.d.AssertNoMutation(t)
	}
}

// A valid name with shell syntax in it reaches bootc-image-builder unchanged.
func TestMakeAMIPassesNameUnchanged(t *testing.T) {
	a := newAMIEnv(t)
	name := "os-(v1.2.3)@y"
	env := append(cleanEnviron(a.d.Environ()), "OUTPUT="+a.output)
	r := runMake(t, harness.Root(), env, "ami", "AMI_IMAGE="+amiImage, "AWS_REGION=us-east-1",
		"AWS_BUCKET=testboot-images", "AMI_NAME="+name)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if runs := harness.Find(a.d.Calls(t), "podman", "run", "--aws-ami-name", name); len(runs) != 1 {
		t.Errorf("the builder did not get --aws-ami-name %q:\n%s", name, harness.FormatCalls(a.d.Calls(t)))
	}
	if got := lastLine(r.stdout); got != "ami-0123456789abcdef0" {
		t.Errorf("last line %q, want the AMI ID", got)
	}
}

// HOST reaches the real on-host.sh as one value: a bad one is refused before
// ssh, a good one is the ssh destination.
func TestMakeDay2HostThroughOnHost(t *testing.T) {
	d := newHost(t)
	marker := filepath.Join(t.TempDir(), "pwned")
	env := cleanEnviron(d.Environ())
	for _, host := range []string{"x'; touch " + marker + "; echo '", "x'$(touch " + marker + ")'",
		"ec2-user@$(touch " + marker + ")", "-oProxyCommand=touch " + marker} {
		r := runMake(t, harness.Root(), env, "os-status", "HOST="+host)
		if exists(marker) {
			t.Fatalf("HOST=%q ran as shell code", host)
		}
		if r.code == 0 || !strings.Contains(r.stderr, "is not USER@HOST") {
			t.Errorf("HOST=%q: exit %d, want on-host.sh to refuse it\n%s", host, r.code, r.stderr)
		}
	}
	if ssh := harness.Find(d.Calls(t), "ssh"); len(ssh) != 0 {
		t.Fatalf("a refused host reached ssh:\n%s", harness.FormatCalls(ssh))
	}
	r := runMake(t, harness.Root(), env, "os-status", "HOST=ec2-user@203.0.113.10")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	ssh := harness.Find(d.Calls(t), "ssh", "--", "ec2-user@203.0.113.10")
	if len(ssh) != 1 {
		t.Errorf("want one ssh call to ec2-user@203.0.113.10:\n%s", harness.FormatCalls(d.Calls(t)))
	}
}

// make build BASE_IMAGE=standin builds the stand-in base first and hands its
// reference to build-image.sh; any other value reaches the script unchanged
// (the build row of forwardCases).
func TestMakeBuildOnStandin(t *testing.T) {
	harness.Require(t, "make", "jq", "bash", "realpath")
	tree := makeTree(t)
	for _, onCommandLine := range []bool{true, false} {
		vals := baseline(t, tree)
		vals["BASE_IMAGE"] = "standin"
		c := makeCheck{tree: tree, marker: filepath.Join(t.TempDir(), "pwned"), stubLog: filepath.Join(tree, "stub.log"),
			target: "build", vals: vals, name: "BASE_IMAGE", value: "standin", onCommandLine: onCommandLine}
		calls, r := c.run(t)
		if r.code != 0 {
			t.Fatalf("make build BASE_IMAGE=standin: exit %d\n%s", r.code, r.stderr)
		}
		var order []string
		var build *stubCall
		for i, call := range calls {
			if call.Script == "go" {
				continue
			}
			order = append(order, call.Script)
			if call.Script == "build-image.sh" {
				build = &calls[i]
			}
		}
		if !reflect.DeepEqual(order, []string{"build.sh", "build-image.sh"}) {
			t.Errorf("make build BASE_IMAGE=standin ran %q, want the stand-in's build.sh, then build-image.sh", order)
		}
		if build != nil && build.Env["BASE_IMAGE"] != "localhost/bootc-testboot-standin:stub" {
			t.Errorf("build-image.sh got BASE_IMAGE=%q, want the reference test/standin/build.sh printed", build.Env["BASE_IMAGE"])
		}
		if !strings.Contains(r.stderr, "stand-in") {
			t.Errorf("make build BASE_IMAGE=standin did not say it builds on the stand-in:\n%s", r.stderr)
		}
	}
}

// make vm-test on a machine without KVM: one line naming the device, exit 2
// from the script, and nothing built or started (the Go test never runs).
func TestMakeVMTestRefusesWithoutKVM(t *testing.T) {
	harness.Require(t, "make", "bash")
	dev := filepath.Join(t.TempDir(), "kvm")
	env := append(cleanEnviron(os.Environ()), "TESTBOOT_KVM_DEVICE="+dev)
	want := "vm-test: " + dev + " is missing or not writable: this needs a Linux machine with KVM"
	r := runMake(t, harness.Root(), env, "--no-print-directory", "vm-test")
	if r.code == 0 || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 2 {
		t.Errorf("make vm-test without KVM: exit %d, stderr %q; want the refusal %q and make's error line", r.code, r.stderr, want)
	}
	if strings.Contains(r.stdout, "=== RUN") {
		t.Errorf("make vm-test ran the VM test after the refusal:\n%s", r.stdout)
	}
	cmd := exec.Command(harness.Path("test", "lifecycle", "vm-test.sh"))
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.HasPrefix(string(out), want) {
		t.Errorf("vm-test.sh without KVM: %v, %q; want exit 2 and the refusal", err, out)
	}
}
