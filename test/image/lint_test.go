package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// The stand-in's lint adapter implements nonempty-run-tmp as bootc does
// (bootc-dev/bootc crates/lib/src/lints.rs: check_runtime_only_dirs,
// prune_known_run_paths): content under /run and /tmp is a warning, mount
// points are skipped, podman's /run/systemd/resolve stub is ignored.
func TestStandinLintRunTmp(t *testing.T) {
	adapter := harness.Path("test", "standin", "adapters", "bootc")
	lint := func(t *testing.T, root string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command("bash", append([]string{adapter, "container", "lint", "--rootfs", root}, args...)...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	newRoot := func(t *testing.T, files ...string) string {
		t.Helper()
		root := t.TempDir()
		for _, d := range []string{"run", "tmp"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range files {
			p := filepath.Join(root, f)
			if strings.HasSuffix(f, "/") {
				if err := os.MkdirAll(p, 0o755); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, "")
		}
		return root
	}

	t.Run("empty", func(t *testing.T) {
		out, code := lint(t, newRoot(t), "--fatal-warnings")
		if code != 0 || !strings.Contains(out, "Checks passed: 1") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
	t.Run("leftovers", func(t *testing.T) {
		root := newRoot(t, "run/nginx.pid", "tmp/a", "tmp/b", "tmp/c", "tmp/d", "tmp/e/")
		out, code := lint(t, root, "--fatal-warnings")
		want := "Lint warning: nonempty-run-tmp: Found content in runtime-only directories (/run, /tmp):\n" +
			"  /run/nginx.pid\n  /tmp/a\n  /tmp/b\n  /tmp/c\n  /tmp/d\n  ...and 1 more\n"
		if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "error: Linting: Checks failed: 1") {
			t.Errorf("exit %d, want 1 and\n%s\ngot:\n%s", code, want, out)
		}
		out, code = lint(t, root, "--no-truncate")
		if code != 0 || !strings.Contains(out, "  /tmp/e\n") || !strings.Contains(out, "Warnings: 1") {
			t.Errorf("without --fatal-warnings a warning does not fail; --no-truncate lists all: exit %d\n%s", code, out)
		}
		out, code = lint(t, root, "--fatal-warnings", "--skip", "nonempty-run-tmp")
		if code != 0 || !strings.Contains(out, "Checks skipped: 1") {
			t.Errorf("--skip: exit %d\n%s", code, out)
		}
	})
	t.Run("podman's resolv stub", func(t *testing.T) {
		out, code := lint(t, newRoot(t, "run/systemd/resolve/stub-resolv.conf"), "--fatal-warnings")
		if code != 0 {
			t.Errorf("the stub and its parents are podman's, not the image's: exit %d\n%s", code, out)
		}
		out, code = lint(t, newRoot(t, "run/systemd/resolve/stub-resolv.conf", "run/systemd/other"), "--fatal-warnings")
		if code != 1 || !strings.Contains(out, "  /run/systemd\n  /run/systemd/other\n") || strings.Contains(out, "resolve") {
			t.Errorf("only the stub's own parents are ignored: exit %d\n%s", code, out)
		}
	})
	t.Run("mount points", func(t *testing.T) {
		harness.RequireRoot(t)
		root := newRoot(t, "run/secrets/")
		mount := func(dir string) {
			if out, err := exec.Command("mount", "-t", "tmpfs", "tmpfs", dir).CombinedOutput(); err != nil {
				t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
		}
		mount(filepath.Join(root, "run", "secrets"))
		mount(filepath.Join(root, "tmp"))
		writeFile(t, filepath.Join(root, "run", "secrets", "token"), "")
		writeFile(t, filepath.Join(root, "tmp", "scratch"), "")
		if out, code := lint(t, root, "--fatal-warnings"); code != 0 {
			t.Errorf("content on mounts never reaches the image: exit %d\n%s", code, out)
		}
	})
}

// A step that leaves something in /run fails the image build: the lint step
// of the Containerfile catches it. Here: `nginx -t` without the step's own
// cleanup of /run leaves nginx's pid file.
func TestImageLeftoverInRunFailsTheBuild(t *testing.T) {
	harness.RequireImageTools(t)
	const step = "&& nginx -t \\\n    && find /run /tmp -mindepth 1 -maxdepth 1 ! -path /run/.containerenv -exec rm -rf -- {} +"
	_, err := harness.BuildImageErr(t, harness.BuildOptions{Modify: func(dir string) error {
		cf := filepath.Join(dir, "Containerfile")
		data, err := os.ReadFile(cf)
		if err != nil {
			return err
		}
		if !strings.Contains(string(data), step) {
			t.Fatalf("the Containerfile's nginx step does not clean /run and /tmp as expected (%q)", step)
		}
		return os.WriteFile(cf, []byte(strings.Replace(string(data), step, "&& nginx -t", 1)), 0o644)
	}})
	if err == nil {
		t.Fatal("the build succeeded with /run/nginx.pid left in the image")
	}
	for _, want := range []string{"Lint warning: nonempty-run-tmp", "/run/nginx.pid", "Checks failed: 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("build output lacks %q:\n%v", want, err)
		}
	}
}

// The image keeps /run and /tmp as empty directories: a host mounts tmpfs on them at
// boot and cannot create them on a read-only root. (A `RUN --mount=type=tmpfs` on
// either writes whiteouts for them into the layer with podman 4.x.)
func TestImageHasEmptyRunAndTmp(t *testing.T) {
	harness.RequireImageTools(t)
	img := harness.BuildImage(t, harness.BuildOptions{})
	root := harness.MountImage(t, img.Ref)
	for dir, mode := range map[string]os.FileMode{"run": 0o755, "tmp": 0o777 | os.ModeSticky} {
		info, err := os.Lstat(filepath.Join(root, dir))
		if err != nil {
			t.Errorf("/%s: %v", dir, err)
			continue
		}
		if !info.IsDir() || info.Mode()&(os.ModePerm|os.ModeSticky) != mode {
			t.Errorf("/%s is %v, want a directory with mode %v", dir, info.Mode(), mode)
		}
		entries, _ := os.ReadDir(filepath.Join(root, dir))
		for _, e := range entries {
			if dir == "run" && e.Name() == ".containerenv" {
				continue
			}
			t.Errorf("/%s/%s is in the image", dir, e.Name())
		}
	}
}

// The lint step sees the layers as they are: no tmpfs over /run or /tmp there,
// and no lint skipped.
func TestContainerfileLintStep(t *testing.T) {
	cf := joinContinuations(harness.ReadFile(t, harness.Path("Containerfile")))
	var lint []string
	for _, line := range strings.Split(cf, "\n") {
		if strings.HasPrefix(line, "RUN ") && strings.Contains(line, "bootc container lint") {
			lint = append(lint, line)
		}
	}
	if len(lint) != 1 {
		t.Fatalf("want one RUN bootc container lint step, got %q", lint)
	}
	for _, bad := range []string{"--skip", "--mount", "|| true"} {
		if strings.Contains(lint[0], bad) {
			t.Errorf("lint step %q contains %q", lint[0], bad)
		}
	}
	if !strings.Contains(lint[0], "--fatal-warnings") {
		t.Errorf("lint step %q lacks --fatal-warnings", lint[0])
	}
}
