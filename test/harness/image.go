package harness

// Building and inspecting the OS image in tests. Every suite that needs a real
// image (image, boot, bench) uses these helpers:
//
//	base := harness.StandinBase(t)                  // Debian stand-in for the bootc base
//	img := harness.BuildImage(t, harness.BuildOptions{Version: "v1"})
//	root := harness.MountImage(t, img.Ref)          // read-only view of the image's files
//	layers := harness.ImageLayers(t, img.Ref)       // what a host downloads, layer by layer
//
// BuildImage runs the real `make build` (apps + Containerfile) on the stand-in
// base; BuildOptions.Modify builds a changed copy of the repository instead
// (a new app version, an extra app, a broken unit). All of them need root and
// podman: call RequireImageTools first.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestImageRepo is the repository test builds are tagged in, never a registry.
const TestImageRepo = "localhost/bootc-testboot-test"

// RequireImageTools skips (or fails under CI=true) unless the image can be
// built here: root, podman, debootstrap, make and go.
func RequireImageTools(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	Require(t, "podman", "debootstrap", "make", "go", "flock")
}

var standin struct {
	sync.Mutex
	ref string
}

// StandinBase returns the reference of the local stand-in base image
// (localhost/bootc-testboot-standin:<recipe hash>), building it with
// test/standin/build.sh the first time a recipe is seen (a minute or two) and
// reusing it afterwards.
func StandinBase(t testing.TB) string {
	t.Helper()
	standin.Lock()
	defer standin.Unlock()
	if standin.ref != "" {
		return standin.ref
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(Path("test", "standin", "build.sh"))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "TESTBOOT_NO_JOURNAL=1")
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("building the stand-in base: %v\n%s", err, Tail(stderr.String(), 40))
	}
	ref := strings.TrimSpace(lastLine(stdout.String()))
	if !strings.HasPrefix(ref, "localhost/bootc-testboot-standin:") {
		t.Fatalf("test/standin/build.sh printed %q, want an image reference\n%s", ref, Tail(stderr.String(), 20))
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Logf("stand-in base %s built in %s", ref, d.Round(time.Second))
	}
	standin.ref = ref
	return ref
}

// BuildOptions says what BuildImage builds. The zero value builds the
// repository as it is, on the stand-in base, with a unique version.
type BuildOptions struct {
	// Version is VERSION: the tag, the version label and build-info's
	// version. Default: a unique "test-..." value.
	Version string
	// Image is IMAGE, the repository without tag. Default TestImageRepo.
	Image string
	// BaseImage is BASE_IMAGE. Default StandinBase(t).
	BaseImage string
	// SourceDateEpoch is the commit time in seconds. Default: the
	// repository's HEAD commit time (what `make build` uses).
	SourceDateEpoch int64
	// Revision is REVISION. Default: the repository's HEAD commit.
	Revision string
	// Modify, when set, builds a copy of the repository (without .git and
	// output/) after Modify changed it; dir is the copy's top directory.
	// The Go build cache is shared, so unchanged apps compile instantly.
	Modify func(dir string) error
	// NoCache rebuilds every layer (podman build --no-cache).
	NoCache bool
	// SignedRepo is SIGNED_REPO, the repository the image's signature policy protects.
	// Default TestImageRepo for every build (not Image), so that images built under
	// different names compare layer by layer; set it to the name a test pushes to when
	// the policy matters.
	SignedRepo string
	// Keep leaves the image in podman's storage after the test.
	Keep bool
}

// Image is a built image.
type Image struct {
	// Ref is IMAGE:VERSION as tagged in root's podman storage.
	Ref     string
	Version string
	// ID is the image ID (sha256 of the image config). Equal IDs mean
	// equal configs, and so equal layers, labels and history.
	ID string
	// Digest is the manifest digest in local storage.
	Digest string
	// Dir is the tree the image was built from (the repository, or the
	// modified copy).
	Dir string
	// Output is what `make build` printed.
	Output string
}

var buildSeq atomic.Int64

