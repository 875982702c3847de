package fleet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"bootc-testboot/test/harness"
)

type ssmDocument struct {
	SchemaVersion string `yaml:"schemaVersion"`
	Parameters    map[string]struct {
		Type              string   `yaml:"type"`
		AllowedValues     []string `yaml:"allowedValues"`
		AllowedPattern    string   `yaml:"allowedPattern"`
		InterpolationType string   `yaml:"interpolationType"`
	} `yaml:"parameters"`
	MainSteps []struct {
		Action string `yaml:"action"`
		Inputs struct {
			RunCommand []string `yaml:"runCommand"`
		} `yaml:"inputs"`
	} `yaml:"mainSteps"`
}

func loadDocument(t *testing.T) ssmDocument {
	t.Helper()
	b, err := os.ReadFile(harness.Path("ssm", "bootc-testboot-os.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc ssmDocument
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// Every parameter is constrained in the document itself and reaches the script as an
// environment variable, never as shell text.
func TestDocumentParametersConstrained(t *testing.T) {
	t.Parallel()
	doc := loadDocument(t)
	if doc.SchemaVersion != "2.2" || len(doc.MainSteps) != 1 || doc.MainSteps[0].Action != "aws:runShellScript" {
		t.Fatalf("want schemaVersion 2.2 and one aws:runShellScript step: %+v", doc)
	}
	for _, name := range []string{"action", "expectedDigest", "allowDowngrade", "waitBootSeconds"} {
		p, ok := doc.Parameters[name]
		if !ok {
			t.Errorf("parameter %s missing", name)
			continue
		}
		if len(p.AllowedValues) == 0 && p.AllowedPattern == "" {
			t.Errorf("parameter %s has neither allowedValues nor allowedPattern", name)
		}
		if p.InterpolationType != "ENV_VAR" {
			t.Errorf("parameter %s: interpolationType %q, want ENV_VAR", name, p.InterpolationType)
		}
	}
	if got := doc.Parameters["action"].AllowedValues; strings.Join(got, ",") != "status,check,download,apply,verify,rollback" {
		t.Errorf("action allowedValues %v", got)
	}
}

// docHost: the document's script, runnable with sh against the bootc doubles, with the
// installed names (bootc-testboot-upgrade...) on PATH pointing at scripts/.
func docHost(t *testing.T) (*harness.Doubles, string, []string) {
	t.Helper()
	harness.Require(t, "flock", "sh")
	d := harness.NewDoubles(t)
	h := harness.BootcHost(harness.Img("v1"))
	h.Status.Rollback = harness.Entry(harness.Img("v0"))
	d.SetBootc(t, h)
	d.SetRegistry(t, harness.Img("v2"))
	dir := t.TempDir()
	for bin, script := range map[string]string{"bootc-testboot-upgrade": "upgrade-os.sh",
		"bootc-testboot-rollback": "rollback-os.sh", "bootc-testboot-verify": "verify-instance.sh"} {
		if err := os.WriteFile(filepath.Join(dir, bin), []byte("#!/bin/sh\nexec "+harness.Path("scripts", script)+` "$@"`+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(dir, "document.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"+loadDocument(t).MainSteps[0].Inputs.RunCommand[0]), 0o755); err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + dir + ":" + harness.DoublesBin() + ":" + os.Getenv("PATH")
	return d, script, []string{path, "TESTBOOT_NO_JOURNAL=1"}
}

func resultLine(t *testing.T, r harness.Result) map[string]any {
	t.Helper()
	first, _, _ := strings.Cut(r.Stdout, "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(first), &m); err != nil {
		t.Fatalf("the first stdout line is not the JSON result: %v\n%s", err, r.Output())
	}
	return m
}

func TestDocumentRunsInstalledScripts(t *testing.T) {
	t.Parallel()
	d, script, env := docHost(t)
	run := func(action, digest string) harness.Result {
		return d.RunCmd(t, harness.Cmd{Script: script, Env: append([]string{"SSM_action=" + action,
			"SSM_expectedDigest=" + digest, "SSM_allowDowngrade=false", "SSM_waitBootSeconds=0"}, env...)})
	}
	v1, v2 := harness.Img("v1").ImageDigest, harness.Img("v2").ImageDigest

	r := run("status", "")
	m := resultLine(t, r)
	if r.ExitCode != 0 || m["ok"] != true || m["booted"].(map[string]any)["digest"] != v1 {
		t.Errorf("status: exit %d, %v", r.ExitCode, m)
	}
	// apply refuses what the rollout did not stage; rollback leaves a host not on the digest.
	r = run("apply", v2)
	if m := resultLine(t, r); r.ExitCode != 1 || !strings.Contains(m["error"].(string), "nothing applied") {
		t.Errorf("apply of an unstaged digest: exit %d, %v", r.ExitCode, m)
	}
	r = run("rollback", v2)
	if m := resultLine(t, r); r.ExitCode != 0 || m["result"] != "not-on-digest" {
		t.Errorf("rollback of a host not on the digest: exit %d, %v", r.ExitCode, m)
	}
	r = run("download", v2)
	if m := resultLine(t, r); r.ExitCode != 0 || m["result"] != "staged" || m["staged"].(map[string]any)["digest"] != v2 {
		t.Errorf("download: exit %d, %v\n%s", r.ExitCode, m, r.Stderr)
	}
	if m := harness.Mutations(harness.Find(d.Calls(t), "bootc", "rollback")); len(m) != 0 {
		t.Errorf("guarded actions changed the host: %s", harness.FormatCalls(m))
	}
	// A value the document's pattern would refuse is refused again here, and never run.
	marker := filepath.Join(t.TempDir(), "pwned")
	r = run("status", "$(touch "+marker+")")
	if m := resultLine(t, r); r.ExitCode != 1 || !strings.Contains(m["error"].(string), "expectedDigest") {
		t.Errorf("injected digest: exit %d, %v", r.ExitCode, m)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the injected digest ran as shell code")
	}
}
