package image

import (
	"os/exec"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// The stand-in's Fedora-tool adapters must fail loudly, never pretend.
func TestStandinAdapters(t *testing.T) {
	harness.RequireImageTools(t)
	harness.Require(t, "chroot")
	root := harness.MountImage(t, harness.StandinBase(t))
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"dnf install present", []string{"dnf", "-y", "install", "nginx", "jq"}, 0, "nginx is present"},
		{"dnf install Fedora-only", []string{"dnf", "-y", "install", "policycoreutils-python-utils"}, 0, "Fedora-only"},
		{"dnf install greenboot", []string{"dnf", "-y", "install", "greenboot"}, 0, "greenboot is Fedora-only"},
		{"dnf install missing", []string{"dnf", "-y", "install", "jq", "no-such-package"}, 1,
			"not in the stand-in base: no-such-package -- add the Debian package to PACKAGES in test/standin/build.sh"},
		{"dnf other command", []string{"dnf", "-y", "upgrade"}, 1, "only 'install' and 'clean'"},
		{"dnf clean", []string{"dnf", "clean", "all"}, 0, ""},
		{"lint", []string{"bootc", "container", "lint", "--fatal-warnings"}, 0,
			"the real lint runs on the Fedora bootc base"},
		{"lint skip", []string{"bootc", "container", "lint", "--fatal-warnings", "--skip", "nonempty-run-tmp"}, 0,
			"Checks skipped: 1"},
		{"lint typo", []string{"bootc", "container", "lint", "--fatal-warning"}, 2, "unknown option '--fatal-warning'"},
		{"lint skip without name", []string{"bootc", "container", "lint", "--skip"}, 2, "--skip needs a value"},
		{"other bootc command", []string{"bootc", "upgrade"}, 1, "only 'bootc container lint' exists"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := exec.Command("chroot", append([]string{root}, c.args...)...).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.code || !strings.Contains(string(out), c.want) {
				t.Fatalf("%v: exit %d, want %d with %q; output:\n%s", c.args, code, c.code, c.want, out)
			}
		})
	}
	// The stand-in's one unit (host keys on first boot, like Fedora's sshd-keygen).
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		unit := harness.Path("test", "standin", "adapters", "sshd-keygen.service")
		if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil || strings.Contains(string(out), "sshd-keygen.service:") {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	}
	// Fedora-only tools exist only inside the stand-in, never in the repository's product paths.
	if out, _ := exec.Command("git", "-C", harness.Root(), "grep", "--untracked", "-l", "dnf (stand-in base)", "--", ":!test/").Output(); len(out) > 0 {
		t.Errorf("stand-in adapter code outside test/: %s", out)
	}
}
