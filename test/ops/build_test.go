package ops

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// buildHost: doubles for a root build machine and an OUTPUT holding every app's binary,
// as `make apps` leaves it; returns the environment build-image.sh gets from the Makefile.
func buildHost(t *testing.T) (*harness.Doubles, []string) {
	t.Helper()
	d := harness.NewDoubles(t)
	d.SetUID(t, 0)
	out := t.TempDir()
	mains, err := filepath.Glob(harness.Path("apps", "*", "main.go"))
	if err != nil || len(mains) == 0 {
		t.Fatalf("no apps/*/main.go (%v)", err)
	}
	for _, m := range mains {
		bin := filepath.Join(out, "bin", filepath.Base(filepath.Dir(m)))
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d, []string{"OUTPUT=" + out, "REVISION=abc", "SOURCE_DATE_EPOCH=1700000000",
		"SOURCE_URL=https://example.com/x"}
}

// buildTags: the --tag values of the one podman build the run made.
func buildTags(t *testing.T, r harness.Result) []string {
	t.Helper()
	var tags []string
	builds := 0
	for _, c := range r.Calls {
		if c.Tool != "podman" || len(c.Args) == 0 || c.Args[0] != "build" {
			continue
		}
		builds++
		for i, a := range c.Args {
			if a == "--tag" && i+1 < len(c.Args) {
				tags = append(tags, c.Args[i+1])
			}
		}
	}
	if builds != 1 {
		t.Fatalf("%d podman builds, want 1\n%s", builds, harness.FormatCalls(r.Calls))
	}
	return tags
}

// build-image.sh takes push-image.sh's --image, --version, --tag and --no-latest, with
// the same defaults (IMAGE, VERSION, EXTRA_TAGS), so what one tags the other pushes.
func TestBuildImageTags(t *testing.T) {
	const repo = "ghcr.io/example/os"
	cases := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"from the environment", []string{"IMAGE=" + repo, "VERSION=v1"}, nil,
			[]string{repo + ":v1", repo + ":latest"}},
		{"EXTRA_TAGS", []string{"IMAGE=" + repo, "VERSION=v1", "EXTRA_TAGS=abc123 v1"}, nil,
			[]string{repo + ":v1", repo + ":latest", repo + ":abc123"}},
		{"flags over the environment", []string{"IMAGE=ghcr.io/other/os", "VERSION=v0"},
			[]string{"--image", repo, "--version", "v2", "--tag", "stable", "--tag", "stable", "--no-latest"},
			[]string{repo + ":v2", repo + ":stable"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, env := buildHost(t)
			r := d.RunCmd(t, harness.Cmd{Script: "build-image.sh", Args: c.args, Env: append(env, c.env...)})
			if r.ExitCode != 0 {
				t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
			}
			if got := buildTags(t, r); !reflect.DeepEqual(got, c.want) {
				t.Errorf("podman build tags %q, want %q", got, c.want)
			}
			if got := lastLine(r.Stdout); got != c.want[0] {
				t.Errorf("last line %q, want %q", got, c.want[0])
			}
		})
	}
}

func TestBuildImageRefusesBadFlags(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no image", []string{"VERSION=v1"}, nil, "no image name: pass --image or set IMAGE"},
		{"tag in the image", []string{"VERSION=v1"}, []string{"--image", "ghcr.io/x/os:v1"}, "without tag or digest"},
		{"bad version", []string{"IMAGE=ghcr.io/x/os"}, []string{"--version", "1.0 beta"}, "--version '1.0 beta' is not a valid tag"},
		{"bad extra tag", []string{"IMAGE=ghcr.io/x/os", "VERSION=v1"}, []string{"--tag", "a/b"}, "--tag 'a/b' is not a valid tag"},
		{"tag without value", []string{"IMAGE=ghcr.io/x/os", "VERSION=v1"}, []string{"--tag"}, "--tag needs a value"},
		{"unknown option", []string{"IMAGE=ghcr.io/x/os", "VERSION=v1"}, []string{"--digestfile=x"}, "unknown option '--digestfile=x'"},
		{"positional", []string{"IMAGE=ghcr.io/x/os", "VERSION=v1"}, []string{"now"}, "unexpected argument 'now'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, env := buildHost(t)
			r := d.RunCmd(t, harness.Cmd{Script: "build-image.sh", Args: c.args, Env: append(env, c.env...)})
			errorLine(t, r, 2, c.want)
			if !strings.Contains(r.Stderr, "(see --help)") {
				t.Errorf("usage error without a pointer to --help: %s", r.Stderr)
			}
			if len(r.Calls) != 0 {
				t.Errorf("bad input made calls:\n%s", harness.FormatCalls(r.Calls))
			}
		})
	}
}

// A failed podman build is one error line after podman's own output, and tags nothing.
func TestBuildImagePodmanFails(t *testing.T) {
	d, env := buildHost(t)
	d.Set(t, "podman/build", "fail\n")
	r := d.RunCmd(t, harness.Cmd{Script: "build-image.sh", Env: append(env, "IMAGE=ghcr.io/x/os", "VERSION=v1")})
	lastErrorLine(t, r, 1, "podman build failed for ghcr.io/x/os:v1")
	if r.Stdout != "" {
		t.Errorf("stdout %q, want nothing (it carries only the result)", r.Stdout)
	}
}