// BuildImage runs `make build` with IMAGE, VERSION, BASE_IMAGE,
// SOURCE_DATE_EPOCH and REVISION set, and fails the test with make's output
// when the build fails. The image is removed when the test ends unless
// opts.Keep is set.
func BuildImage(t testing.TB, opts BuildOptions) Image {
	t.Helper()
	img, err := buildImage(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// BuildImageErr is BuildImage for tests that expect the build to fail: it
// returns make's output with the error instead of failing the test.
func BuildImageErr(t testing.TB, opts BuildOptions) (Image, error) {
	t.Helper()
	return buildImage(t, opts)
}

func buildImage(t testing.TB, opts BuildOptions) (Image, error) {
	t.Helper()
	img, err := buildOnce(t, opts)
	// podman's layer cache can name a layer that a concurrent `podman rmi`
	// (another suite sharing root's storage) is deleting; that is not a
	// failure of the build, and a second attempt sees consistent storage.
	if err != nil && strings.Contains(err.Error(), "layer not known") {
		t.Logf("podman storage changed under the build of %s; building it again", img.Ref)
		img, err = buildOnce(t, opts)
	}
	if err != nil {
		return img, err
	}
	// An uncached build that used the cache would make a rebuild check pass
	// for the wrong reason.
	if opts.NoCache && strings.Contains(img.Output, "Using cache") {
		return img, fmt.Errorf("%s: built with --no-cache but podman reused cached layers", img.Ref)
	}
	return img, nil
}

func buildOnce(t testing.TB, opts BuildOptions) (Image, error) {
	t.Helper()
	if opts.Image == "" {
		opts.Image = TestImageRepo
	}
	if opts.Version == "" {
		opts.Version = fmt.Sprintf("test-%d-%d", os.Getpid(), buildSeq.Add(1))
	}
	if opts.BaseImage == "" {
		opts.BaseImage = StandinBase(t)
	}
	if opts.Revision == "" {
		opts.Revision = gitOr("unknown", "rev-parse", "HEAD")
	}
	if opts.SourceDateEpoch == 0 {
		opts.SourceDateEpoch, _ = strconv.ParseInt(gitOr("0", "log", "-1", "--format=%ct"), 10, 64)
	}
	dir := Root()
	if opts.Modify != nil {
		dir = filepath.Join(t.TempDir(), "src")
		if err := CopyRepo(dir); err != nil {
			return Image{}, fmt.Errorf("copying the repository: %w", err)
		}
		if err := opts.Modify(dir); err != nil {
			return Image{}, fmt.Errorf("modifying the copy of the repository: %w", err)
		}
	}
	img := Image{Ref: opts.Image + ":" + opts.Version, Version: opts.Version, Dir: dir}
	if !opts.Keep {
		t.Cleanup(func() { RemoveImage(t, img.Ref, opts.Image+":latest") })
	}

	args := []string{"-C", dir, "--no-print-directory", "build",
		"IMAGE=" + opts.Image,
		"VERSION=" + opts.Version,
		"BASE_IMAGE=" + opts.BaseImage,
		"REVISION=" + opts.Revision,
		"SOURCE_DATE_EPOCH=" + strconv.FormatInt(opts.SourceDateEpoch, 10),
	}
	cmd := exec.Command("make", args...)
	// Every test build protects one repository in its signature policy, whatever name it
	// is tagged under, so builds under different names are comparable layer by layer.
	signed := opts.SignedRepo
	if signed == "" {
		signed = TestImageRepo
	}
	cmd.Env = append(os.Environ(), "TESTBOOT_NO_JOURNAL=1", "SIGNED_REPO="+signed)
	if opts.NoCache {
		cmd.Env = append(cmd.Env, "NO_CACHE=1")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Suites run in parallel (go test ./...) share the tree's output/bin:
	// one `make build` per tree at a time.
	unlock, err := lockTree(dir)
	if err != nil {
		return img, err
	}
	start := time.Now()
	err = cmd.Run()
	unlock()
	img.Output = out.String()
	if err != nil {
		return img, fmt.Errorf("make build VERSION=%s: %v\n%s", opts.Version, err, Tail(img.Output, 60))
	}
	t.Logf("built %s in %s", img.Ref, time.Since(start).Round(time.Second))
	img.ID = "sha256:" + strings.TrimPrefix(inspect(t, img.Ref, "{{.Id}}"), "sha256:")
	img.Digest = inspect(t, img.Ref, "{{.Digest}}")
	return img, nil
}

// RemoveImage removes tags from podman's storage (the image goes with its
// last tag); a missing tag is fine.
func RemoveImage(t testing.TB, refs ...string) {
	t.Helper()
	for _, ref := range refs {
		out, err := exec.Command("podman", "image", "rm", ref).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "image not known") {
			t.Logf("podman image rm %s: %v: %s", ref, err, strings.TrimSpace(string(out)))
		}
	}
}

// MountImage mounts an image's filesystem read-only and returns its
// directory; it is unmounted when the test ends.
func MountImage(t testing.TB, ref string) string {
	t.Helper()
	out, err := exec.Command("podman", "image", "mount", ref).Output()
	if err != nil {
		t.Fatalf("podman image mount %s: %v: %s", ref, err, stderrOf(err))
	}
	dir := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("podman", "image", "unmount", ref).CombinedOutput(); err != nil {
			t.Logf("podman image unmount %s: %v: %s", ref, err, strings.TrimSpace(string(out)))
		}
	})
	return dir
}

