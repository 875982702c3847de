package docs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
)

// Doc is one Markdown file as the checks see it, read with goldmark
// (CommonMark with GitHub's tables, as GitHub renders it).
type Doc struct {
	Rel     string   // path relative to the repository root, e.g. docs/003-filesystem-layout.md
	Blocks  []Block  // fenced code blocks
	Spans   []Span   // inline code spans
	Links   []Span   // link and image destinations, and reference definitions
	Anchors []string // every #fragment the rendered document offers
}

// Block is a fenced code block.
type Block struct {
	Lang string // first word of the info string, lower case ("" when untagged)
	Line int    // line number of the opening fence
	Text string // content, with the fence's indentation removed
}

// Span is a piece of inline text (a code span's content, a link's
// destination) and the line it starts on.
type Span struct {
	Line int
	Text string
}

// Problem is one finding, reported as file:line: message.
type Problem struct {
	File string
	Line int
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg) }

// Load reads and parses the Markdown file root/rel.
func Load(root, rel string) (*Doc, error) {
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	return Parse(rel, string(data)), nil
}

var (
	markdown   = goldmark.New(goldmark.WithExtensions(extension.Table))
	htmlAnchor = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
)

// Parse reads Markdown text.
func Parse(rel, src string) *Doc {
	source := []byte(strings.ReplaceAll(src, "\r\n", "\n"))
	ctx := parser.NewContext()
	root := markdown.Parser().Parse(text.NewReader(source), parser.WithContext(ctx))
	d := &Doc{Rel: rel}
	line := func(n ast.Node) int {
		for ; n != nil; n = n.Parent() {
			if p := n.Pos(); p >= 0 {
				return 1 + bytes.Count(source[:p], []byte("\n"))
			}
		}
		return 1
	}
	seen := map[string]int{}
	_ = ast.Walk(root, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.FencedCodeBlock:
			var body strings.Builder
			for _, seg := range n.Lines().Sliced(0, n.Lines().Len()) {
				body.Write(seg.Value(source))
			}
			d.Blocks = append(d.Blocks, Block{Lang: strings.ToLower(string(n.Language(source))), Line: line(n),
				Text: strings.TrimSuffix(body.String(), "\n")})
		case *ast.CodeSpan:
			d.Spans = append(d.Spans, Span{line(n), strings.ReplaceAll(plain(n, source), "\n", " ")})
		case *ast.Link:
			d.Links = append(d.Links, Span{line(n), string(n.Destination)})
		case *ast.Image:
			d.Links = append(d.Links, Span{line(n), string(n.Destination)})
		case *ast.Heading:
			s := Slug(plain(n, source))
			if k, dup := seen[s]; dup {
				seen[s] = k + 1
				s = fmt.Sprintf("%s-%d", s, k)
			} else {
				seen[s] = 1
			}
			d.Anchors = append(d.Anchors, s)
		case *ast.RawHTML:
			d.addHTMLAnchors(n.Segments.Value(source))
		case *ast.HTMLBlock:
			for _, seg := range n.Lines().Sliced(0, n.Lines().Len()) {
				d.addHTMLAnchors(seg.Value(source))
			}
		}
		return ast.WalkContinue, nil
	})
	// Definitions no link uses are still shown to no one, but a dead one is a
	// trap for the next link that does.
	for _, r := range ctx.References() {
		at := bytes.Index(bytes.ToLower(source), []byte("["+strings.ToLower(string(r.Label()))+"]:"))
		d.Links = append(d.Links, Span{1 + bytes.Count(source[:max(at, 0)], []byte("\n")), string(r.Destination())})
	}
	return d
}

func (d *Doc) addHTMLAnchors(html []byte) {
	for _, m := range htmlAnchor.FindAllSubmatch(html, -1) {
		d.Anchors = append(d.Anchors, string(m[1]))
	}
}

// plain is the text a node renders to: its text and code, without markup.
func plain(n ast.Node, source []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(source))
			if c.SoftLineBreak() {
				b.WriteByte('\n')
			}
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// Slug turns a heading's rendered text into GitHub's anchor: lower case,
// without punctuation other than '-' and '_', each space turned into '-'.
// (github/cmark-gfm's heading ids, as html-pipeline's TableOfContentsFilter
// computes them; -1, -2 … for repeats are added by Parse.)
func Slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
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
