package workflows

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// renovateMatch finds the regex manager of .github/renovate.json that reads
// file (its managerFilePatterns match the path, a matchStrings pattern matches
// the text) and returns the manager, that pattern and its named groups.
func renovateMatch(t *testing.T, file string) (m renovateManager, re *regexp.Regexp, groups map[string]string) {
	t.Helper()
	var cfg struct {
		EnabledManagers []string          `json:"enabledManagers"`
		CustomManagers  []renovateManager `json:"customManagers"`
	}
	if err := json.Unmarshal([]byte(harness.ReadFile(t, harness.Path(".github", "renovate.json"))), &cfg); err != nil {
		t.Fatalf("renovate.json: %v", err)
	}
	if len(cfg.EnabledManagers) != 1 || cfg.EnabledManagers[0] != "custom.regex" {
		t.Errorf("enabledManagers = %q, want only custom.regex (Dependabot owns actions and Go modules)", cfg.EnabledManagers)
	}
	text := harness.ReadFile(t, harness.Path(file))
	for _, m := range cfg.CustomManagers {
		fileMatches := false
		for _, p := range m.ManagerFilePatterns {
			fileMatches = fileMatches || regexp.MustCompile(strings.Trim(p, "/")).MatchString(file)
		}
		for _, ms := range m.MatchStrings {
			re := regexp.MustCompile(ms)
			if sub := re.FindStringSubmatch(text); fileMatches && m.CustomType == "regex" && sub != nil {
				groups := map[string]string{}
				for i, name := range re.SubexpNames() {
					if i == 0 || name != "" { // "": the whole match
						groups[name] = sub[i]
					}
				}
				if m.DatasourceTemplate != "docker" {
					t.Errorf("the manager of %s has datasourceTemplate %q, want docker", file, m.DatasourceTemplate)
				}
				return m, re, groups
			}
		}
	}
	t.Fatalf("no regex manager of renovate.json matches %s", file)
	return
}

type renovateManager struct {
	CustomType                string   `json:"customType"`
	ManagerFilePatterns       []string `json:"managerFilePatterns"`
	MatchStrings              []string `json:"matchStrings"`
	DatasourceTemplate        string   `json:"datasourceTemplate"`
	AutoReplaceStringTemplate string   `json:"autoReplaceStringTemplate"`
}

// renovateTemplate renders the {{{field}}} placeholders of a Renovate
// template (Handlebars triple braces: no HTML escaping).
func renovateTemplate(tmpl string, fields map[string]string) string {
	return regexp.MustCompile(`\{\{\{?\s*([A-Za-z]+)\s*\}?\}\}`).ReplaceAllStringFunc(tmpl, func(m string) string {
		name := regexp.MustCompile(`[A-Za-z]+`).FindString(m)
		return fields[name]
	})
}

// Renovate keeps the bootc-image-builder pin of scripts/create-ami.sh current:
// a regex manager finds the BIB_PINNED line as it is, reads image, tag and
// digest from it, and its autoReplaceStringTemplate writes a new digest back
// into the same line (a digest pin is only replaced through that template).
func TestRenovateUpdatesTheBuilderPin(t *testing.T) {
	checkRenovatePin(t, "scripts/create-ami.sh", "readonly BIB_PINNED=", "bash")
}

// Renovate also watches the base image, which Dependabot cannot see; it is
// pinned by digest the same way (ARG BASE_IMAGE=...:44@sha256:...):
// without autoReplaceStringTemplate Renovate fails such an update
// (WORKER_FILE_UPDATE_FAILED; renovatebot/renovate docs/usage/configuration-options.md,
// autoReplaceStringTemplate: "needed ... e.g. digest pinning").
func TestRenovateUpdatesTheBasePin(t *testing.T) {
	checkRenovatePin(t, "Containerfile", "ARG BASE_IMAGE=", "")
}

// checkRenovatePin applies renovate.json's regex manager for file to the line
// starting with prefix (IMAGE:TAG@sha256:DIGEST) and then its template, as
// Renovate does for a new digest; parser ("bash" or "") checks the result parses.
func checkRenovatePin(t *testing.T, file, prefix, parser string) {
	script := harness.ReadFile(t, harness.Path(file))
	pin := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(prefix) + `(\S+):([A-Za-z0-9._-]+)@(sha256:[0-9a-f]{64})$`).FindStringSubmatch(script)
	if pin == nil {
		t.Fatalf("%s has no `%sIMAGE:TAG@sha256:DIGEST` line", file, prefix)
	}
	m, re, got := renovateMatch(t, file)
	if m.AutoReplaceStringTemplate == "" {
		t.Fatal("the manager has no autoReplaceStringTemplate: Renovate cannot replace a digest pin without one")
	}
	want := map[string]string{"depName": pin[1], "currentValue": pin[2], "currentDigest": pin[3]}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("renovate reads %s = %q, %s pins %q", k, got[k], file, v)
		}
	}

	// What an update does: the template replaces the whole match.
	newDigest := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	replacement := renovateTemplate(m.AutoReplaceStringTemplate, map[string]string{
		"depName": got["depName"], "newValue": got["currentValue"], "newDigest": newDigest,
		"currentValue": got["currentValue"], "currentDigest": got["currentDigest"],
	})
	updated := strings.Replace(script, got[""], replacement, 1)
	wantLine := prefix + pin[1] + ":" + pin[2] + "@" + newDigest
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(wantLine) + `$`).MatchString(updated) {
		t.Errorf("after an update the pin line is not %q; template %q gives %q", wantLine, m.AutoReplaceStringTemplate, replacement)
	}
	if strings.Contains(updated, pin[3]) {
		t.Errorf("the old digest is still in %s after an update", file)
	}
	if again := re.FindStringSubmatch(updated); again == nil || again[re.SubexpIndex("currentDigest")] != newDigest {
		t.Error("the manager no longer finds the pin after its own update")
	}
	if parser == "" {
		return
	}
	// The updated script is still a script.
	f := filepath.Join(t.TempDir(), filepath.Base(file))
	if err := os.WriteFile(f, []byte(updated), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(parser, "-n", f).CombinedOutput(); err != nil {
		t.Errorf("updated %s does not parse: %v\n%s", file, err, out)
	}
}

// The template renderer follows Handlebars' triple braces.
func TestRenovateTemplateRendering(t *testing.T) {
	got := renovateTemplate("x={{{depName}}}:{{{newValue}}}@{{{ newDigest }}}", map[string]string{"depName": "a/b", "newValue": "1", "newDigest": "sha256:f"})
	if got != "x=a/b:1@sha256:f" {
		t.Errorf("got %q", got)
	}
}
