package image

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// One commit, one digest: a rebuild from scratch must not look like an update.
func TestRebuildGivesSameDigest(t *testing.T) {
	first := sharedImage(t)
	// Same VERSION (it is part of the content); another repository name keeps both images.
	second := harness.BuildImage(t, harness.BuildOptions{Version: sharedVersion, NoCache: true,
		Image: harness.TestImageRepo + "-rebuild"})
	if second.ID != first.ID {
		a, b := harness.ImageLayers(t, first.Ref), harness.ImageLayers(t, second.Ref)
		t.Errorf("rebuilding the same commit with --no-cache changed the image ID: %s -> %s\nchanged layers:\n%s",
			first.ID, second.ID, describe(harness.ChangedLayers(a, b)))
	}
	if second.Digest != first.Digest {
		t.Errorf("rebuilding the same commit changed the manifest digest: %s -> %s", first.Digest, second.Digest)
	}
}

// A change to one app's source is one new layer: the one holding its binary.
func TestOneAppChangeIsOneLayer(t *testing.T) {
	v1 := sharedImage(t)
	app := apps(t, v1.Dir)[0]
	v2 := harness.BuildImage(t, harness.BuildOptions{
		Version: sharedVersion,
		Image:   harness.TestImageRepo + "-onechange",
		Modify: func(dir string) error {
			main := filepath.Join(dir, "apps", app, "main.go")
			src, err := os.ReadFile(main)
			if err != nil {
				return err
			}
			return os.WriteFile(main, append(src, []byte("\n// changed for a layer test\n")...), 0o644)
		},
	})
	changed := harness.ChangedLayers(harness.ImageLayers(t, v1.Ref), harness.ImageLayers(t, v2.Ref))
	if len(changed) != 1 || !strings.Contains(changed[0].CreatedBy, "/usr/bin/"+app) {
		t.Fatalf("changing apps/%s/main.go changed %d layers, want exactly the one with /usr/bin/%s:\n%s",
			app, len(changed), app, describe(changed))
	}
}

// A new commit that changes no app (other time, revision and version) is
// only a new version stamp for hosts: every other layer is byte-identical,
// even when built from scratch.
func TestNewCommitReusesLayers(t *testing.T) {
	v1 := sharedImage(t)
	epoch, err := strconv.ParseInt(strings.TrimSpace(gitOut(t, "log", "-1", "--format=%ct")), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	next := harness.BuildImage(t, harness.BuildOptions{
		Version:         sharedVersion + "-next",
		Image:           harness.TestImageRepo + "-next",
		Revision:        strings.Repeat("0", 40),
		SourceDateEpoch: epoch + 86400,
		NoCache:         true,
	})
	changed := harness.ChangedLayers(harness.ImageLayers(t, v1.Ref), harness.ImageLayers(t, next.Ref))
	if len(changed) != 1 || !strings.Contains(changed[0].CreatedBy, "build-info.json") {
		t.Fatalf("a commit a day later with no app change changed %d layers, want only the build-info layer:\n%s",
			len(changed), describe(changed))
	}
}

// make build passes the commit time, so the labels carry when the source was made.
func TestMakefilePassesCommitTime(t *testing.T) {
	harness.Require(t, "make", "git")
	cmd := exec.Command("make", "-s", "-C", harness.Root(), "--eval", "print-sde: ; @echo $(SOURCE_DATE_EPOCH)", "print-sde")
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SOURCE_DATE_EPOCH=") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), strings.TrimSpace(gitOut(t, "log", "-1", "--format=%ct")); got != want {
		t.Errorf("make's SOURCE_DATE_EPOCH = %q, want the HEAD commit time %q", got, want)
	}
}

// Every layer after the base comes from our Containerfile steps, and the app
// binaries are each in their own layer, after every config and unit.
func TestLayerOrder(t *testing.T) {
	img := sharedImage(t)
	layers := harness.ImageLayers(t, img.Ref)
	firstBin, lastOther := -1, -1
	binLayers := map[string]int{}
	for i, l := range layers {
		switch {
		case strings.Contains(l.CreatedBy, " in /usr/bin/"):
			if firstBin < 0 {
				firstBin = i
			}
			binLayers[strings.TrimSpace(l.CreatedBy[strings.LastIndex(l.CreatedBy, "/")+1:])]++
		case strings.Contains(l.CreatedBy, "build-info.json") || strings.Contains(l.CreatedBy, "bootc container lint"):
		case i > 0:
			lastOther = i
		}
	}
	for _, app := range apps(t, img.Dir) {
		if binLayers[app] != 1 {
			t.Errorf("/usr/bin/%s is in %d layers, want its own single layer", app, binLayers[app])
		}
	}
	if firstBin < 0 || lastOther > firstBin {
		t.Errorf("app binaries must come after every package, config and unit layer (first binary layer %d, last other layer %d):\n%s",
			firstBin, lastOther, describe(layers))
	}
}

