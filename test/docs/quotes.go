package docs

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"bootc-testboot/test/shellwords"

	"mvdan.cc/sh/v3/syntax"
)

// --- Quoted script output (what is checked: see doc.go) ---------------------
//
// Matching is on patterns. In a doc, "...", "…" and <placeholder> stand for
// anything. In a script, an expansion stands for a value: a plain variable
// for a value without spaces; a command substitution, a list ("${a[*]}"), a
// function argument ($1) or printf's %s with such an argument for at most a
// few words of prose; any of them at the very end of a line for any text. So
// a quote may shorten a message and fill in values, but a reworded sentence
// does not pass as a value. Check names come from the words of the check
// script's code ("unit:$1" defines unit:<anything>).

// star marks a doc's "anything" and a script's wide value; narrow a script's
// value without whitespace. They are private-use runes no document contains.
const (
	star   rune = '\uE000'
	narrow rune = '\uE001'
	conv   rune = '\uE002' // a printf conversion, until its argument decides
)

// QuoteIndex reads what the repository's scripts print, once per script.
type QuoteIndex struct {
	Root string
	// CheckScript is the script whose PASS/FAIL/SKIP lines the docs quote
	// (scripts/verify-instance.sh).
	CheckScript string
	// RecipeScripts maps a make target to the script its recipe runs.
	RecipeScripts map[string]string

	mu      sync.Mutex
	scripts map[string]*scriptText
}

// scriptText is what one script (with the shared library) can print.
type scriptText struct {
	err      error
	messages []message   // what "<name>.sh: ..." lines can say
	literals [][]rune    // every string literal, one line each
	words    [][]rune    // code words that start with a literal character
	records  [][3][]rune // record STATUS NAME DETAIL calls
}

type message struct {
	pat    []rune
	strict bool // the level prefix/suffix is part of pat; otherwise any level
}

var levelPrefixes = []string{"error: ", "warning: "}

// messageCalls are the shared library's message functions: their arguments are
// checked with the level they print, not as bare literals.
var messageCalls = map[string]bool{"log": true, "warn": true, "die": true, "usage_error": true}

const helpSuffix = " (see --help)"

func (q *QuoteIndex) script(rel string) *scriptText {
	q.mu.Lock()
	defer q.mu.Unlock()
	if s, ok := q.scripts[rel]; ok {
		return s
	}
	if q.scripts == nil {
		q.scripts = map[string]*scriptText{}
	}
	s := &scriptText{}
	q.scripts[rel] = s
	files := []string{rel}
	if _, err := os.Stat(filepath.Join(q.Root, "scripts/lib/common.sh")); err == nil {
		files = append(files, "scripts/lib/common.sh")
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(q.Root, f))
		if err != nil {
			s.err = err
			return s
		}
		if err := s.add(string(data)); err != nil {
			s.err = fmt.Errorf("%s: %v", f, err)
			return s
		}
	}
	return s
}

func (s *scriptText) add(src string) error {
	cmds, err := shellCommands(src)
	if err != nil {
		return err
	}
	for _, cmd := range cmds {
		format := -1 // the word that is printf's format
		if len(cmd) > 1 && cmd[0].plain && string(cmd[0].pat) == "printf" {
			format = 1
			if string(cmd[1].pat) == "-v" {
				format = 3 // printf -v VAR FORMAT
			}
		}
		call := len(cmd) > 0 && cmd[0].plain && messageCalls[string(cmd[0].pat)]
		for wi, w := range cmd {
			for li, lit := range w.literals {
				switch {
				case wi == format && li == 0:
					lit = printfArgs(lit, cmd[wi+1:])
				case w.nested[li]:
					lit = fill(lit, narrow) // printf "..." of an awk program: fields
				default:
					lit = fill(lit, star)
				}
				for _, line := range splitLines(lit) {
					s.literals = append(s.literals, line)
					if m, prefixed := progMessage(line); prefixed {
						if m.pat != nil {
							s.messages = append(s.messages, m)
						}
					} else if !call && literalWords(line) >= 2 {
						// A literal printed some other way (echo, a helper's
						// output): its level is not known.
						s.messages = append(s.messages, message{pat: line})
					}
				}
			}
			if len(w.pat) > 0 && w.pat[0] != star && w.pat[0] != narrow && !strings.ContainsAny(string(w.pat), " \t\n") {
				s.words = append(s.words, w.pat)
			}
		}
		if len(cmd) == 0 || !cmd[0].plain {
			continue
		}
		var args [][]rune
		for _, w := range cmd[1:] {
			args = append(args, w.pat)
		}
		body := joinPatterns(args)
		switch string(cmd[0].pat) {
		case "log", "warn", "die", "usage_error":
			if literalWords(body) < 2 {
				continue // "$*", "$problem": the text is elsewhere, as a literal
			}
			full := body
			switch string(cmd[0].pat) {
			case "warn":
				full = append([]rune("warning: "), body...)
			case "die":
				full = append([]rune("error: "), body...)
			case "usage_error":
				full = append(append([]rune{}, body...), []rune(helpSuffix)...)
			}
			s.messages = append(s.messages, message{pat: full, strict: true})
		case "record":
			if len(args) >= 3 {
				s.records = append(s.records, [3][]rune{args[0], args[1], args[2]})
			}
		}
	}
	return nil
}

