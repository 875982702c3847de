package docs

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"bootc-testboot/test/harness"
	"bootc-testboot/test/shellwords"
)

// --- Links and anchors -------------------------------------------------------

// CheckLinks verifies every relative link of d: the file or directory exists
// and, for a #fragment into a Markdown file, the anchor exists there.
func (r *Repo) CheckLinks(d *Doc) []Problem {
	var out []Problem
	for _, l := range d.Links {
		if msg := checkLink(r.Root, d.Rel, l.Text); msg != "" {
			out = append(out, Problem{d.Rel, l.Line, msg})
		}
	}
	return out
}

var uriScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

func checkLink(root, from, target string) string {
	if target == "" {
		return "empty link target"
	}
	if uriScheme.MatchString(target) || strings.HasPrefix(target, "//") {
		return "" // external links are not checked here
	}
	file, frag, _ := strings.Cut(target, "#")
	file, _, _ = strings.Cut(file, "?")
	if p, err := url.PathUnescape(file); err == nil {
		file = p
	}
	rel := from
	if file != "" {
		if strings.HasPrefix(file, "/") {
			rel = path.Clean(strings.TrimPrefix(file, "/"))
		} else {
			rel = path.Join(path.Dir(from), file)
		}
		if rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Sprintf("link %q leaves the repository", target)
		}
		if _, err := os.Stat(filepath.Join(root, rel)); err != nil {
			return fmt.Sprintf("link %q: %s does not exist", target, rel)
		}
	}
	if frag == "" || !strings.HasSuffix(strings.ToLower(rel), ".md") {
		return ""
	}
	doc, err := Load(root, rel)
	if err != nil {
		return fmt.Sprintf("link %q: %v", target, err)
	}
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	if !slices.Contains(doc.Anchors, strings.ToLower(frag)) {
		return fmt.Sprintf("link %q: no heading or anchor #%s in %s", target, frag, rel)
	}
	return ""
}

// --- Repository paths --------------------------------------------------------

var (
	repoPath     = regexp.MustCompile(`^(?:\./)?((?:apps|scripts|configs|test|docs|\.github)/[A-Za-z0-9_./-]*|Containerfile|Makefile|config\.toml)$`)
	placeholder  = regexp.MustCompile(`[<>*{}$]|\.\.\.|…`)
	trailingJunk = ".,;:)!?'\""
)

// CheckPaths verifies that every repository path written in backticks
// (apps/…, scripts/…, configs/…, test/…, docs/…, .github/…, Containerfile,
// Makefile, config.toml) exists; paths with placeholders (apps/<name>/main.go)
// are examples. A code span may hold a command; each word is looked at.
func (r *Repo) CheckPaths(d *Doc) []Problem {
	var out []Problem
	for _, s := range d.Spans {
		for _, w := range strings.Fields(s.Text) {
			w = strings.TrimRight(strings.Trim(w, `"'(`), trailingJunk)
			m := repoPath.FindStringSubmatch(w)
			if m == nil || placeholder.MatchString(w) {
				continue
			}
			if _, err := os.Stat(filepath.Join(r.Root, m[1])); err != nil {
				out = append(out, Problem{d.Rel, s.Line, fmt.Sprintf("path `%s` does not exist in the repository", m[1])})
			}
		}
	}
	return out
}

// --- Commands: make targets and script flags --------------------------------

// Commands returns the simple commands written in d's code, with their lines
// in d: every inline code span and every shell/console block, read by the
// shared shell parser. Code that does not parse as shell (prose in backticks,
// a bad block, which CheckShellBlocks reports) gives no commands.
func Commands(d *Doc) []shellwords.Command {
	var out []shellwords.Command
	add := func(line int, src string) {
		cmds, _ := shellwords.Parse(src)
		for _, c := range cmds {
			if c.Line += line - 1; len(c.Words) > 0 {
				out = append(out, c)
			}
		}
	}
	for _, s := range d.Spans {
		// <placeholder> in prose code is a word, not a redirection.
		add(s.Line, spanPlaceholder.ReplaceAllString(s.Text, "…$1…"))
	}
	for _, b := range d.Blocks {
		if isShell(b.Lang) {
			add(b.Line+1, shellText(b))
		}
	}
	return out
}

var spanPlaceholder = regexp.MustCompile(`<([A-Za-z][A-Za-z0-9_./:-]*)>`)

func isShell(lang string) bool {
	switch lang {
	case "bash", "sh", "shell", "console":
		return true
	}
	return false
}