func describe(layers []harness.Layer) string {
	var b strings.Builder
	for _, l := range layers {
		step := l.CreatedBy
		if len(step) > 120 {
			step = step[:120] + "..."
		}
		b.WriteString("  " + l.DiffID + "  " + step + "\n")
	}
	return b.String()
}

// --- scripts/build-image.sh refuses bad setups with one clear line ------------

func runBuildScript(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(harness.Path("scripts", "build-image.sh"), args...)
	cmd.Env = append([]string{"TESTBOOT_NO_JOURNAL=1", "IMAGE=localhost/bootc-testboot-test-script",
		"VERSION=v1", "REVISION=abc", "SOURCE_DATE_EPOCH=1700000000", "SOURCE_URL=https://example.com/x",
		"PATH=" + os.Getenv("PATH")}, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

func TestBuildScriptErrors(t *testing.T) {
	harness.Require(t, "setpriv")
	// A PATH with only what the script needs before it looks for podman.
	nopodman := t.TempDir()
	for _, tool := range []string{"bash", "dirname", "basename", "id"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(nopodman, tool)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"help", nil, []string{"--help"}, 0, "Usage: build-image.sh"},
		{"unknown flag", nil, []string{"--nope"}, 2, "unknown option '--nope'"},
		{"bad version", []string{"VERSION=1.0 beta"}, nil, 2, "--version '1.0 beta' is not a valid tag"},
		{"no version", []string{"VERSION="}, nil, 2, "no version: pass --version or set VERSION"},
		{"bad version flag", nil, []string{"--version", "v1/../x"}, 2, "--version 'v1/../x' is not a valid tag"},
		{"bad extra tag", nil, []string{"--tag", "-x"}, 2, "--tag '-x' is not a valid tag"},
		{"tag without value", nil, []string{"--tag", "--no-latest"}, 2, "--tag needs a value"},
		{"bad extra tag value", nil, []string{"--tag", "a b"}, 2, "--tag 'a b' is not a valid tag"},
		{"bad EXTRA_TAGS", []string{"EXTRA_TAGS=ok bad/tag"}, nil, 2, "--tag 'bad/tag' is not a valid tag"},
		{"image flag with tag", nil, []string{"--image", "ghcr.io/x/y:v1"}, 2, "without tag or digest"},
		{"positional", nil, []string{"extra"}, 2, "unexpected argument 'extra'"},
		{"bad epoch", []string{"SOURCE_DATE_EPOCH=yesterday"}, nil, 2, "SOURCE_DATE_EPOCH 'yesterday' is not a number"},
		{"image with tag", []string{"IMAGE=Localhost/x"}, nil, 2, "is not a repository name"},
		{"no podman", []string{"PATH=" + nopodman}, nil, 1, "'podman' is not installed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := runBuildScript(t, c.env, c.args...)
			if code != c.code || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, want %d with %q; output:\n%s", code, c.code, c.want, out)
			}
			if c.code != 0 && len(harness.NonEmptyLines(out)) != 1 {
				t.Errorf("want a one-line error, got:\n%s", out)
			}
		})
	}

	t.Run("not root", func(t *testing.T) {
		harness.RequireImageTools(t)
		// The unprivileged user must be able to read the script wherever the
		// repository lives (a checkout under a 0700 directory is common), so it
		// runs from a world-readable copy; the root check comes before any use
		// of the rest of the tree.
		dir, err := os.MkdirTemp("", "build-image-nonroot-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := harness.CopyTree(harness.Path("scripts"), dir, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			filepath.Join(dir, "build-image.sh"))
		cmd.Env = []string{"TESTBOOT_NO_JOURNAL=1", "IMAGE=localhost/x", "VERSION=v1", "REVISION=abc",
			"SOURCE_DATE_EPOCH=1", "SOURCE_URL=u", "PATH=" + os.Getenv("PATH"), "HOME=/nonexistent"}
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "run as root") ||
			!strings.Contains(string(out), "bootc-image-builder reads root's image storage") {
			t.Fatalf("as a non-root user: %v, want exit 1 naming root's storage; output:\n%s", err, out)
		}
	})

	t.Run("apps not built", func(t *testing.T) {
		harness.RequireImageTools(t)
		out, code := runBuildScript(t, []string{"OUTPUT=" + t.TempDir()})
		if code != 1 || !strings.Contains(out, "is missing: run 'make apps' first") {
			t.Fatalf("exit %d, want 1 naming make apps; output:\n%s", code, out)
		}
	})
}

func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}