// progMessage recognises a format that prints the program name itself
// ('%s: error: another ... (lock %s)...' with "$PROG"): the rest is a message
// with its level, when it says more than the level (the formats of log, warn
// and die themselves give no message).
func progMessage(p []rune) (m message, prefixed bool) {
	if len(p) < 3 || (p[0] != star && p[0] != narrow) || string(p[1:3]) != ": " {
		return message{}, false
	}
	rest := p[3:]
	if literalWords(stripLevel(rest)) < 2 {
		return message{}, true // the log/warn/die format itself: no message of its own
	}
	return message{pat: rest, strict: true}, true
}

func stripLevel(p []rune) []rune {
	for _, l := range levelPrefixes {
		if strings.HasPrefix(string(p), l) {
			p = p[len([]rune(l)):]
			break
		}
	}
	return []rune(strings.TrimSuffix(string(p), helpSuffix))
}

var letterRun = regexp.MustCompile(`[A-Za-z]{2,}`)

// literalWords counts the words a pattern writes out (not its expansions).
func literalWords(p []rune) int {
	return len(letterRun.FindAllString(strings.Map(func(r rune) rune {
		if r == star || r == narrow {
			return ' '
		}
		return r
	}, string(p)), -1))
}

func joinPatterns(ps [][]rune) []rune {
	var out []rune
	for i, p := range ps {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, p...)
	}
	return out
}

// splitLines cuts a literal at newlines and printf's \n.
func splitLines(p []rune) [][]rune {
	var out [][]rune
	for _, l := range strings.Split(strings.ReplaceAll(string(p), `\n`, "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, []rune(l))
		}
	}
	return out
}

// --- A small shell reader -------------------------------------------------------

// shWord is one shell word as a pattern, with the string literals it contains.
type shWord struct {
	pat      []rune
	plain    bool         // no quotes, no expansions: a command name
	literals [][]rune     // quoted parts; printf conversions are conv
	nested   map[int]bool // literals found inside a single-quoted program
}

// printfArgs gives each conversion of a printf format the width of its
// argument: a plain variable holds a value without spaces, anything else
// (a command substitution, a missing argument) any text.
func printfArgs(format []rune, args []shWord) []rune {
	out := append([]rune{}, format...)
	n := 0
	for i, r := range out {
		if r != conv {
			continue
		}
		out[i] = star
		if n < len(args) && !strings.ContainsRune(string(args[n].pat), star) && strings.ContainsRune(string(args[n].pat), narrow) {
			out[i] = narrow
		}
		n++
	}
	return out
}

// fill replaces the printf conversions of a literal with r.
func fill(p []rune, r rune) []rune {
	out := append([]rune{}, p...)
	for i := range out {
		if out[i] == conv {
			out[i] = r
		}
	}
	return out
}

var printfConv = regexp.MustCompile(`%[-+ #0]*[0-9]*(?:\.[0-9]+)?[sdiuxXcbqeEfgG]`)

// shellCommands reads shell source into simple commands of word patterns with
// the shared bash parser. Words outside a simple command (assignments, test
// operands, case patterns, ${x:-"default"}) come as one-word commands, so
// their literals count too, and so does the text of a here-document. Double-quoted strings inside a single-quoted
// program (awk's printf "...") count as literals.
func shellCommands(src string) ([][]shWord, error) {
	f, err := shellwords.File(src)
	if err != nil {
		return nil, err
	}
	var cmds [][]shWord
	seen := map[*syntax.Word]bool{}
	read := func(ws ...*syntax.Word) (cmd []shWord) {
		for _, w := range ws {
			if w != nil && !seen[w] {
				seen[w] = true
				cmd = append(cmd, readWord(src, w))
			}
		}
		return cmd
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CallExpr:
			cmds = append(cmds, read(n.Args...))
		case *syntax.Redirect:
			if n.Hdoc != nil && !seen[n.Hdoc] { // a here-document is printed text
				seen[n.Hdoc] = true
				w := readWord(src, n.Hdoc)
				cmds = append(cmds, []shWord{{pat: w.pat, literals: [][]rune{literal(w.pat)}}})
			}
		case *syntax.Word:
			cmds = append(cmds, read(n))
		}
		return true
	})
	return cmds, nil
}

