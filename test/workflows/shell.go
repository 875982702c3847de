package workflows

import (
	"path"
	"regexp"
	"slices"
	"strings"

	"bootc-testboot/test/shellwords"
)

// ghExpression is a ${{ }} expression, which the runner replaces before bash
// reads the script; it is masked so the script parses.
var ghExpression = regexp.MustCompile(`\$\{\{.*?\}\}`)

// commands reads a run script with the shared shell parser.
func commands(script string) ([]shellwords.Command, error) {
	return shellwords.Parse(ghExpression.ReplaceAllStringFunc(script, func(m string) string {
		return strings.Repeat("x", len(m))
	}))
}

// makeCall is one `make ...` command of a run script.
type makeCall struct {
	shellwords.MakeCall
	line int // 0-based line of the script where the command starts
}

// makeCommands finds the make invocations of a run script.
func makeCommands(script string) ([]makeCall, error) {
	cmds, err := commands(script)
	var calls []makeCall
	for _, c := range cmds {
		if m, ok := shellwords.Make(c.Words); ok {
			calls = append(calls, makeCall{m, c.Line - 1})
		}
	}
	return calls, err
}

// imageBuilds finds the commands of a script that build a container image:
// `make build` (this Makefile), scripts/build-image.sh, and podman, buildah or
// docker asked to build. It returns the 0-based script line of each.
func imageBuilds(script string) []int {
	var lines []int
	cmds, _ := commands(script)
	for _, c := range cmds {
		if m, ok := shellwords.Make(c.Words); ok && !m.OtherMakefile && slices.Contains(m.Goals, "build") {
			lines = append(lines, c.Line-1)
		}
		words := shellwords.Unwrap(c.Words)
		switch {
		case len(words) == 0:
		case path.Base(words[0]) == "build-image.sh",
			slices.Contains([]string{"podman", "buildah", "docker"}, path.Base(words[0])) &&
				slices.ContainsFunc(words[1:], func(w string) bool { return w == "build" || w == "bud" || w == "buildx" }):
			lines = append(lines, c.Line-1)
		}
	}
	return lines
}
