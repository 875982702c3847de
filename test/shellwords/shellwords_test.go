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

func TestMake(t *testing.T) {
	cases := map[string][]string{
		"make":                            nil,
		"make test":                       {"test"},
		"sudo -E make -s build VERSION=1": {"build"},
		"sudo --preserve-env=PATH env A=1 make -j 4 test lint": {"test", "lint"},
		"CI=true make boot-test BOOT_BASE_IMAGE=\"a b\"":       {"boot-test"},
		"out=$(make -s ami | tail -n1)":                        {"ami"},
		"make push && make verify; echo make nope":             {"push", "verify"},
		"make \\\n  build \\\n  X=1":                           {"build"},
		"# make commented\necho 'make quoted'":                 {},
		"make test >out.log 2>&1":                              {"test"},
		"time make bench":                                      {"bench"},
	}
	for script, want := range cases {
		cmds, err := Parse(script)
		if err != nil {
			t.Fatalf("Parse(%q): %v", script, err)
		}
		var got []string
		for _, c := range cmds {
			if m, ok := Make(c.Words); ok {
				got = append(got, m.Goals...)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("goals of %q = %q, want %q", script, got, want)
		}
	}
	if m, _ := Make([]string{"make", "-C", "apps/hello", "test"}); !m.OtherMakefile {
		t.Errorf("make -C must be marked as another Makefile: %+v", m)
	}
}