// readWord turns a word into a pattern: literal text as it is, a variable
// narrow, a command substitution, list ("${a[*]}") or function argument ($1,
// $*) star.
func readWord(src string, w *syntax.Word) shWord {
	sw := shWord{plain: true}
	for _, p := range w.Parts {
		switch p := p.(type) {
		case *syntax.Lit:
			sw.pat = append(sw.pat, []rune(shellwords.Unescape(p.Value, false))...)
		case *syntax.SglQuoted:
			lit := []rune(p.Value)
			if p.Dollar {
				lit = []rune{narrow}
			}
			sw.pat = append(sw.pat, lit...)
			sw.literals = append(sw.literals, literal(lit))
			for _, m := range innerDouble.FindAllStringSubmatch(p.Value, -1) {
				if sw.nested == nil {
					sw.nested = map[int]bool{}
				}
				sw.nested[len(sw.literals)] = true
				sw.literals = append(sw.literals, literal([]rune(m[1])))
			}
		case *syntax.DblQuoted:
			var lit []rune
			for _, q := range p.Parts {
				if l, ok := q.(*syntax.Lit); ok {
					lit = append(lit, []rune(shellwords.Unescape(l.Value, true))...)
				} else {
					lit = append(lit, expansion(src, q))
				}
			}
			sw.pat = append(sw.pat, lit...)
			sw.literals = append(sw.literals, literal(lit))
		default:
			sw.pat = append(sw.pat, expansion(src, p))
		}
		if _, ok := p.(*syntax.Lit); !ok {
			sw.plain = false
		}
	}
	return sw
}

var innerDouble = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)

// literal turns quoted text into a pattern: printf conversions become conv,
// %% a percent sign.
func literal(p []rune) []rune {
	s := printfConv.ReplaceAllString(string(p), string(conv))
	return []rune(strings.ReplaceAll(s, "%%", "%"))
}

