package shellwords

import (
	"fmt"
	"testing"
)

func TestParse(t *testing.T) {
	cases := map[string]string{
		`sudo make build IMAGE="a b" && scripts/x.sh --yes | tee log # make nope`: `1 [sudo make build IMAGE=a b]|1 [scripts/x.sh --yes]|1 [tee log]|`,
		"out=$(make -s ami | tail -n1)":                                           `1 []|1 [make -s ami]|1 [tail -n1]|`,
		"make \\\n  build \\\n  X=1\necho 'make quoted' \"a\\\"b\" c\\ d $X":      `1 [make build X=1]|4 [echo make quoted a"b c d $X]|`,
		"if true; then\n  f() { make test >out.log 2>&1; }\nfi":                   `1 [true]|2 [make test]|`,
		`CI=true make boot-test BOOT_BASE_IMAGE="a $(b c)"`:                       `1 [make boot-test BOOT_BASE_IMAGE=a $(b c)]|1 [b c]|`,
	}
	for src, want := range cases {
		cmds, err := Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		got := ""
		for _, c := range cmds {
			got += fmt.Sprintf("%d %v|", c.Line, c.Words)
		}
		if got != want {
			t.Errorf("Parse(%q)\n got %s\nwant %s", src, got, want)
		}
	}
	if _, err := Parse("if true; then echo"); err == nil {
		t.Error("an unfinished if parsed")
	}
}
