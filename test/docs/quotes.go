package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"bootc-testboot/test/shellwords"

	"mvdan.cc/sh/v3/syntax"
)

// --- Quoted script output ---------------------------------------------------
//
// CheckQuotes: a line of a text, console or untagged block, or a code span,
// that starts with "<name>.sh: " is a message scripts/<name>.sh prints (log,
// warn "warning: ", die "error: ", usage_error "... (see --help)", or another
// literal of its source or of scripts/lib/common.sh, at any level). In a
// console block, a "label: value" output line of a command that runs a script
// (directly, through on-host.sh or a make target) matches a line with that
// label, if the script prints it at all; PASS|FAIL|SKIP lines there (under
// the check script) and in code spans name a check the check script defines
// ("unit:$1" defines unit:<anything>) and match one of its record calls.
//
// A script's printed text is read once into patterns: every quoted literal and
// here-document, cut into lines. In a doc, "...", "…" and <placeholder> stand
// for anything. In a script, a plain variable stands for a value without
// spaces; a command substitution, a list ("${a[*]}"), a function argument ($1)
// or printf's %s with such an argument for at most a few words of prose; any
// of them at the very end of a line for any text. So a quote may shorten a
// message and fill in values, but a reworded sentence does not pass.

// star marks a doc's "anything" and a script's wide value; narrow a script's
// value without whitespace; conv a printf conversion until its argument
// decides. They are private-use runes no document contains.
const (
	star   = "\uE000"
	narrow = "\uE001"
	conv   = "\uE002"
)

// printed is what one script (with scripts/lib/common.sh) can print.
type printed struct {
	err     string      // why the script could not be read
	leveled []string    // messages with their level: "error: ...", "warning: ...", "... (see --help)"
	loose   []string    // other literal lines of two words or more (echo, a helper's output): any level
	lines   []string    // every literal line
	words   []string    // code words that start with a literal character
	records [][3]string // record STATUS NAME DETAIL calls
}

// helpers are the shared library's message functions and the level each prints.
var helpers = map[string][2]string{"log": {"", ""}, "warn": {"warning: ", ""}, "die": {"error: ", ""}, "usage_error": {"", helpSuffix}}

const helpSuffix = " (see --help)"

// script reads what rel prints, once.
func (r *Repo) script(rel string) *printed {
	if p := r.printed[rel]; p != nil {
		return p
	}
	p := &printed{}
	r.printed[rel] = p
	for _, f := range []string{rel, "scripts/lib/common.sh"} {
		data, err := os.ReadFile(filepath.Join(r.Root, f))
		if os.IsNotExist(err) && f != rel {
			break
		}
		if err == nil {
			err = p.read(string(data))
		}
		if err != nil {
			p.err = fmt.Sprintf("%s: %v", f, err)
			break
		}
	}
	return p
}

// read collects the printed text of shell source: every command's words
// (assignments, test operands and ${x:-"default"} come as one-word commands,
// so their literals count too) and every here-document.
func (p *printed) read(src string) error {
	f, err := shellwords.File(src)
	if err != nil {
		return err
	}
	seen := map[*syntax.Word]bool{}
	syntax.Walk(f, func(n syntax.Node) bool {
		var ws []*syntax.Word
		switch n := n.(type) {
		case *syntax.CallExpr:
			ws = n.Args
		case *syntax.Word:
			ws = []*syntax.Word{n}
		case *syntax.Redirect:
			if n.Hdoc != nil && !seen[n.Hdoc] {
				seen[n.Hdoc] = true
				w := readWord(src, n.Hdoc)
				p.addLiteral(strings.ReplaceAll(literal(w.pat), conv, star), false)
			}
		}
		var cmd []shWord
		for _, w := range ws {
			if !seen[w] {
				seen[w] = true
				cmd = append(cmd, readWord(src, w))
			}
		}
		if len(cmd) > 0 {
			p.command(cmd)
		}
		return true
	})
	return nil
}