// Layer is one filesystem layer of an image and the build step that made it.
type Layer struct {
	// DiffID is the digest of the uncompressed layer tar: two images share
	// a layer exactly when they have the same DiffID.
	DiffID string
	// CreatedBy is the build step, e.g. "/bin/sh -c #(nop) COPY file:... in /usr/bin/hello".
	CreatedBy string
}

// ImageLayers lists an image's layers, base first, each with its build step.
func ImageLayers(t testing.TB, ref string) []Layer {
	t.Helper()
	var info []struct {
		RootFS struct {
			Layers []string `json:"Layers"`
		} `json:"RootFS"`
		History []struct {
			CreatedBy  string `json:"created_by"`
			EmptyLayer bool   `json:"empty_layer"`
		} `json:"History"`
	}
	out, err := exec.Command("podman", "image", "inspect", ref).Output()
	if err != nil {
		t.Fatalf("podman image inspect %s: %v: %s", ref, err, stderrOf(err))
	}
	if err := json.Unmarshal(out, &info); err != nil || len(info) != 1 {
		t.Fatalf("podman image inspect %s: unexpected output (%v)", ref, err)
	}
	var steps []string
	for _, h := range info[0].History {
		if !h.EmptyLayer {
			steps = append(steps, h.CreatedBy)
		}
	}
	layers := make([]Layer, len(info[0].RootFS.Layers))
	// History and layers line up from the end: an imported base may carry
	// fewer history entries than layers.
	off := len(steps) - len(layers)
	for i, d := range info[0].RootFS.Layers {
		layers[i] = Layer{DiffID: d}
		if j := i + off; j >= 0 && j < len(steps) {
			layers[i].CreatedBy = steps[j]
		}
	}
	return layers
}

// ImageLabels returns an image's labels.
func ImageLabels(t testing.TB, ref string) map[string]string {
	t.Helper()
	var labels map[string]string
	if err := json.Unmarshal([]byte(inspect(t, ref, "{{json .Labels}}")), &labels); err != nil {
		t.Fatalf("labels of %s: %v", ref, err)
	}
	return labels
}

// ChangedLayers returns the layers of b that a host running a must download:
// those whose DiffID a does not have.
func ChangedLayers(a, b []Layer) []Layer {
	have := map[string]bool{}
	for _, l := range a {
		have[l.DiffID] = true
	}
	var changed []Layer
	for _, l := range b {
		if !have[l.DiffID] {
			changed = append(changed, l)
		}
	}
	return changed
}

// CopyRepo copies the repository's working tree, without .git and output/,
// to dst, keeping modes and symlinks.
func CopyRepo(dst string) error {
	return CopyTree(Root(), dst, func(rel string) bool { return rel == ".git" || rel == "output" })
}

// CopyTree copies the directory tree src to dst, keeping modes and symlinks.
// skip, when not nil, leaves out the entries (and directories' contents) whose
// path relative to src it accepts.
func CopyTree(src, dst string, skip func(rel string) bool) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if skip != nil && rel != "." && skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			return copyFile(path, target, info.Mode().Perm())
		}
		return nil // sockets, fifos: not part of a source tree
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// lockTree takes an exclusive lock on dir's output/ directory.
func lockTree(dir string) (func(), error) {
	if err := os.MkdirAll(filepath.Join(dir, "output"), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "output", ".build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

func inspect(t testing.TB, ref, format string) string {
	t.Helper()
	out, err := exec.Command("podman", "image", "inspect", "--format", format, ref).Output()
	if err != nil {
		t.Fatalf("podman image inspect %s: %v: %s", ref, err, stderrOf(err))
	}
	return strings.TrimSpace(string(out))
}

func gitOr(fallback string, args ...string) string {
	out, err := exec.Command("git", append([]string{"-C", Root()}, args...)...).Output()
	if s := strings.TrimSpace(string(out)); err == nil && s != "" {
		return s
	}
	return fallback
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
