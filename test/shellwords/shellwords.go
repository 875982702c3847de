// Package shellwords splits shell source into simple commands and their words
// with mvdan.cc/sh/v3/syntax, the bash parser behind shfmt, so the docs checks
// and the workflow checks read commands by the same rules as bash.
package shellwords

import (
	"path"
	"regexp"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Command is one simple command, wherever it stands: in a list or pipeline,
// in a compound command or function body, or inside $(...).
type Command struct {
	Line  int      // 1-based line of the command's first word or assignment
	Words []string // arguments, command name first, as Text gives them
	Call  *syntax.CallExpr
}

// Parse reads src as bash and returns its simple commands in source order,
// including those with only assignments (Words empty).
func Parse(src string) ([]Command, error) {
	f, err := File(src)
	if err != nil {
		return nil, err
	}
	var out []Command
	syntax.Walk(f, func(n syntax.Node) bool {
		if c, ok := n.(*syntax.CallExpr); ok {
			cmd := Command{Line: int(c.Pos().Line()), Call: c}
			for _, w := range c.Args {
				cmd.Words = append(cmd.Words, Text(src, w))
			}
			out = append(out, cmd)
		}
		return true
	})
	return out, nil
}

// File parses src as bash, the shell of every script and snippet here.
func File(src string) (*syntax.File, error) {
	return syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(src), "")
}

// Text is a word as the command receives it when its expansions are left
// alone: quotes and escapes removed, each expansion ($x, $(...)) as written.
func Text(src string, w *syntax.Word) string {
	var b strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(Unescape(p.Value, false))
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				if l, ok := q.(*syntax.Lit); ok {
					b.WriteString(Unescape(l.Value, true))
				} else {
					b.WriteString(Source(src, q))
				}
			}
		default:
			b.WriteString(Source(src, p))
		}
	}
	return b.String()
}

// Source is the text of node n in src.
func Source(src string, n syntax.Node) string {
	return src[n.Pos().Offset():n.End().Offset()]
}

// Unescape removes the backslashes bash removes from literal text: before any
// character outside quotes, before $ ` " \ and newline inside double quotes.
// An escaped newline (a continuation) goes too.
func Unescape(s string, quoted bool) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (!quoted || strings.IndexByte("$`\"\\\n", s[i+1]) >= 0) {
			i++
			if s[i] == '\n' {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// MakeCall is what one `make` command line asks for.
type MakeCall struct {
	Goals         []string // the targets it names
	OtherMakefile bool     // -C DIR or -f FILE: not the repository's Makefile
}

// Make reads a command as a make invocation, looking past what a command line
// puts in front of make (sudo [opts], env [opts] [VAR=value], time, exec,
// command); ok is false when the command does not run make. Options, and
// variable assignments (VAR=value), are not goals.
func Make(words []string) (call MakeCall, ok bool) {
	words = Unwrap(words)
	if len(words) == 0 || path.Base(words[0]) != "make" {
		return call, false
	}
	args := words[1:]
	for j := 0; j < len(args); j++ {
		switch a := args[j]; {
		case a == "-C" || a == "-f" || a == "--file" || a == "--makefile" || a == "--directory":
			call.OtherMakefile = true
			j++
		case strings.HasPrefix(a, "--directory=") || strings.HasPrefix(a, "--file=") || strings.HasPrefix(a, "--makefile=") ||
			(strings.HasPrefix(a, "-C") || strings.HasPrefix(a, "-f")) && !strings.HasPrefix(a, "--"):
			call.OtherMakefile = true
		case a == "-j" || a == "-l" || a == "-o" || a == "-W" || a == "-I":
			j++ // an option with a separate argument
		case strings.HasPrefix(a, "-") || strings.Contains(a, "="):
		default:
			call.Goals = append(call.Goals, a)
		}
	}
	return call, true
}

// Unwrap drops what a command line puts in front of the command it runs:
// sudo [opts], env [opts] [VAR=value], time, exec, command.
func Unwrap(words []string) []string {
	for len(words) > 0 {
		switch w := words[0]; w {
		case "sudo", "env":
			words = words[1:]
			for len(words) > 0 && (strings.HasPrefix(words[0], "-") || w == "env" && assignment.MatchString(words[0])) {
				if w == "sudo" && (words[0] == "-u" || words[0] == "-g" || words[0] == "-C" || words[0] == "-D") && len(words) > 1 {
					words = words[1:]
				}
				words = words[1:]
			}
		case "time", "exec", "command":
			words = words[1:]
		default:
			return words
		}
	}
	return nil
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