// command adds one simple command's literals, words, messages and records.
func (p *printed) command(cmd []shWord) {
	name := cmd[0].pat
	format := -1 // the word that is printf's format
	if name == "printf" && len(cmd) > 1 {
		format = 1
		if cmd[1].pat == "-v" {
			format = 3 // printf -v VAR FORMAT
		}
	}
	level, call := helpers[name]
	for wi, w := range cmd {
		for li, lit := range w.literals {
			if wi == format && li == 0 {
				lit = printfArgs(lit, cmd[wi+1:])
			}
			lit = strings.ReplaceAll(lit, conv, star)
			p.addLiteral(lit, call)
		}
		if w.pat != "" && !strings.HasPrefix(w.pat, star) && !strings.HasPrefix(w.pat, narrow) && !strings.ContainsAny(w.pat, " \t\n") {
			p.words = append(p.words, w.pat)
		}
	}
	var args []string
	for _, w := range cmd[1:] {
		args = append(args, w.pat)
	}
	body := strings.Join(args, " ")
	switch {
	case call && literalWords(body) >= 2: // "$*", "$problem": the text is elsewhere, as a literal
		p.leveled = append(p.leveled, level[0]+body+level[1])
	case name == "record" && len(args) >= 3:
		p.records = append(p.records, [3]string{args[0], args[1], args[2]})
	}
}

// addLiteral adds the lines of a literal. A line "<value>: rest" prints the
// program name itself ('%s: error: another ... (lock %s)' with "$PROG"): rest
// is a message with its level, when it says more than the level (the formats
// of log, warn and die themselves do not). A helper's argument is added with
// its level by command, not as a loose line.
func (p *printed) addLiteral(lit string, helperArg bool) {
	for _, line := range strings.Split(strings.ReplaceAll(lit, `\n`, "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		p.lines = append(p.lines, line)
		if strings.HasPrefix(line, star+": ") || strings.HasPrefix(line, narrow+": ") {
			if rest := line[len(star)+2:]; literalWords(stripLevel(rest)) >= 2 {
				p.leveled = append(p.leveled, rest)
			}
		} else if !helperArg && literalWords(line) >= 2 {
			p.loose = append(p.loose, line)
		}
	}
}

func stripLevel(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(s, "error: "), "warning: "), helpSuffix)
}

var letterRun = regexp.MustCompile(`[A-Za-z]{2,}`)

// literalWords counts the words a pattern writes out (not its expansions).
func literalWords(p string) int {
	return len(letterRun.FindAllString(strings.NewReplacer(star, " ", narrow, " ").Replace(p), -1))
}

// --- A small shell reader -------------------------------------------------------

// shWord is one shell word as a pattern, with the string literals it contains.
type shWord struct {
	pat      string
	literals []string // quoted parts; printf conversions are conv
}

// printfArgs gives each conversion of a printf format the width of its
// argument: a plain variable holds a value without spaces, anything else
// (a command substitution, a missing argument) any text.
func printfArgs(format string, args []shWord) string {
	parts := strings.Split(format, conv)
	for i := range parts[1:] {
		width := star
		if i < len(args) && !strings.Contains(args[i].pat, star) && strings.Contains(args[i].pat, narrow) {
			width = narrow
		}
		parts[i+1] = width + parts[i+1]
	}
	return strings.Join(parts, "")
}

var (
	printfConv  = regexp.MustCompile(`%[-+ #0]*[0-9]*(?:\.[0-9]+)?[sdiuxXcbqeEfgG]`)
	innerDouble = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
)

// readWord turns a word into a pattern: literal text as it is, a variable
// narrow, a command substitution, list ("${a[*]}") or function argument ($1,
// $*) star. Double-quoted strings inside a single-quoted program (awk's
// printf "...") count as literals.
func readWord(src string, w *syntax.Word) shWord {
	var sw shWord
	var pat strings.Builder
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			pat.WriteString(shellwords.Unescape(p.Value, false))
		case *syntax.SglQuoted:
			lit := p.Value
			if p.Dollar {
				lit = narrow
			}
			pat.WriteString(lit)
			sw.literals = append(sw.literals, literal(lit))
			for _, m := range innerDouble.FindAllStringSubmatch(p.Value, -1) {
				// awk's printf "...": its conversions print fields
				sw.literals = append(sw.literals, strings.ReplaceAll(literal(m[1]), conv, narrow))
			}
		case *syntax.DblQuoted:
			var lit strings.Builder
			for _, q := range p.Parts {
				if l, ok := q.(*syntax.Lit); ok {
					lit.WriteString(shellwords.Unescape(l.Value, true))
				} else {
					lit.WriteString(expansion(src, q))
				}
			}
			pat.WriteString(lit.String())
			sw.literals = append(sw.literals, literal(lit.String()))
		default:
			pat.WriteString(expansion(src, p))
		}
	}
	sw.pat = pat.String()
	return sw
}

