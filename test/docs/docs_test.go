package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// docSet is the brief's table of learning docs: every one must exist.
var docSet = []string{
	"000-architecture-overview.md",
	"001-what-is-bootc.md",
	"002-architecture-and-ostree.md",
	"003-filesystem-layout.md",
	"004-building-bootc-images.md",
	"005-users-groups-ssh.md",
	"006-secrets-management.md",
	"007-bootc-image-builder.md",
	"008-upgrade-and-rollback.md",
	"009-registries-and-offline.md",
	"010-relationships.md",
	"011-poc-walkthrough.md",
	"012-runbook.md",
}

func loadAll(t *testing.T) []*Doc {
	t.Helper()
	files, _ := filepath.Glob(harness.Path("docs", "*.md")) // sorted
	var docs []*Doc
	for _, f := range append([]string{harness.Path("README.md")}, files...) {
		rel, _ := filepath.Rel(harness.Root(), f)
		d, err := Load(harness.Root(), filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs
}

func report(t *testing.T, problems []Problem) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

func TestDocSetComplete(t *testing.T) {
	for _, name := range docSet {
		if _, err := os.Stat(harness.Path("docs", name)); err != nil {
			t.Errorf("docs/%s is missing", name)
		}
	}
	if _, err := os.Stat(harness.Path("README.md")); err != nil {
		t.Error("README.md is missing")
	}
}

// The README links every learning doc, so a reader can reach each one.
func TestReadmeLinksEveryDoc(t *testing.T) {
	d, err := Load(harness.Root(), "README.md")
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, l := range d.Links {
		linked[filepath.Clean(l.Text)] = true
	}
	for _, name := range docSet {
		if !linked[filepath.Join("docs", name)] {
			t.Errorf("README.md does not link docs/%s", name)
		}
	}
}

// Every check of doc.go over every document (README.md and docs/*.md).
func TestDocsPassEveryCheck(t *testing.T) {
	harness.Require(t, "bash")
	repo, err := NewRepo(harness.Root(), "scripts/verify-instance.sh")
	if err != nil {
		t.Fatal(err)
	}
	checks := repo.Checks()
	docs := loadAll(t)
	for _, name := range harness.SortedKeys(checks) {
		t.Run(name, func(t *testing.T) {
			for _, d := range docs {
				report(t, checks[name](d))
			}
		})
	}
}

// The checks pass vacuously if the parser stops seeing what they check; the
// docs contain each kind of item, so each count must be positive. The
// Makefile's VERIFY_ARGS must be seen as verify-instance.sh's arguments, or
// `make verify VERIFY_ARGS="--expect-digest ..."` examples go unchecked.
func TestChecksSeeTheDocs(t *testing.T) {
	repo, err := NewRepo(harness.Root(), "scripts/verify-instance.sh")
	if err != nil {
		t.Fatal(err)
	}
	if repo.VarScripts["VERIFY_ARGS"] != "scripts/verify-instance.sh" {
		t.Errorf("VERIFY_ARGS is not recognised as verify-instance.sh's arguments: %v", repo.VarScripts)
	}
	counts := map[string]int{}
	count := func(kind string, ok bool) {
		if ok {
			counts[kind]++
		}
	}
	for _, d := range loadAll(t) {
		counts["links"] += len(d.Links)
		quoted := []string{}
		for _, b := range d.Blocks {
			count("mermaid blocks", b.Lang == "mermaid")
			count("shell blocks", isShell(b.Lang))
			quoted = append(quoted, strings.Split(b.Text, "\n")...)
		}
		for _, c := range Commands(d) {
			for i, w := range c.Words {
				count("make commands", w == "make" && i+1 < len(c.Words))
				rel, _ := scriptOf(repo.Root, w)
				count("script commands", rel != "")
			}
		}
		for _, s := range d.Spans {
			count("repository paths", repoPath.MatchString(s.Text))
			quoted = append(quoted, s.Text)
		}
		for _, l := range quoted {
			count("quoted script messages", scriptPrefix.MatchString(strings.TrimSpace(l)))
			count("quoted check lines", checkLine.MatchString(l))
			count("label lines", labelLine.MatchString(l))
		}
	}
	for _, kind := range []string{"mermaid blocks", "shell blocks", "make commands", "script commands", "repository paths", "links",
		"quoted script messages", "quoted check lines", "label lines"} {
		if counts[kind] == 0 {
			t.Errorf("no %s found in the docs: the parser is broken", kind)
		}
		t.Logf("%s: %d", kind, counts[kind])
	}
}
