package workflows

import (
	"path"
	"regexp"
	"strings"

	"bootc-testboot/test/shellwords"
)

// makeCall is one `make ...` command found in a run script.
type makeCall struct {
	line          int // 0-based line of the script where the command starts
	targets       []string
	otherMakefile bool // -C or -f: another Makefile, not checked
}

// ghExpression is a ${{ }} expression, which the runner replaces before bash
// reads the script; it is masked so the script parses.
var ghExpression = regexp.MustCompile(`\$\{\{.*?\}\}`)

// commands parses a run script with the shared shell parser and drops what a
// workflow puts in front of the command it runs (see unwrap).
func commands(script string) ([]shellwords.Command, error) {
	cmds, err := shellwords.Parse(ghExpression.ReplaceAllStringFunc(script, func(m string) string {
		return strings.Repeat("x", len(m))
	}))
	for i := range cmds {
		cmds[i].Words = unwrap(cmds[i].Words)
	}
	return cmds, err
}

// makeCommands finds the make invocations of a run script.
func makeCommands(script string) ([]makeCall, error) {
	cmds, err := commands(script)
	var calls []makeCall
	for _, cmd := range cmds {
		if len(cmd.Words) == 0 || path.Base(cmd.Words[0]) != "make" {
			continue
		}
		call := makeCall{line: cmd.Line - 1}
		args := cmd.Words[1:]
		for j := 0; j < len(args); j++ {
			a := args[j]
			switch {
			case a == "-C" || a == "-f" || a == "--file" || a == "--makefile" || a == "--directory":
				call.otherMakefile = true
				j++
			case strings.HasPrefix(a, "--directory=") || strings.HasPrefix(a, "--file=") || strings.HasPrefix(a, "--makefile=") ||
				(strings.HasPrefix(a, "-C") || strings.HasPrefix(a, "-f")) && !strings.HasPrefix(a, "--"):
				call.otherMakefile = true
			case a == "-j" || a == "-l" || a == "-o" || a == "-W" || a == "-I":
				j++ // option with a separate argument
			case strings.HasPrefix(a, "-") || strings.Contains(a, "="):
			default:
				call.targets = append(call.targets, a)
			}
		}
		calls = append(calls, call)
	}
	return calls, err
}

// unwrap drops sudo [opts], env [opts] [VAR=value], time, exec and command
// (the parser already keeps leading VAR=value apart).
func unwrap(words []string) []string {
	i := 0
	for i < len(words) {
		switch w := words[i]; w {
		case "sudo", "env":
			i++
			for i < len(words) && (strings.HasPrefix(words[i], "-") || w == "env" && isAssignment(words[i])) {
				if w == "sudo" && (words[i] == "-u" || words[i] == "-g" || words[i] == "-C" || words[i] == "-D") {
					i++
				}
				i++
			}
		case "time", "exec", "command":
			i++
		default:
			return words[i:]
		}
	}
	return nil
}

// imageBuilds finds the commands of a script that build a container image:
// `make build` (this Makefile), scripts/build-image.sh, and podman, buildah or
// docker asked to build. It returns the 0-based script line of each.
func imageBuilds(script string) []int {
	var lines []int
	calls, _ := makeCommands(script)
	for _, c := range calls {
		for _, t := range c.targets {
			if t == "build" && !c.otherMakefile {
				lines = append(lines, c.line)
				break
			}
		}
	}
	cmds, _ := commands(script)
	for _, cmd := range cmds {
		if len(cmd.Words) == 0 {
			continue
		}
		switch path.Base(cmd.Words[0]) {
		case "build-image.sh":
			lines = append(lines, cmd.Line-1)
		case "podman", "buildah", "docker":
			for _, w := range cmd.Words[1:] {
				if w == "build" || w == "bud" || w == "buildx" {
					lines = append(lines, cmd.Line-1)
					break
				}
			}
		}
	}
	return lines
}

func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	return ok && regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(name)
}