// literal turns quoted text into a pattern: printf conversions become conv,
// %% a percent sign.
func literal(s string) string {
	return strings.ReplaceAll(printfConv.ReplaceAllString(s, conv), "%%", "%")
}

// expansion is the pattern of an expansion: narrow for a variable, star for a
// command substitution, a list joined with spaces or a function's arguments
// (often phrases).
func expansion(src string, p syntax.WordPart) string {
	pe, ok := p.(*syntax.ParamExp)
	if !ok {
		return star
	}
	text := shellwords.Source(src, pe)
	if strings.Contains(text, "[*]") || strings.Contains(text, "[@]") ||
		pe.Param != nil && strings.Contains("123456789*@", pe.Param.Value) {
		return star
	}
	return narrow
}

// --- Matching ---------------------------------------------------------------------

var docPlaceholder = regexp.MustCompile(`\.\.\.|…|<[A-Za-z][A-Za-z0-9 _./:-]*>`)

// docPattern turns quoted text into a pattern: "...", "…" and <placeholder>
// stand for anything.
func docPattern(s string) string {
	return docPlaceholder.ReplaceAllString(strings.TrimRight(s, " \t"), star)
}

// matches reports whether some text fits both the doc pattern doc and the
// script pattern pat: a doc star covers any part of pat; a script star covers
// text of doc: a narrow one text without whitespace, a wide one at most
// maxStarWords words of prose. A star that ends pat covers any text (an error
// message at the end of a line). Without the limits, a script star could
// swallow a reworded sentence while a doc "..." swallowed the script's words.
func matches(doc, pat string) bool {
	d, p := []rune(doc), []rune(pat)
	starts := wordStarts(d)
	type key struct{ i, j, n int }
	seen := map[key]bool{}
	var walk func(i, j, n int) bool
	walk = func(i, j, n int) bool {
		k := key{i, j, n}
		if v, ok := seen[k]; ok {
			return v
		}
		seen[k] = false
		ok := false
		switch {
		case i == len(d) && j == len(p):
			ok = true
		case i < len(d) && string(d[i]) == star:
			ok = walk(i+1, j, 0) || (j < len(p) && walk(i, j+1, 0))
		case j < len(p) && (string(p[j]) == star || string(p[j]) == narrow):
			ok = walk(i, j+1, 0)
			if !ok && i < len(d) {
				m := n
				if starts[i] {
					m++
				}
				switch {
				case j == len(p)-1:
					ok = walk(i+1, j, 0)
				case string(p[j]) == narrow && (d[i] == ' ' || d[i] == '\t'):
				case m > maxStarWords:
				default:
					ok = walk(i+1, j, m)
				}
			}
		case i < len(d) && j < len(p):
			ok = d[i] == p[j] && walk(i+1, j+1, 0)
		}
		seen[k] = ok
		return ok
	}
	return walk(0, 0, 0)
}

// maxStarWords is how many words of prose a value may hold ("the available
// image", "(version v1.1.0, built ...)").
const maxStarWords = 3

var (
	proseWord = regexp.MustCompile(`^\(?[a-z]{2,}[,;:.)]*$`)
	field     = regexp.MustCompile(`[^ \t]+`)
)

// wordStarts marks where d's words of prose begin: lower-case words between
// spaces, not values such as sha256:..., v1.2.0 or paths.
func wordStarts(d []rune) []bool {
	out := make([]bool, len(d))
	for _, loc := range field.FindAllStringIndex(string(d), -1) {
		if proseWord.MatchString(string(d)[loc[0]:loc[1]]) {
			out[len([]rune(string(d)[:loc[0]]))] = true
		}
	}
	return out
}

func anyMatch(doc string, pats []string) bool {
	for _, p := range pats {
		if matches(doc, p) {
			return true
		}
	}
	return false
}

