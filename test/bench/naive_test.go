package bench

import (
	"os"
	"slices"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// TestNaiveContainerfileMatches keeps the naive layout honest: apart from how
// binaries are copied, it must build exactly what the Containerfile builds,
// or the upgrade comparison compares two different images.
func TestNaiveContainerfileMatches(t *testing.T) {
	ours := readInstructions(t, harness.Path(containerfiles[layoutOurs]))
	naive := readInstructions(t, harness.Path(containerfiles[layoutNaive]))

	copiesAll := func(line string) bool { return line == "COPY output/bin/ /usr/bin/" }
	copiesBinary := func(line string) bool { return strings.HasPrefix(line, "COPY output/bin/") }
	if n := len(slices.DeleteFunc(slices.Clone(naive), func(l string) bool { return !copiesAll(l) })); n != 1 {
		t.Fatalf("%s must copy every binary in exactly one `COPY output/bin/ /usr/bin/` step, found %d", containerfiles[layoutNaive], n)
	}
	perApp := slices.DeleteFunc(slices.Clone(ours), func(l string) bool { return !copiesBinary(l) })
	if len(perApp) == 0 {
		t.Fatalf("%s copies no binary from output/bin/: the upgrade comparison needs updating", containerfiles[layoutOurs])
	}
	rest := func(lines []string) []string { return slices.DeleteFunc(slices.Clone(lines), copiesBinary) }
	if a, b := rest(ours), rest(naive); !slices.Equal(a, b) {
		i := 0
		for i < len(a) && i < len(b) && a[i] == b[i] {
			i++
		}
		at := func(l []string) string {
			if i < len(l) {
				return l[i]
			}
			return "(end of file)"
		}
		t.Fatalf("%s drifted from %s apart from the binary step: apply the same change to it.\nfirst difference:\n  Containerfile:       %s\n  Containerfile.naive: %s",
			containerfiles[layoutNaive], containerfiles[layoutOurs], at(a), at(b))
	}
}

// readInstructions returns a Containerfile's non-comment lines, trimmed.
func readInstructions(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out
}
