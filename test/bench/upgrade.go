package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// The two layouts the upgrade section compares.
const (
	layoutOurs  = "ours"
	layoutNaive = "naive"
)

// containerfiles maps each layout to its Containerfile, relative to the repository.
var containerfiles = map[string]string{
	layoutOurs:  "Containerfile",
	layoutNaive: "test/bench/Containerfile.naive",
}

// changedApp is the app whose source differs between v1 and v2.
const changedApp = "hello"

// greeting is the string v2 changes: a one-line change to the app's source,
// the smallest release a user makes.
var greeting = regexp.MustCompile(`(Message:\s*")([^"]*)(")`)

// changeGreeting edits the greeting string in the changed app's sources.
func changeGreeting(tree string) error {
	files, err := filepath.Glob(filepath.Join(tree, "apps", changedApp, "*.go"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		loc := greeting.FindSubmatchIndex(b)
		if loc == nil {
			continue
		}
		// Insert before the closing quote of the first match only.
		changed := string(b[:loc[6]]) + " (v2)" + string(b[loc[6]:])
		return os.WriteFile(f, []byte(changed), 0o644)
	}
	return fmt.Errorf("no `Message: \"...\"` string in apps/%s/*.go to change for v2: update the greeting pattern in test/bench/upgrade.go", changedApp)
}

// useNaiveLayout makes a copy of the repository build the naive Containerfile.
func useNaiveLayout(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, containerfiles[layoutNaive]))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "Containerfile"), b, 0o644)
}

// release is what differs between v1 and v2 besides the source change: each
// is its own commit with its own version, revision and time, as CI builds it.
type release struct {
	version, revision string
	epoch             int64
}

var releases = map[string]release{
	"v1": {"1.0.0", strings.Repeat("1", 40), 1767225600}, // 2026-01-01
	"v2": {"1.0.1", strings.Repeat("2", 40), 1767312000}, // a day later
}

// buildSet builds each (layout, version) image once per run with the real
// `make build` (harness.BuildImage) on the stand-in base. The images stay in
// podman's storage (localhost/bootc-testboot-bench-*) so a quick run can
// reuse their layer cache.
type buildSet struct {
	noCache bool
	images  map[string]harness.Image // "ours/v1" → image
}

func newBuildSet(noCache bool) *buildSet {
	return &buildSet{noCache: noCache, images: map[string]harness.Image{}}
}

func (b *buildSet) options(layout, version, repo string, noCache bool) harness.BuildOptions {
	r := releases[version]
	opts := harness.BuildOptions{
		Image:           "localhost/bootc-testboot-bench-" + repo,
		Version:         r.version,
		Revision:        r.revision,
		SourceDateEpoch: r.epoch,
		NoCache:         noCache,
		Keep:            true,
	}
	var edits []func(string) error
	if layout == layoutNaive {
		edits = append(edits, useNaiveLayout)
	}
	if version == "v2" {
		edits = append(edits, changeGreeting)
	}
	if len(edits) > 0 {
		opts.Modify = func(dir string) error {
			for _, edit := range edits {
				if err := edit(dir); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return opts
}

// image returns layout at version, building it on first use.
func (b *buildSet) image(t testing.TB, layout, version string) (harness.Image, error) {
	key := layout + "/" + version
	if img, ok := b.images[key]; ok {
		return img, nil
	}
	img, err := harness.BuildImageErr(t, b.options(layout, version, layout, b.noCache))
	if err != nil {
		return img, err
	}
	b.images[key] = img
	return img, nil
}

// measureUpgrade builds v1 and v2 of both layouts and sums what a host on v1
// downloads to get v2.
func measureUpgrade(ctx context.Context, t testing.TB, b *buildSet, ociDir string) (*Upgrade, error) {
	u := &Upgrade{
		App:           changedApp,
		BaseImage:     harness.StandinBase(t),
		Compressor:    "gzip at the default level, as podman push stores layers",
		LayersCounted: "Counted: the layers of v2 whose content (diff ID) v1 lacks.",
	}
	for _, layout := range []string{layoutOurs, layoutNaive} {
		l := Layout{Name: layout, Containerfile: containerfiles[layout]}
		var imgs [2]ociImage
		for i, v := range []string{"v1", "v2"} {
			img, err := b.image(t, layout, v)
			if err != nil {
				return nil, err
			}
			if imgs[i], err = exportImage(ctx, t, img.Ref, ociDir, layout+"-"+v); err != nil {
				return nil, err
			}
			if layout == layoutOurs && v == "v2" {
				// The denominator: the changed binary as this release built it.
				bin := filepath.Join(img.Dir, "output", "bin", changedApp)
				st, err := os.Stat(bin)
				if err != nil {
					return nil, err
				}
				u.BinaryBytes = st.Size()
				if u.BinaryGzip, err = gzipFileSize(bin); err != nil {
					return nil, err
				}
			}
		}
		d, err := download(imgs[0], imgs[1])
		if err != nil {
			return nil, err
		}
		l.V1, l.V2, l.Download = imgs[0].ID, imgs[1].ID, d
		u.Layouts = append(u.Layouts, l)
	}
	if u.BinaryGzip == 0 {
		return nil, fmt.Errorf("no size for the changed binary")
	}
	for i := range u.Layouts {
		u.Layouts[i].RatioGzip = float64(u.Layouts[i].Download.GzipBytes) / float64(u.BinaryGzip)
	}
	return u, nil
}

// measureRebuild builds v1 of our layout again, without any cache, and
// compares it with the first build.
func measureRebuild(ctx context.Context, t testing.TB, b *buildSet, ociDir string) (*Rebuild, error) {
	first, err := b.image(t, layoutOurs, "v1")
	if err != nil {
		return nil, err
	}
	again, err := harness.BuildImageErr(t, b.options(layoutOurs, "v1", "rebuild", true))
	if err != nil {
		return nil, err
	}
	x, err := exportImage(ctx, t, first.Ref, ociDir, "ours-v1")
	if err != nil {
		return nil, err
	}
	y, err := exportImage(ctx, t, again.Ref, ociDir, "rebuild-v1")
	if err != nil {
		return nil, err
	}
	d, err := download(x, y)
	if err != nil {
		return nil, err
	}
	return &Rebuild{First: x.ID, Second: y.ID, Identical: x.ID == y.ID, Download: d}, nil
}

// exportImage copies a local image into the shared OCI layout, reads it back
// and names each layer after the build step that made it.
func exportImage(ctx context.Context, t testing.TB, ref, dir, tag string) (ociImage, error) {
	if err := exportOCI(ctx, ref, dir, tag); err != nil {
		return ociImage{}, err
	}
	img, err := readOCI(dir, tag)
	if err != nil {
		return img, err
	}
	steps := map[string]string{}
	for _, l := range harness.ImageLayers(t, ref) {
		steps[l.DiffID] = l.CreatedBy
	}
	for i := range img.Layers {
		img.Layers[i].Step = steps[img.Layers[i].DiffID]
	}
	return img, nil
}
