package workflows

import (
	"path"
	"strings"
)

// makeCall is one `make ...` command found in a run script.
type makeCall struct {
	line          int // 0-based line of the script where the command starts
	targets       []string
	otherMakefile bool // -C or -f: another Makefile, not checked
}

// makeCommands finds the make invocations of a shell script. It knows enough
// shell to split commands (newlines, ; & | ( ) and backquotes outside quotes),
// honour quotes, comments and line continuations, and look past the wrappers a
// workflow puts in front of make: VAR=value, sudo [opts], env [opts] [VAR=value],
// time, exec, command.
func makeCommands(script string) []makeCall {
	var calls []makeCall
	for _, cmd := range splitCommands(script) {
		words := unwrap(cmd.words)
		if len(words) == 0 || path.Base(words[0]) != "make" {
			continue
		}
		call := makeCall{line: cmd.line}
		args := words[1:]
		for j := 0; j < len(args); j++ {
			a := args[j]
			switch {
			case a == "-C" || a == "-f" || a == "--file" || a == "--makefile" || a == "--directory" ||
				strings.HasPrefix(a, "--directory=") || strings.HasPrefix(a, "--file=") || strings.HasPrefix(a, "--makefile=") ||
				(strings.HasPrefix(a, "-C") || strings.HasPrefix(a, "-f")) && !strings.HasPrefix(a, "--"):
				call.otherMakefile = true
				if a == "-C" || a == "-f" || a == "--file" || a == "--makefile" || a == "--directory" {
					j++
				}
			case a == "-j" || a == "-l" || a == "-o" || a == "-W" || a == "-I":
				j++ // option with a separate argument
			case strings.HasPrefix(a, "-"):
			case isAssignment(a) || strings.Contains(a, "="):
			case strings.HasPrefix(a, ">") || strings.HasPrefix(a, "<") || strings.HasPrefix(a, "2>") || strings.HasPrefix(a, "1>"):
				if a == ">" || a == ">>" || a == "<" || a == "2>" || a == "1>" {
					j++
				}
			default:
				call.targets = append(call.targets, a)
			}
		}
		calls = append(calls, call)
	}
	return calls
}

// unwrap drops what a workflow puts in front of the command it runs:
// VAR=value, sudo [opts], env [opts] [VAR=value], time, exec, command.
func unwrap(words []string) []string {
	i := 0
	for i < len(words) {
		w := words[i]
		switch {
		case isAssignment(w):
			i++
		case w == "sudo" || w == "env":
			i++
			for i < len(words) && (strings.HasPrefix(words[i], "-") || (w == "env" && isAssignment(words[i]))) {
				if w == "sudo" && (words[i] == "-u" || words[i] == "-g" || words[i] == "-C" || words[i] == "-D") {
					i++
				}
				i++
			}
		case w == "time" || w == "exec" || w == "command":
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
	for _, c := range makeCommands(script) {
		for _, t := range c.targets {
			if t == "build" && !c.otherMakefile {
				lines = append(lines, c.line)
				break
			}
		}
	}
	for _, cmd := range splitCommands(script) {
		words := unwrap(cmd.words)
		if len(words) == 0 {
			continue
		}
		switch path.Base(words[0]) {
		case "build-image.sh":
			lines = append(lines, cmd.line)
		case "podman", "buildah", "docker":
			for _, w := range words[1:] {
				if w == "build" || w == "bud" || w == "buildx" {
					lines = append(lines, cmd.line)
					break
				}
			}
		}
	}
	return lines
}

func isAssignment(w string) bool {
	eq := strings.IndexByte(w, '=')
	if eq <= 0 {
		return false
	}
	for k, r := range w[:eq] {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || k > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

type command struct {
	line  int
	words []string
}

// splitCommands cuts a script into simple commands made of unquoted words.
func splitCommands(script string) []command {
	var (
		out        []command
		words      []string
		word       strings.Builder
		inWord     bool
		quote      rune
		line       int
		start      = -1
		runes      = []rune(script)
		endWord    func()
		endCommand func()
	)
	endWord = func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	endCommand = func() {
		endWord()
		if len(words) > 0 {
			out = append(out, command{line: start, words: words})
		}
		words, start = nil, -1
	}
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		if quote != 0 {
			switch {
			case r == quote:
				quote = 0
			case r == '\\' && quote == '"' && i+1 < len(runes):
				i++
				if runes[i] == '\n' {
					line++
				} else {
					word.WriteRune(runes[i])
				}
			default:
				if r == '\n' {
					line++
				}
				word.WriteRune(r)
			}
			continue
		}
		switch {
		case r == '\\' && i+1 < len(runes):
			i++
			if runes[i] == '\n' {
				line++ // continuation: the command goes on
				endWord()
				continue
			}
			word.WriteRune(runes[i])
			inWord = true
		case r == '\'' || r == '"':
			quote = r
			inWord = true
			if start < 0 {
				start = line
			}
		case r == '#' && !inWord:
			for i+1 < len(runes) && runes[i+1] != '\n' {
				i++
			}
		case r == '\n':
			endCommand()
			line++
		case r == ';' || r == '&' || r == '|' || r == '(' || r == ')' || r == '`' || r == '{' && !inWord || r == '}' && !inWord:
			endCommand()
		case r == ' ' || r == '\t':
			endWord()
		default:
			if start < 0 {
				start = line
			}
			word.WriteRune(r)
			inWord = true
		}
	}
	endCommand()
	return out
}