// expansion is the pattern rune of an expansion: narrow for a variable, star
// for a command substitution, a list joined with spaces or a function's
// arguments (often phrases).
func expansion(src string, p syntax.WordPart) rune {
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
func docPattern(s string) []rune {
	return []rune(docPlaceholder.ReplaceAllString(strings.TrimRight(s, " \t"), string(star)))
}

// matches reports whether some text fits both the doc pattern d and the
// script pattern p: a doc star covers any part of p; a script star covers
// text of d: a narrow one text without whitespace, a wide one at most
// maxStarWords words of prose. A star that ends p covers any text (an error
// message at the end of a line). Without the limits, a script star could
// swallow a reworded sentence while a doc "..." swallowed the script's words.
func matches(d, p []rune) bool {
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
		case i < len(d) && d[i] == star:
			ok = walk(i+1, j, 0) || (j < len(p) && walk(i, j+1, 0))
		case j < len(p) && (p[j] == star || p[j] == narrow):
			ok = walk(i, j+1, 0)
			if !ok && i < len(d) {
				last := j == len(p)-1
				m := n
				if starts[i] {
					m++
				}
				switch {
				case last:
					ok = walk(i+1, j, 0)
				case p[j] == narrow && isSpace(d[i]):
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

var proseWord = regexp.MustCompile(`^\(?[a-z]{2,}[,;:.)]*$`)

// wordStarts marks where d's words of prose begin: lower-case words between
// spaces, not values such as sha256:..., v1.2.0 or paths.
func wordStarts(d []rune) []bool {
	out := make([]bool, len(d))
	for i := 0; i < len(d); {
		if isSpace(d[i]) {
			i++
			continue
		}
		j := i
		for j < len(d) && !isSpace(d[j]) {
			j++
		}
		out[i] = proseWord.MatchString(string(d[i:j]))
		i = j
	}
	return out
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' }

// quotedMessage checks "<name>.sh: MESSAGE"; rel is the script.
func (q *QuoteIndex) quotedMessage(rel, msg string) string {
	s := q.script(rel)
	if s.err != nil {
		return s.err.Error()
	}
	d := docPattern(msg)
	loose := stripLevel(d)
	for _, m := range s.messages {
		if m.strict && matches(d, m.pat) || !m.strict && matches(loose, m.pat) {
			return ""
		}
	}
	return fmt.Sprintf("%q is not a message %s prints", path.Base(rel)+": "+msg, rel)
}

var labelLine = regexp.MustCompile(`^([a-z][a-z ]*[a-z]):\s+\S`)

// quotedLabel checks a "label: value" output line of rel, if rel prints that label.
func (q *QuoteIndex) quotedLabel(rel, line string) string {
	m := labelLine.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	s := q.script(rel)
	if s.err != nil {
		return s.err.Error()
	}
	d := docPattern(line)
	labelled := false
	for _, l := range s.literals {
		if lm := labelLine.FindStringSubmatch(string(l)); lm == nil || lm[1] != m[1] {
			continue
		}
		labelled = true
		if matches(d, l) {
			return ""
		}
	}
	if !labelled {
		return "" // not a label of this script: another tool's output
	}
	return fmt.Sprintf("%q is not a %q line %s prints", strings.TrimSpace(line), m[1]+":", rel)
}

var checkLine = regexp.MustCompile(`^\s*(PASS|FAIL|SKIP)\s+(\S+)(?:\s+(.*))?$`)

// quotedCheck checks a "PASS|FAIL|SKIP name detail" line against the check script.
func (q *QuoteIndex) quotedCheck(line string) string {
	m := checkLine.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	s := q.script(q.CheckScript)
	if s.err != nil {
		return s.err.Error()
	}
	status, name, detail := []rune(m[1]), docPattern(m[2]), docPattern(m[3])
	defined := false
	for _, w := range s.words {
		if matches(name, w) {
			defined = true
			break
		}
	}
	if !defined {
		return fmt.Sprintf("%q: %s defines no check %q", strings.TrimSpace(line), q.CheckScript, m[2])
	}
	for _, r := range s.records {
		if matches(status, r[0]) && matches(name, r[1]) && (len(detail) == 0 || matches(detail, r[2])) {
			return ""
		}
	}
	return fmt.Sprintf("%q: no %s %s line of %s reads like this", strings.TrimSpace(line), m[1], m[2], q.CheckScript)
}

var scriptPrefix = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*\.sh): (.*)$`)

// quotedLine applies the message and check rules to one line of quoted output.
func (q *QuoteIndex) quotedLine(line string) string {
	if m := scriptPrefix.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
		rel := "scripts/" + m[1]
		if _, err := os.Stat(filepath.Join(q.Root, rel)); err != nil {
			return ""
		}
		return q.quotedMessage(rel, m[2])
	}
	return ""
}

// commandScript is the script a console command runs: the last script named
// on the line, or the script of a make target's recipe.
func (q *QuoteIndex) commandScript(line string) string {
	script := ""
	cmds, _ := shellwords.Parse(line)
	for _, c := range cmds {
		for _, w := range c.Words {
			if rel, missing := scriptOf(q.Root, w); rel != "" && !missing {
				script = rel
			}
		}
		m, _ := shellwords.Make(c.Words)
		for _, a := range m.Goals {
			if rel := q.RecipeScripts[a]; rel != "" {
				script = rel
			}
		}
	}
	return script
}

// CheckQuotes verifies the script output d quotes (see the top of this section).
func CheckQuotes(q *QuoteIndex, d *Doc) []Problem {
	var out []Problem
	add := func(line int, msg string) {
		if msg != "" {
			out = append(out, Problem{d.Rel, line, msg})
		}
	}
	for _, s := range d.Spans {
		add(s.Line, q.quotedLine(s.Text))
		add(s.Line, q.quotedCheck(s.Text))
	}
	for _, b := range d.Blocks {
		switch b.Lang {
		case "text", "", "console":
		default:
			continue
		}
		current, command, cont := "", "", false
		for i, l := range strings.Split(b.Text, "\n") {
			n := b.Line + 1 + i
			if b.Lang == "console" {
				if strings.HasPrefix(l, "$ ") || cont {
					if !cont {
						command = ""
					}
					command += " " + strings.TrimSuffix(strings.TrimPrefix(l, "$ "), `\`)
					cont = strings.HasSuffix(l, `\`)
					current = q.commandScript(command)
					continue
				}
				if current != "" {
					add(n, q.quotedLabel(current, l))
					if current == q.CheckScript {
						add(n, q.quotedCheck(l))
					}
				}
			}
			add(n, q.quotedLine(l))
		}
	}
	return out
}
