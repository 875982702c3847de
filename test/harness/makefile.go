package harness

import (
	"os"
	"regexp"
	"strings"
)

var (
	makeRule   = regexp.MustCompile(`^([^\s:=#][^:=#]*?)\s*::?(?:[^=]|$)`)
	targetName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
)

// MakeRecipes maps every target named on a rule line of a Makefile to the
// line numbers of its recipe: the tab-indented lines after the rule, and the
// lines a recipe line continues onto with '\'. A target without a recipe maps
// to none.
func MakeRecipes(makefile string) (map[string][]int, error) {
	data, err := os.ReadFile(makefile)
	if err != nil {
		return nil, err
	}
	out := map[string][]int{}
	var current []string
	cont := false
	for n, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "\t") || (cont && current != nil):
			for _, t := range current {
				out[t] = append(out[t], n+1)
			}
			cont = strings.HasSuffix(line, `\`)
		case makeRule.MatchString(line):
			current = strings.Fields(makeRule.FindStringSubmatch(line)[1])
			for _, t := range current {
				out[t] = append(out[t], []int{}...)
			}
			cont = false
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		default:
			current = nil
		}
	}
	return out, nil
}

// MakeTargets returns the targets of a Makefile a user can call by name.
// Pattern rules, targets built from variables and special targets (.PHONY)
// are left out.
func MakeTargets(makefile string) (map[string]bool, error) {
	recipes, err := MakeRecipes(makefile)
	targets := map[string]bool{}
	for t := range recipes {
		if targetName.MatchString(t) {
			targets[t] = true
		}
	}
	return targets, err
}
