package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

// Doc is one Markdown file split into the parts the checks look at.
type Doc struct {
	Rel    string  // path relative to the repository root, e.g. docs/003-filesystem-layout.md
	Blocks []Block // fenced code blocks
	Spans  []Span  // inline code spans outside fenced blocks
	Prose  []Line  // lines outside fenced blocks, code spans blanked out
}

// Block is a fenced code block.
type Block struct {
	Lang string // first word of the info string, lower case ("" when untagged)
	Line int    // line number of the opening fence
	Text string // content, with the fence's indentation removed
}

// Span is the content of an inline code span.
type Span struct {
	Line int
	Text string
}

// Line is one line of prose.
type Line struct {
	N    int
	Text string
}

// Problem is one finding, reported as file:line: message.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg) }

var fenceOpen = regexp.MustCompile("^(\\s*)(`{3,}|~{3,})\\s*([^`\\s]*)")

// Load reads and splits the Markdown file root/rel.
func Load(root, rel string) (*Doc, error) {
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	return Parse(rel, string(data)), nil
}

// Parse splits Markdown text. It knows fenced blocks (``` and ~~~, also
// indented inside list items) and inline code spans; that is all the checks need.
func Parse(rel, text string) *Doc {
	d := &Doc{Rel: rel}
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var para []string // prose lines of the current paragraph
	paraStart := 0
	flush := func() {
		if len(para) > 0 {
			d.addProse(paraStart, para)
			para = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		m := fenceOpen.FindStringSubmatch(lines[i])
		if m == nil {
			if standalone(lines[i]) || (len(para) > 0 && listItem.MatchString(lines[i])) {
				flush()
			}
			if len(para) == 0 {
				paraStart = i + 1
			}
			para = append(para, lines[i])
			if standalone(lines[i]) {
				flush()
			}
			continue
		}
		flush()
		indent, fence, lang := m[1], m[2], strings.ToLower(m[3])
		start := i + 1
		var body []string
		i++
		for ; i < len(lines); i++ {
			t := strings.TrimSpace(lines[i])
			if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				break
			}
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		d.Blocks = append(d.Blocks, Block{Lang: lang, Line: start, Text: strings.Join(body, "\n")})
	}
	flush()
	return d
}

// listItem starts a new paragraph even without a blank line before it.
var listItem = regexp.MustCompile(`^\s*([-*+]|[0-9]+[.)])\s`)

// standalone lines are paragraphs of their own: blank lines, headings and
// table rows (a code span never crosses a table cell or a heading).
func standalone(line string) bool {
	t := strings.TrimSpace(line)
	return t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "|")
}

// addProse records a paragraph whose first line is n, moving its code spans
// (which may cross line breaks, as in CommonMark) to d.Spans.
func (d *Doc) addProse(n int, lines []string) {
	text := strings.Join(lines, "\n")
	var out strings.Builder
	for i := 0; i < len(text); {
		if text[i] != '`' {
			out.WriteByte(text[i])
			i++
			continue
		}
		run := 0
		for i+run < len(text) && text[i+run] == '`' {
			run++
		}
		ticks := text[i : i+run]
		closeAt := -1
		for j := i + run; j < len(text); {
			k := strings.Index(text[j:], ticks)
			if k < 0 {
				break
			}
			k += j
			end := k + run
			if end < len(text) && text[end] == '`' { // a longer run does not close
				for end < len(text) && text[end] == '`' {
					end++
				}
				j = end
				continue
			}
			closeAt = k
			break
		}
		if closeAt < 0 { // unmatched backticks are literal text
			out.WriteString(ticks)
			i += run
			continue
		}
		content := strings.ReplaceAll(text[i+run:closeAt], "\n", " ")
		if len(content) >= 2 && content[0] == ' ' && content[len(content)-1] == ' ' && strings.TrimSpace(content) != "" {
			content = content[1 : len(content)-1]
		}
		d.Spans = append(d.Spans, Span{Line: n + strings.Count(text[:i], "\n"), Text: content})
		for _, c := range []byte(text[i : closeAt+run]) { // blank the span, keep its line breaks
			if c == '\n' {
				out.WriteByte('\n')
			} else {
				out.WriteByte(' ')
			}
		}
		i = closeAt + run
	}
	for k, l := range strings.Split(out.String(), "\n") {
		d.Prose = append(d.Prose, Line{N: n + k, Text: l})
	}
}

var (
	atxHeading  = regexp.MustCompile(`^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	htmlAnchor  = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	inlineLink  = regexp.MustCompile(`!?\[([^\]]*)\]\(([^)]*)\)`)
	htmlTag     = regexp.MustCompile(`<[^>]+>`)
	emphasisRun = regexp.MustCompile(`(\*+|\b_+|_+\b)`)
)

// Anchors returns every #fragment the rendered document offers: heading slugs
// by GitHub's rules (with -1, -2 … for repeats) and explicit HTML anchors.
// Heading text is taken from the raw line so code spans inside headings count.
func Anchors(text string) map[string]bool {
	d := Parse("", text)
	raw := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	seen := map[string]int{}
	out := map[string]bool{}
	for _, p := range d.Prose {
		line := raw[p.N-1]
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			out[m[1]] = true
		}
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := Slug(m[2])
		if n, dup := seen[s]; dup {
			out[fmt.Sprintf("%s-%d", s, n)] = true
			seen[s] = n + 1
		} else {
			out[s] = true
			seen[s] = 1
		}
	}
	return out
}

// Slug turns heading text into GitHub's anchor: the rendered text, lower case,
// without punctuation other than '-' and '_', each space turned into '-'.
func Slug(heading string) string {
	s := inlineLink.ReplaceAllString(heading, "$1")
	s = htmlTag.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "`", "")
	s = emphasisRun.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "_") {
			return m // snake_case survives; only *emphasis* markers vanish
		}
		return ""
	})
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || unicode.IsLetter(r) || unicode.IsNumber(r) ||
			unicode.Is(unicode.M, r) || unicode.Is(unicode.Pc, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
