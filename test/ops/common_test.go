package ops

import (
	"os/exec"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// common runs a bash snippet with scripts/lib/common.sh sourced; ARGS are its $1...
func common(t *testing.T, snippet string, args ...string) (string, int) {
	t.Helper()
	harness.Require(t, "bash")
	cmd := exec.Command("bash", append([]string{"-c", `set -euo pipefail; source "$0"; ` + snippet,
		harness.Path("scripts", "lib", "common.sh")}, args...)...)
	cmd.Env = []string{"TESTBOOT_NO_JOURNAL=1", "PROG=t", "PATH=/usr/bin:/bin"}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func TestIsLocalRegistry(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "localhost:5000": true, "127.0.0.1": true, "127.0.0.1:5000": true,
		"[::1]": true, "[::1]:5000": true,
		"ghcr.io": false, "localhost.example.com": false, "127.0.0.1.nip.io": false,
		"localhost:5000:1": false, "localhost:": false, "": false,
	} {
		_, code := common(t, `is_local_registry "$1"`, host)
		if (code == 0) != want {
			t.Errorf("is_local_registry %q: exit %d, want local=%v", host, code, want)
		}
	}
}

// image_tags is the tag list both build-image.sh (podman build --tag) and push-image.sh
// (one push per tag) use: VERSION first, each tag once.
func TestImageTags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"v1", "true"}, "v1 latest"},
		{[]string{"v1", "false"}, "v1"},
		{[]string{"v1", "true", "abc", "latest", "v1", "abc", "rc"}, "v1 latest abc rc"},
		{[]string{"v1", "false", "latest"}, "v1 latest"},
	}
	for _, c := range cases {
		out, code := common(t, `image_tags "$@" | paste -sd' '`, c.args...)
		if code != 0 || strings.TrimSpace(out) != c.want {
			t.Errorf("image_tags %q = %q (exit %d), want %q", c.args, out, code, c.want)
		}
	}
}

func TestBadArg(t *testing.T) {
	for arg, want := range map[string]string{
		"--nope": "t: unknown option '--nope' (see --help)",
		"-x":     "t: unknown option '-x' (see --help)",
		"extra":  "t: unexpected argument 'extra' (see --help)",
	} {
		out, code := common(t, `bad_arg "$1"; echo not reached`, arg)
		if code != 2 || strings.TrimSpace(out) != want {
			t.Errorf("bad_arg %q: exit %d, %q; want exit 2, %q", arg, code, out, want)
		}
	}
}