// shellText is the code of a shell block. In a console block, commands follow
// a "$ " prompt (continuation lines ending in '\' included); the other lines
// are output and become empty lines so line numbers stay right.
func shellText(b Block) string {
	if b.Lang != "console" {
		return b.Text
	}
	lines := strings.Split(b.Text, "\n")
	cont := false
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "$ "):
			lines[i] = strings.TrimPrefix(l, "$ ")
		case l == "$":
			lines[i] = ""
		case cont:
		default:
			lines[i] = ""
		}
		cont = strings.HasSuffix(lines[i], `\`)
	}
	return strings.Join(lines, "\n")
}

// CheckMakeTargets verifies that every `make TARGET` written in d's code
// names a target of the Makefile.
func (r *Repo) CheckMakeTargets(d *Doc) []Problem {
	var out []Problem
	for _, c := range Commands(d) {
		m, _ := shellwords.Make(c.Words)
		for _, a := range m.Goals {
			if !placeholder.MatchString(a) && !r.Targets[a] {
				out = append(out, Problem{d.Rel, c.Line, fmt.Sprintf("`make %s`: no such target in the Makefile", a)})
			}
		}
	}
	return out
}

// Repo is the repository the docs describe, with what the checks read from
// it: the Makefile, the scripts its recipes run, and each script's --help and
// printed text, read once.
type Repo struct {
	Root        string
	CheckScript string // the script whose PASS/FAIL/SKIP lines the docs quote
	Targets     map[string]bool
	Recipes     map[string][]int // make target -> its recipe's Makefile lines
	// RecipeScripts maps a make target to the script its recipe runs;
	// VarScripts a Makefile variable to the script whose arguments it carries
	// (VERIFY_ARGS -> scripts/verify-instance.sh).
	RecipeScripts, VarScripts map[string]string
	help                      map[string]string
	helpErr                   map[string]error
	printed                   map[string]*printed
}

// NewRepo reads the repository at root; checkScript is the script whose
// PASS/FAIL/SKIP lines the docs quote.
func NewRepo(root, checkScript string) (*Repo, error) {
	mk := filepath.Join(root, "Makefile")
	targets, err1 := harness.MakeTargets(mk)
	recipes, err2 := harness.MakeRecipes(mk)
	scripts, vars, err3 := MakefileScripts(root, mk)
	return &Repo{Root: root, CheckScript: checkScript, Targets: targets, Recipes: recipes, RecipeScripts: scripts, VarScripts: vars,
		help: map[string]string{}, helpErr: map[string]error{}, printed: map[string]*printed{}}, errors.Join(err1, err2, err3)
}

// Checks returns every check by name.
func (r *Repo) Checks() map[string]func(*Doc) []Problem {
	return map[string]func(*Doc) []Problem{
		"links": r.CheckLinks, "paths": r.CheckPaths, "make": r.CheckMakeTargets, "makeerr": r.CheckMakeErrorLines,
		"flags": r.CheckScriptFlags, "shell": CheckShellBlocks, "mermaid": CheckMermaid, "quotes": r.CheckQuotes,
	}
}

var (
	recipeVar    = regexp.MustCompile(`([A-Za-z0-9_./-]+\.sh)\s[^\n]*?\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	recipeScript = regexp.MustCompile(`([A-Za-z0-9_./-]+\.sh)(\s|"|$)`)
	// A list variable a recipe splits into the script's arguments:
	// read -r -d '' -a args <<<"$$VERIFY_ARGS".
	recipeListVar = regexp.MustCompile(`-a\s+[A-Za-z_]+\s*<<<\s*"\$\$([A-Za-z_][A-Za-z0-9_]*)"`)
)

// MakefileScripts reads which scripts under scripts/ the Makefile's recipes
// run: by target, the last script its recipe names (`$(ON_HOST) upgrade-os.sh
// status` -> scripts/upgrade-os.sh); by variable, the script a recipe hands
// the variable's words to ("verify-instance.sh $(VERIFY_ARGS)" on one line,
// or "$$VERIFY_ARGS" split into an array for the script the recipe runs).
func MakefileScripts(root, makefile string) (byTarget, byVar map[string]string, err error) {
	recipes, err1 := harness.MakeRecipes(makefile)
	data, err2 := os.ReadFile(makefile)
	if err := errors.Join(err1, err2); err != nil {
		return nil, nil, err
	}
	lines := strings.Split(string(data), "\n")
	byTarget, byVar = map[string]string{}, map[string]string{}
	for target, ns := range recipes {
		var block []string
		for _, n := range ns {
			block = append(block, lines[n-1])
		}
		text := strings.Join(block, "\n")
		for _, w := range strings.Fields(text) {
			if rel, missing := scriptOf(root, strings.Trim(w, `'"`)); rel != "" && !missing {
				byTarget[target] = rel
			}
		}
		for _, m := range recipeVar.FindAllStringSubmatch(text, -1) {
			byVar[m[2]] = "scripts/" + path.Base(m[1])
		}
		if script := recipeScript.FindStringSubmatch(text); script != nil {
			for _, m := range recipeListVar.FindAllStringSubmatch(text, -1) {
				byVar[m[1]] = "scripts/" + path.Base(script[1])
			}
		}
	}
	return byTarget, byVar, nil
}

