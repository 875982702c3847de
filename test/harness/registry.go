package harness

// Fixture images with real OCI content, published into the registry the skopeo and bootc
// doubles serve (test/doubles/lib/registry.sh). A fixture's digest is the sha256 of its
// manifest bytes, so a script that hashes what `skopeo inspect --raw` prints gets the same
// digest bootc reports.
//
//	v2 := harness.Img("v2")            // version v2, built 2026-01-03, amd64
//	d.SetRegistry(t, v2)               // the tracked tag now serves v2
//	d.Publish(t, ref, harness.ImgArch("v2", "amd64"), harness.ImgArch("v2", "arm64")) // an index

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ImageSpec describes a fixture image: what its config says.
type ImageSpec struct {
	Ref     string // the reference it is published under (DefaultRef if empty)
	Version string // org.opencontainers.image.version label ("" for none)
	Created string // org.opencontainers.image.created label and config.created
	Arch    string // OCI architecture (amd64, arm64)
}

var numberedVersion = regexp.MustCompile(`^v(\d+)$`)

// CreatedFor is the build time fixtures give a version: vN is built on day N+1 of 2026, so
// a higher N is newer; any other name is built on 2026-01-02.
func CreatedFor(version string) string {
	day := 1
	if m := numberedVersion.FindStringSubmatch(version); m != nil {
		day, _ = strconv.Atoi(m[1])
	}
	return time.Date(2026, 1, 2+day-1, 3, 4, 5, 0, time.UTC).Format(time.RFC3339)
}

// Img is an amd64 image of DefaultRef with the given version, built at CreatedFor(version).
func Img(version string) *ImageStatus { return ImgArch(version, "amd64") }

// ImgArch is Img for another architecture.
func ImgArch(version, arch string) *ImageStatus {
	return ImageSpec{Version: version, Created: CreatedFor(version), Arch: arch}.Status()
}

// ImgBuilt is Img with another build time (RFC 3339), e.g. an old build given a new name.
func ImgBuilt(version, created string) *ImageStatus {
	return ImageSpec{Version: version, Created: created, Arch: "amd64"}.Status()
}

func ociBlobs(s ImageSpec) (config, manifest []byte) {
	labels := map[string]string{"containers.bootc": "1", "org.opencontainers.image.created": s.Created}
	if s.Version != "" {
		labels["org.opencontainers.image.version"] = s.Version
	}
	// Two layers: the base, shared by every version of an architecture, and the app layer.
	base := Digest("base layer " + s.Arch)
	app := Digest("app layer " + s.Version + " " + s.Created + " " + s.Arch)
	config = mustJSON(map[string]any{
		"architecture": s.Arch, "os": "linux", "created": s.Created,
		"config": map[string]any{"Labels": labels},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{base, app}},
	})
	manifest = mustJSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
		"layers": []map[string]any{
			{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": base, "size": 812345678},
			{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": app, "size": 4567890},
		},
	})
	return config, manifest
}

// Status is the ImageStatus bootc reports for the image.
func (s ImageSpec) Status() *ImageStatus {
	if s.Ref == "" {
		s.Ref = DefaultRef
	}
	_, manifest := ociBlobs(s)
	img := &ImageStatus{
		Architecture: s.Arch,
		Image:        ImageRef{Image: s.Ref, Transport: "registry"},
		ImageDigest:  sha(manifest),
		Timestamp:    strp(s.Created),
	}
	if s.Version != "" {
		img.Version = strp(s.Version)
	}
	return img
}

func specOf(img *ImageStatus) ImageSpec {
	s := ImageSpec{Ref: img.Image.Image, Arch: img.Architecture}
	if img.Version != nil {
		s.Version = *img.Version
	}
	if img.Timestamp != nil {
		s.Created = *img.Timestamp
	}
	return s
}

// SetRegistry publishes img under its own reference: the registry now serves it there.
func (d *Doubles) SetRegistry(t testing.TB, img *ImageStatus) { d.Publish(t, img.Image.Image, img) }

// Publish stores the images' blobs and points ref's tag at them: one image as a plain
// manifest, several (one per architecture) as an OCI image index. It returns the
// digest the tag now resolves to.
func (d *Doubles) Publish(t testing.TB, ref string, imgs ...*ImageStatus) string {
	t.Helper()
	if len(imgs) == 0 {
		t.Fatal("Publish: no image")
	}
	var entries []map[string]any
	top := ""
	for _, img := range imgs {
		config, manifest := ociBlobs(specOf(img))
		if sha(manifest) != img.ImageDigest {
			t.Fatalf("Publish: %s is not a fixture image (build it with Img or ImageSpec)", img.ImageDigest)
		}
		d.putBlob(t, config)
		top = d.putBlob(t, manifest)
		entries = append(entries, map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": top, "size": len(manifest),
			"platform": map[string]string{"architecture": img.Architecture, "os": "linux"},
		})
	}
	if len(imgs) > 1 {
		top = d.putBlob(t, mustJSON(map[string]any{
			"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries,
		}))
	}
	tagsFile := filepath.Join(d.State, "registry", "tags.json")
	tags := map[string]string{}
	if b, err := os.ReadFile(tagsFile); err == nil {
		if err := json.Unmarshal(b, &tags); err != nil {
			t.Fatal(err)
		}
	}
	tags[ref] = top
	d.SetJSON(t, "registry/tags.json", tags)
	return top
}

// Unpublish removes ref's tag: the registry answers "manifest unknown".
func (d *Doubles) Unpublish(t testing.TB, ref string) {
	t.Helper()
	tags := map[string]string{}
	if b, err := os.ReadFile(filepath.Join(d.State, "registry", "tags.json")); err == nil {
		_ = json.Unmarshal(b, &tags)
	}
	delete(tags, ref)
	d.SetJSON(t, "registry/tags.json", tags)
}

// SetLastPulled sets the image bootc last pulled for img's reference (see the bootc double).
func (d *Doubles) SetLastPulled(t testing.TB, img *ImageStatus) {
	d.SetJSON(t, "bootc/pulled.json", map[string]*ImageStatus{img.Image.Image: img})
}

// Boots is how many times the simulated host rebooted.
func (d *Doubles) Boots(t testing.TB) int {
	n, _ := strconv.Atoi(strings.TrimSpace(d.Read(t, "host/boots")))
	return n
}

// WaitForBoots waits until the host has rebooted n times in all (a detached unit reboots
// it), then ends every detached unit, as the reboot would have.
func (d *Doubles) WaitForBoots(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for d.Boots(t) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the host did not reboot (%d of %d boots) within %s; calls:\n%s", d.Boots(t), n, timeout, FormatCalls(d.Calls(t)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.killUnits()
}

func (d *Doubles) putBlob(t testing.TB, b []byte) string {
	t.Helper()
	digest := sha(b)
	p := filepath.Join(d.State, "registry", "blobs", digest[len("sha256:"):])
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return digest
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fixture JSON: %v", err))
	}
	return b
}
