package bench

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ociImage is one image of an OCI layout directory: its config digest (the
// image ID podman shows) and its layers in order.
type ociImage struct {
	ID     string
	Layers []ociLayer
}

type ociLayer struct {
	Digest    string // digest of the blob as stored (what a registry serves)
	DiffID    string // digest of the uncompressed tar: the layer's identity
	MediaType string
	Size      int64
	Step      string // the build step that made it, when known
	path      string
}

// exportOCI copies an image from root's container storage into an OCI layout
// directory under tag, with skopeo's extra options (such as the layer
// compression). Several images share one directory, so common layers are
// written once.
func exportOCI(ctx context.Context, ref, dir, tag string, options ...string) error {
	args := append([]string{"copy", "--quiet"}, options...)
	args = append(args, "containers-storage:"+ref, "oci:"+dir+":"+tag)
	out, err := exec.CommandContext(ctx, "skopeo", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("skopeo copy %s to oci:%s:%s: %v\n%s", ref, dir, tag, err, out)
	}
	return nil
}

// readOCI reads image tag of the OCI layout at dir.
func readOCI(dir, tag string) (ociImage, error) {
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := readJSON(filepath.Join(dir, "index.json"), &index); err != nil {
		return ociImage{}, err
	}
	manifestDigest := ""
	for _, m := range index.Manifests {
		if m.Annotations["org.opencontainers.image.ref.name"] == tag {
			manifestDigest = m.Digest
		}
	}
	if manifestDigest == "" {
		return ociImage{}, fmt.Errorf("%s: no image tagged %q", dir, tag)
	}
	var manifest struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
			Size      int64  `json:"size"`
		} `json:"layers"`
	}
	if err := readJSON(blobPath(dir, manifestDigest), &manifest); err != nil {
		return ociImage{}, err
	}
	var config struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := readJSON(blobPath(dir, manifest.Config.Digest), &config); err != nil {
		return ociImage{}, err
	}
	if len(config.RootFS.DiffIDs) != len(manifest.Layers) {
		return ociImage{}, fmt.Errorf("%s:%s: %d layers but %d diff_ids", dir, tag, len(manifest.Layers), len(config.RootFS.DiffIDs))
	}
	img := ociImage{ID: manifest.Config.Digest}
	for i, l := range manifest.Layers {
		img.Layers = append(img.Layers, ociLayer{
			Digest: l.Digest, DiffID: config.RootFS.DiffIDs[i], MediaType: l.MediaType,
			Size: l.Size, path: blobPath(dir, l.Digest),
		})
	}
	return img, nil
}

func blobPath(dir, digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(dir, "blobs", algo, hex)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Download is what a host that runs one image fetches to move to another:
// the layers it does not have yet.
type Download struct {
	Layers    int        `json:"layers"`
	Bytes     int64      `json:"bytes"`      // uncompressed tar
	GzipBytes int64      `json:"gzip_bytes"` // as a registry stores them
	New       []NewLayer `json:"new_layers,omitempty"`
}

// NewLayer is one layer in a download.
type NewLayer struct {
	Step      string `json:"step"`
	Bytes     int64  `json:"bytes"`
	GzipBytes int64  `json:"gzip_bytes"`
}

// download sums the layers of to that from lacks, identified by their
// uncompressed content (diff ID), which is how a host recognises a layer it
// already has.
func download(from, to ociImage) (Download, error) {
	have := map[string]bool{}
	for _, l := range from.Layers {
		have[l.DiffID] = true
	}
	var d Download
	for _, l := range to.Layers {
		if have[l.DiffID] {
			continue
		}
		have[l.DiffID] = true // a layer repeated inside one image downloads once
		raw, gz, err := layerSizes(l)
		if err != nil {
			return d, err
		}
		d.Layers++
		d.Bytes += raw
		d.GzipBytes += gz
		d.New = append(d.New, NewLayer{Step: l.Step, Bytes: raw, GzipBytes: gz})
	}
	return d, nil
}

// layerSizes returns the uncompressed and gzip-compressed size of a layer,
// whichever form the layout stored it in.
func layerSizes(l ociLayer) (raw, gz int64, err error) {
	f, err := os.Open(l.path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	if strings.HasSuffix(l.MediaType, "+gzip") || strings.HasSuffix(l.MediaType, ".gzip") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, 0, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		raw, err = io.Copy(io.Discard, zr)
		if err != nil {
			return 0, 0, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		return raw, l.Size, nil
	}
	if strings.Contains(l.MediaType, "zstd") {
		return 0, 0, fmt.Errorf("layer %s: zstd layers are not handled (media type %s)", l.Digest, l.MediaType)
	}
	gz, err = gzipSize(f)
	if err != nil {
		return 0, 0, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	return l.Size, gz, nil
}

// gzipSize is the size of r compressed with gzip at the default level, the
// level podman and skopeo use when they push a layer to a registry.
func gzipSize(r io.Reader) (int64, error) {
	var c countWriter
	zw := gzip.NewWriter(&c)
	if _, err := io.Copy(zw, r); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return c.n, nil
}

func gzipFileSize(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return gzipSize(f)
}

// zstdFileSize is the size of path compressed by the zstd tool at level 3,
// the level containers/image uses for zstd layers; 0 when the tool is missing.
func zstdFileSize(ctx context.Context, path string) (int64, error) {
	if _, err := exec.LookPath("zstd"); err != nil {
		return 0, nil
	}
	cmd := exec.CommandContext(ctx, "zstd", "-3", "-c", "-q", path)
	var c countWriter
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &c, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("zstd %s: %v\n%s", path, err, stderr.String())
	}
	return c.n, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
