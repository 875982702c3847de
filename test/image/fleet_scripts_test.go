package image

// The day-2 scripts ship in the image (/usr/libexec/bootc-testboot, names on PATH in
// /usr/bin), so SSM Run Command (ssm/bootc-testboot-os.yaml) runs the code that
// `make os-*` sends over SSH, versioned with the OS.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// fleetCommands: the name on PATH, the script it runs, a line its --help prints.
var fleetCommands = []struct{ bin, script, help string }{
	{"bootc-testboot-upgrade", "upgrade-os.sh", "Usage: upgrade-os.sh ACTION"},
	{"bootc-testboot-rollback", "rollback-os.sh", "Usage: rollback-os.sh"},
	{"bootc-testboot-verify", "verify-instance.sh", "Usage: verify-instance.sh"},
}

func TestFleetScriptsInstalled(t *testing.T) {
	img := sharedImage(t)
	root := harness.MountImage(t, img.Ref)
	for _, rel := range []string{"lib/common.sh", "upgrade-os.sh", "rollback-os.sh", "verify-instance.sh"} {
		p := filepath.Join(root, "usr", "libexec", "bootc-testboot", rel)
		info, err := os.Lstat(p)
		if err != nil {
			t.Errorf("/usr/libexec/bootc-testboot/%s missing: %v", rel, err)
			continue
		}
		if !info.Mode().IsRegular() {
			t.Errorf("/usr/libexec/bootc-testboot/%s is %v, want a regular file", rel, info.Mode())
		}
		if rel != "lib/common.sh" && info.Mode().Perm()&0o111 != 0o111 {
			t.Errorf("/usr/libexec/bootc-testboot/%s is %v, want executable", rel, info.Mode())
		}
		if harness.ReadFile(t, p) != harness.ReadFile(t, filepath.Join(img.Dir, "scripts", rel)) {
			t.Errorf("/usr/libexec/bootc-testboot/%s differs from scripts/%s", rel, rel)
		}
	}
	for _, c := range fleetCommands {
		info, err := os.Stat(filepath.Join(root, "usr", "bin", c.bin))
		if err != nil || info.Mode().Perm()&0o111 != 0o111 {
			t.Errorf("/usr/bin/%s: want an executable file (%v)", c.bin, err)
		}
	}
}

// Each name on PATH runs its script from the installed location, lib/ included:
// --help goes through the argument parsing after common.sh was sourced.
func TestFleetScriptsRunFromPath(t *testing.T) {
	harness.Require(t, "chroot")
	img := sharedImage(t)
	root := harness.MountImage(t, img.Ref)
	// chroot ROOT env PATH=... CMD: found on the image's PATH, as SSM's shell finds it.
	inImage := func(argv ...string) *exec.Cmd {
		return exec.Command("chroot", append([]string{root, "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, argv...)...)
	}
	for _, c := range fleetCommands {
		for _, argv := range [][]string{{c.bin, "--help"}, {"/usr/bin/" + c.bin, "--help"}} {
			out, err := inImage(argv...).CombinedOutput()
			if err != nil {
				t.Errorf("chroot %s %v: %v\n%s", root, argv, err, out)
				continue
			}
			if !strings.Contains(string(out), c.help) {
				t.Errorf("%v printed no %q:\n%s", argv, c.help, out)
			}
		}
		// A bad flag is a usage error from the script itself (exit 2), not a missing file.
		cmd := inImage(c.bin, "--no-such-flag")
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "unknown") {
			t.Errorf("%s --no-such-flag: exit %d (%v), want 2 and a usage error:\n%s", c.bin, code, err, out)
		}
	}
}
