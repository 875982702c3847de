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
	var oursV1 ociImage
	var oursV2 harness.Image
	for _, layout := range []string{layoutOurs, layoutNaive} {
		l := Layout{Name: layout, Containerfile: containerfiles[layout]}
		var imgs [2]ociImage
		for i, v := range []string{"v1", "v2"} {
			img, err := b.image(t, layout, v)
			if err != nil {
				return nil, err
			}
			if layout == layoutOurs && v == "v2" {
				oursV2 = img
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
		if layout == layoutOurs {
			oursV1 = imgs[0]
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
	z, err := measureZstd(ctx, oursV1, oursV2, ociDir, u)
	if err != nil {
		return u, err
	}
	u.Zstd = z
	return u, nil
}

// measureZstd sizes our layout's upgrade with zstd-compressed layers: v2 is
// copied again with skopeo --dest-compress-format zstd (the compression
// `podman push --compression-format zstd` applies) and the layers v1 lacks
// are summed as stored.
func measureZstd(ctx context.Context, v1 ociImage, v2 harness.Image, ociDir string, u *Upgrade) (*Zstd, error) {
	tag := layoutOurs + "-v2-zstd"
	if err := exportOCI(ctx, v2.Ref, ociDir, tag, "--dest-compress-format", "zstd"); err != nil {
		return nil, err
	}
	img, err := readOCI(ociDir, tag)
	if err != nil {
		return nil, err
	}
	z := &Zstd{Compressor: "zstd at containers/image's default level (3), as skopeo copy and podman push write it",
		Evidence: zstdEvidence}
	if z.Layers, z.Bytes, err = downloadStored(v1, img, "zstd"); err != nil {
		return nil, err
	}
	bin := filepath.Join(v2.Dir, "output", "bin", changedApp)
	if z.BinaryZstd, err = zstdFileSize(ctx, bin); err != nil {
		return nil, err
	}
	for _, l := range u.Layouts {
		if l.Name == layoutOurs && l.Download.GzipBytes > 0 {
			z.GzipBytes = l.Download.GzipBytes
			z.VsGzip = float64(z.Bytes) / float64(l.Download.GzipBytes)
		}
	}
	z.Recommendation = zstdRecommendation(z.VsGzip)
	z.RatioBinaryGzip = float64(z.Bytes) / float64(u.BinaryGzip)
	if z.BinaryZstd > 0 {
		z.RatioBinaryZstd = float64(z.Bytes) / float64(z.BinaryZstd)
	}
	return z, nil
}

// Zstd is our layout's upgrade download with zstd layers, and whether the
// bootc on the hosts can import them.
type Zstd struct {
	Compressor      string   `json:"compressor"`
	Layers          int      `json:"layers"`
	Bytes           int64    `json:"zstd_bytes"`
	GzipBytes       int64    `json:"gzip_bytes"` // the same layers, gzip (section 1's download)
	VsGzip          float64  `json:"ratio_to_gzip_download"`
	BinaryZstd      int64    `json:"binary_zstd_bytes"` // 0 when the zstd tool is missing
	RatioBinaryGzip float64  `json:"ratio_to_binary_gzip"`
	RatioBinaryZstd float64  `json:"ratio_to_binary_zstd,omitempty"`
	Recommendation  string   `json:"recommendation"`
	Evidence        []string `json:"evidence"`
}

// What bootc's image import (ostree-ext, in the bootc repository since
// v1.1.3) does with zstd layers, from its sources and tags.
var zstdEvidence = []string{
	"bootc imports a layer through ostree-ext, which picks the decompressor by the layer's media type: " +
		"crates/ostree-ext/src/generic_decompress.rs maps `application/vnd.oci.image.layer.v1.tar+zstd` (`MediaType::ImageLayerZstd`) to a zstd decoder.",
	"zstd layers became importable with ostree-rs-ext commit 651ae7995f26 (\"Add zstd:chunked support\", 2024-03-27, ostreedev/ostree-rs-ext#608), " +
		"which added the `ImageLayerZstd` decoder; `git tag --contains` lists bootc v1.1.3 and every later tag, " +
		"so v1.11.0 (CentOS Stream 10) and v1.16.0 (Fedora 44, the default base) both have it.",
	"ostree-ext keeps each imported layer under its compressed blob digest. Reusing a stored layer whose diff ID matches but whose compression differs " +
		"came with commit 1a869825696e (\"ostree-ext: Match on diff_ids as well as layer digest on import\", bootc-dev/bootc#2078), first in v1.15.0: " +
		"bootc 1.16 keeps the layers it has when the compression changes, bootc 1.11 downloads every layer again once, base included.",
}

// zstdRecommendation weighs the measured saving (zstd download ÷ gzip
// download) against what a switch costs. Every bootc the bases ship imports
// zstd, so support does not decide it; the saving and the one-time
// re-download on bootc < 1.15 do.
func zstdRecommendation(vsGzip float64) string {
	saving := (1 - vsGzip) * 100
	support := "Every bootc the bases ship (1.16 on Fedora 44, 1.11 on CentOS Stream 10) imports zstd layers, so upstream allows it " +
		"(`podman push --compression-format zstd` in the publish step). "
	cost := "On bootc older than 1.15 (CentOS Stream 10's 1.11) the first image after the switch re-downloads every layer, base included, once. " +
		"Plain zstd only: zstd:chunked adds partial pulls that ostree-ext does not use."
	if vsGzip > 0.9 {
		return support + fmt.Sprintf("Keep gzip: zstd saves %.0f%% of this upgrade, ", saving) +
			"because the download is one Go binary that compresses about as well either way; that does not pay for a switch. " + cost
	}
	return support + fmt.Sprintf("zstd saves %.0f%% of this upgrade: worth adopting once the hosts run bootc ≥ 1.15. ", saving) + cost
}

// downloadStored counts the layers of to that from lacks (by diff ID) and
// sums their size as stored, checking each is in the expected compression.
func downloadStored(from, to ociImage, compression string) (int, int64, error) {
	have := map[string]bool{}
	for _, l := range from.Layers {
		have[l.DiffID] = true
	}
	layers, total := 0, int64(0)
	for _, l := range to.Layers {
		if !strings.HasSuffix(l.MediaType, "+"+compression) {
			return 0, 0, fmt.Errorf("layer %s is %s, not %s", l.Digest, l.MediaType, compression)
		}
		if have[l.DiffID] {
			continue
		}
		have[l.DiffID] = true
		layers++
		total += l.Size
	}
	return layers, total, nil
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
