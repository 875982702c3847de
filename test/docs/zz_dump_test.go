package docs

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

func TestZZDump(t *testing.T) {
	out := os.Getenv("DUMP")
	if out == "" {
		t.Skip()
	}
	var b strings.Builder
	for _, d := range loadAll(t) {
		for _, c := range Commands(d) {
			fmt.Fprintf(&b, "C %s:%d %q\n", d.Rel, c.Line, c.Words)
		}
		for _, s := range d.Spans {
			fmt.Fprintf(&b, "S %s:%d %q\n", d.Rel, s.Line, s.Text)
		}
		for _, bl := range d.Blocks {
			fmt.Fprintf(&b, "B %s:%d %s %d\n", d.Rel, bl.Line, bl.Lang, len(bl.Text))
		}
		for a := range Anchors(harness.ReadFile(t, harness.Path(d.Rel))) {
			fmt.Fprintf(&b, "A %s %s\n", d.Rel, a)
		}
		for _, l := range d.Prose {
			for _, m := range inlineLink.FindAllStringSubmatch(l.Text, -1) {
				fmt.Fprintf(&b, "L %s:%d %s\n", d.Rel, l.N, linkTarget(m[2]))
			}
			if m := refDefinition.FindStringSubmatch(l.Text); m != nil {
				fmt.Fprintf(&b, "L %s:%d %s\n", d.Rel, l.N, m[1])
			}
		}
	}
	os.WriteFile(out, []byte(b.String()), 0o644)
}

func TestZZDumpScripts(t *testing.T) {
	out := os.Getenv("DUMP")
	if out == "" {
		t.Skip()
	}
	var b strings.Builder
	q := &QuoteIndex{Root: harness.Root()}
	files, _ := os.ReadDir(harness.Path("scripts"))
	show := func(p []rune) string {
		return strings.NewReplacer(string(star), "*", string(narrow), "~").Replace(string(p))
	}
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".sh") {
			continue
		}
		s := q.script("scripts/" + f.Name())
		for _, m := range s.messages {
			fmt.Fprintf(&b, "M %s %v %s\n", f.Name(), m.strict, show(m.pat))
		}
		for _, m := range s.literals {
			fmt.Fprintf(&b, "L %s %s\n", f.Name(), show(m))
		}
		for _, m := range s.records {
			fmt.Fprintf(&b, "R %s %s|%s|%s\n", f.Name(), show(m[0]), show(m[1]), show(m[2]))
		}
		for _, m := range s.words {
			fmt.Fprintf(&b, "W %s %s\n", f.Name(), show(m))
		}
	}
	os.WriteFile(out, []byte(b.String()), 0o644)
}