// Help returns the output of `SCRIPT --help` (stdout and stderr); a non-zero
// exit or a hang is an error.
func (r *Repo) Help(rel string) (string, error) {
	if text, ok := r.help[rel]; ok {
		return text, r.helpErr[rel]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(r.Root, rel), "--help")
	cmd.Dir = r.Root
	cmd.Env = append(os.Environ(), "TESTBOOT_NO_JOURNAL=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		r.helpErr[rel] = fmt.Errorf("`%s --help` failed: %v: %s", rel, err, first)
	}
	r.help[rel] = string(out)
	return string(out), r.helpErr[rel]
}

var flagWord = regexp.MustCompile(`^(--?[A-Za-z][A-Za-z0-9-]*)(=.*)?$`)

// scriptOf maps a word to the repository script it runs ("" when it is not
// one): a repository path ending in .sh, or the bare name / absolute path of
// a script that lives in scripts/ (as on-host.sh takes it, or as installed).
func scriptOf(root, w string) (rel string, missing bool) {
	if !strings.HasSuffix(w, ".sh") || placeholder.MatchString(w) {
		return "", false
	}
	clean := strings.TrimPrefix(w, "./")
	if !strings.HasPrefix(clean, "/") && strings.Contains(clean, "/") {
		// A relative path names a repository file; anything else (a journal
		// tag such as bootc-testboot/upgrade-os.sh) is not a command.
		_, err := os.Stat(filepath.Join(root, clean))
		if err == nil || strings.HasPrefix(clean, "scripts/") {
			return clean, err != nil
		}
		return "", false
	}
	if _, err := os.Stat(filepath.Join(root, "scripts", path.Base(clean))); err == nil {
		return "scripts/" + path.Base(clean), false
	}
	return "", false
}

// CheckScriptFlags verifies that every flag written after a repository script
// appears in that script's --help. Words after a second script on the same
// command (on-host.sh --host H upgrade-os.sh apply --yes) belong to that one;
// the words of a make variable that carries a script's arguments
// (VERIFY_ARGS="--expect-digest ...") belong to that script.
func (r *Repo) CheckScriptFlags(d *Doc) []Problem {
	var out []Problem
	seen := map[string]bool{}
	add := func(line int, msg string) {
		if key := fmt.Sprint(line, msg); !seen[key] {
			seen[key] = true
			out = append(out, Problem{d.Rel, line, msg})
		}
	}
	for _, c := range Commands(d) {
		_, isMake := shellwords.Make(c.Words)
		var words []string
		for _, w := range c.Words {
			if name, value, ok := strings.Cut(w, "="); ok && isMake && r.VarScripts[name] != "" {
				words = append(append(words, r.VarScripts[name]), strings.Fields(value)...)
				continue
			}
			words = append(words, w)
		}
		current, help := "", ""
		for _, w := range words {
			if rel, missing := scriptOf(r.Root, w); rel != "" {
				var err error
				if current, help, err = rel, "", nil; missing {
					err = fmt.Errorf("script `%s` does not exist", rel)
				} else {
					help, err = r.Help(rel)
				}
				if err != nil {
					add(c.Line, err.Error())
					current = ""
				}
				continue
			}
			m := flagWord.FindStringSubmatch(w)
			// --help itself: Help already proved that it works.
			if current == "" || m == nil || m[1] == "--help" || m[1] == "-h" {
				continue
			}
			if !regexp.MustCompile(`(^|[^A-Za-z0-9-])` + regexp.QuoteMeta(m[1]) + `($|[^A-Za-z0-9-])`).MatchString(help) {
				add(c.Line, fmt.Sprintf("`%s %s`: flag not in the script's --help", current, m[1]))
			}
		}
	}
	return out
}

// --- Shell blocks ------------------------------------------------------------

