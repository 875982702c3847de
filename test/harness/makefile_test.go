package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMakeTargets(t *testing.T) {
	f := filepath.Join(t.TempDir(), "Makefile")
	src := "VAR ?= value\nIMAGE := x\n.PHONY: test build\nhelp: ## Help\n\t@echo help\n" +
		"build: apps ## Build\n\t@echo build\napps:\nos-apply os-rollback: FORCE\n\t@true\nFORCE:\n$(VAR)/%: FORCE\n\t@echo pattern\noutput/%:\n\t@true\n"
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	targets, err := MakeTargets(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(SortedKeys(targets), " "), "FORCE apps build help os-apply os-rollback"; got != want {
		t.Errorf("targets = %q, want %q", got, want)
	}
	recipes, err := MakeRecipes(f)
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{"help": "[5]", "build": "[7]", "apps": "[]", "os-apply": "[10]", "os-rollback": "[10]", "$(VAR)/%": "[13]"} {
		if got := fmt.Sprint(recipes[target]); got != want {
			t.Errorf("recipe lines of %s = %s, want %s", target, got, want)
		}
	}
	// The repository's Makefile, as the docs and workflow checks read it.
	targets, err = MakeTargets(Path("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"help", "apps", "build", "push", "test", "lint", "boot-test", "ami", "verify", "clean"} {
		if !targets[want] {
			t.Errorf("target %q not parsed from the Makefile (got %v)", want, SortedKeys(targets))
		}
	}
	for _, never := range []string{".PHONY", "FORCE:", "$(BIN_DIR)/%", "SHELL", "REGISTRY"} {
		if targets[never] {
			t.Errorf("%q parsed as a target", never)
		}
	}
}