var (
	scriptPrefix = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*\.sh): (.*)$`)
	labelLine    = regexp.MustCompile(`^([a-z][a-z ]*[a-z]):\s+\S`)
	checkLine    = regexp.MustCompile(`^\s*(PASS|FAIL|SKIP)\s+(\S+)(?:\s+(.*))?$`)
)

// quotedMessage checks a "<name>.sh: MESSAGE" line against scripts/<name>.sh,
// if that script exists.
func (r *Repo) quotedMessage(line string) string {
	m := scriptPrefix.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		return ""
	}
	rel := "scripts/" + m[1]
	if _, err := os.Stat(filepath.Join(r.Root, rel)); err != nil {
		return ""
	}
	s := r.script(rel)
	if d := docPattern(m[2]); s.err == "" && !anyMatch(d, s.leveled) && !anyMatch(stripLevel(d), s.loose) {
		return fmt.Sprintf("%q is not a message %s prints", m[0], rel)
	}
	return s.err
}

// quotedLabel checks a "label: value" output line of rel, if rel prints that label.
func (r *Repo) quotedLabel(rel, line string) string {
	m := labelLine.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	s := r.script(rel)
	var labelled []string
	for _, l := range s.lines {
		if lm := labelLine.FindStringSubmatch(l); lm != nil && lm[1] == m[1] {
			labelled = append(labelled, l)
		}
	}
	if s.err == "" && len(labelled) > 0 && !anyMatch(docPattern(line), labelled) {
		return fmt.Sprintf("%q is not a %q line %s prints", strings.TrimSpace(line), m[1]+":", rel)
	}
	return s.err // a label the script does not print is another tool's line
}

// quotedCheck checks a "PASS|FAIL|SKIP name detail" line against the check script.
func (r *Repo) quotedCheck(line string) string {
	m := checkLine.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	s := r.script(r.CheckScript)
	name, detail := docPattern(m[2]), docPattern(m[3])
	switch {
	case s.err != "":
		return s.err
	case !anyMatch(name, s.words):
		return fmt.Sprintf("%q: %s defines no check %q", strings.TrimSpace(line), r.CheckScript, m[2])
	}
	for _, rec := range s.records {
		if matches(m[1], rec[0]) && matches(name, rec[1]) && (detail == "" || matches(detail, rec[2])) {
			return ""
		}
	}
	return fmt.Sprintf("%q: no %s %s line of %s reads like this", strings.TrimSpace(line), m[1], m[2], r.CheckScript)
}

// commandScript is the script a console command runs: the last script named
// on the line, or the script of a make target's recipe.
func (r *Repo) commandScript(line string) string {
	script := ""
	cmds, _ := shellwords.Parse(line)
	for _, c := range cmds {
		for _, w := range c.Words {
			if rel, missing := scriptOf(r.Root, w); rel != "" && !missing {
				script = rel
			}
		}
		m, _ := shellwords.Make(c.Words)
		for _, a := range m.Goals {
			if rel := r.RecipeScripts[a]; rel != "" {
				script = rel
			}
		}
	}
	return script
}

// CheckQuotes verifies the script output d quotes (see the top of this file).
func (r *Repo) CheckQuotes(d *Doc) []Problem {
	var out []Problem
	add := func(line int, msgs ...string) {
		for _, msg := range msgs {
			if msg != "" {
				out = append(out, Problem{d.Rel, line, msg})
			}
		}
	}
	for _, s := range d.Spans {
		add(s.Line, r.quotedMessage(s.Text), r.quotedCheck(s.Text))
	}
	for _, b := range d.Blocks {
		if b.Lang != "text" && b.Lang != "" && b.Lang != "console" {
			continue
		}
		current, command, cont := "", "", false
		for i, l := range strings.Split(b.Text, "\n") {
			n := b.Line + 1 + i
			if b.Lang == "console" && (strings.HasPrefix(l, "$ ") || cont) {
				if !cont {
					command = ""
				}
				command += " " + strings.TrimSuffix(strings.TrimPrefix(l, "$ "), `\`)
				cont = strings.HasSuffix(l, `\`)
				current = r.commandScript(command)
				continue
			}
			if b.Lang == "console" && current != "" {
				add(n, r.quotedLabel(current, l))
				if current == r.CheckScript {
					add(n, r.quotedCheck(l))
				}
			}
			add(n, r.quotedMessage(l))
		}
	}
	return out
}