// CheckShellBlocks runs `bash -n` on every bash/sh/shell/console block.
func CheckShellBlocks(d *Doc) []Problem {
	var out []Problem
	for _, b := range d.Blocks {
		if !isShell(b.Lang) {
			continue
		}
		text := shellText(b)
		if b.Lang == "console" && !strings.Contains(b.Text, "$ ") {
			out = append(out, Problem{d.Rel, b.Line, "console block without a \"$ \" prompt: tag output as text instead"})
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, "bash", "-n")
		cmd.Stdin = strings.NewReader(text + "\n")
		msg, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			out = append(out, Problem{d.Rel, b.Line, fmt.Sprintf("%s block does not parse with bash -n: %s", b.Lang, strings.TrimSpace(string(msg)))})
		} else if _, err := shellwords.Parse(text); err != nil {
			out = append(out, Problem{d.Rel, b.Line, fmt.Sprintf("%s block does not parse with shellwords, so its commands go unchecked: %v", b.Lang, err)})
		}
	}
	return out
}

// --- Mermaid -----------------------------------------------------------------

// mermaidType is a diagram keyword mermaid accepts on a block's first line.
var mermaidType = regexp.MustCompile(`^(flowchart|graph|sequenceDiagram|stateDiagram(-v2)?|classDiagram|erDiagram|gantt|pie|journey|gitGraph|` +
	`mindmap|timeline|quadrantChart|requirementDiagram|C4(Context|Container|Component|Dynamic|Deployment)|` +
	`(block|sankey|xychart|packet|architecture)-beta|kanban)$`)

// CheckMermaid verifies that each mermaid block declares a known diagram type
// on its first line and that (), [] and {} balance outside "quoted" labels.
func CheckMermaid(d *Doc) []Problem {
	var out []Problem
	for _, b := range d.Blocks {
		if b.Lang != "mermaid" {
			continue
		}
		first := ""
		for _, l := range strings.Split(b.Text, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "%%") {
				first = t
				break
			}
		}
		if kind, _, _ := strings.Cut(first, " "); !mermaidType.MatchString(kind) {
			out = append(out, Problem{d.Rel, b.Line, fmt.Sprintf("mermaid block starts with %q, not a known diagram type", first)})
		}
		if msg := balance(b.Text); msg != "" {
			out = append(out, Problem{d.Rel, b.Line, "mermaid block: " + msg})
		}
	}
	return out
}

// balance reports the first unmatched bracket, skipping "quoted" text and %% comments.
func balance(text string) string {
	var stack []string // each open bracket and its line
	for n, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "%%") {
			continue
		}
		if strings.Count(line, `"`)%2 == 1 {
			return fmt.Sprintf("unterminated quote on line %d of the block", n+1)
		}
		for _, r := range mermaidLabel.ReplaceAllString(line, "") {
			if strings.ContainsRune("([{", r) {
				stack = append(stack, fmt.Sprintf("%c%d", r, n+1))
			} else if i := strings.IndexRune(")]}", r); i >= 0 {
				if len(stack) == 0 || stack[len(stack)-1][0] != "([{"[i] {
					return fmt.Sprintf("unmatched %q on line %d of the block", r, n+1)
				}
				stack = stack[:len(stack)-1]
			}
		}
	}
	if len(stack) > 0 {
		o := stack[len(stack)-1]
		return fmt.Sprintf("unclosed %q from line %s of the block", o[0], o[1:])
	}
	return ""
}

var mermaidLabel = regexp.MustCompile(`"[^"]*"`)

// --- make's error lines in shown output ----------------------------------------

var makeErrorLine = regexp.MustCompile(`make: \*\*\* \[Makefile:(\d+): ([A-Za-z0-9_.-]+)\]`)

// CheckMakeErrorLines verifies that output shown in the docs, such as
// "make: *** [Makefile:124: os-check] Error 10", points at a recipe line of
// that target, so examples stay true when the Makefile changes.
func (r *Repo) CheckMakeErrorLines(d *Doc) []Problem {
	var out []Problem
	for _, b := range d.Blocks {
		for i, l := range strings.Split(b.Text, "\n") {
			for _, m := range makeErrorLine.FindAllStringSubmatch(l, -1) {
				if n, _ := strconv.Atoi(m[1]); !slices.Contains(r.Recipes[m[2]], n) {
					out = append(out, Problem{d.Rel, b.Line + 1 + i, fmt.Sprintf("%q: line %s of the Makefile is not a recipe line of %s (recipe lines: %v)", m[0], m[1], m[2], r.Recipes[m[2]])})
				}
			}
		}
	}
	return out
}
