package harness

import (
	"bufio"
	"bytes"
	"os"
	"regexp"
	"strings"
)

// makeRule matches a rule line whose targets are all plain names.
var makeRule = regexp.MustCompile(`^([A-Za-z0-9_][A-Za-z0-9_.-]*(?:\s+[A-Za-z0-9_][A-Za-z0-9_.-]*)*)\s*::?(?:[^=]|$)`)

// MakeTargets returns the explicit targets of a Makefile: names at the start
// of a rule line. Pattern rules, targets built from variables and special
// targets (.PHONY) are not callable by name and are left out.
func MakeTargets(makefile string) (map[string]bool, error) {
	data, err := os.ReadFile(makefile)
	if err != nil {
		return nil, err
	}
	targets := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "\t") {
			continue
		}
		if m := makeRule.FindStringSubmatch(line); m != nil {
			for _, name := range strings.Fields(m[1]) {
				targets[name] = true
			}
		}
	}
	return targets, sc.Err()
}
