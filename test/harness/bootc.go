package harness

// The bootc status document (org.containers.bootc/v1, see the bootc fact sheet §2) as Go
// types, to write the bootc double's scenario and to read back what a script did to it.
//
//	h := harness.BootcHost(harness.Img("v1"))   // booted v1, nothing staged, no rollback
//	h.Status.Rollback = harness.Entry(harness.Img("v0"))
//	d.SetBootc(t, h)
//	... run a script ...
//	got := d.Bootc(t)                            // the document after the run
//	got.Status.Staged.DownloadOnly

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// DefaultRef is the image reference fixtures track unless told otherwise.
const DefaultRef = "ghcr.io/bootc-testboot/bootc-testboot:latest"

// ImageRef is spec.image / ImageStatus.image.
type ImageRef struct {
	Image     string `json:"image"`
	Transport string `json:"transport"`
	// Signature is "containerPolicy" when the host enforces containers-policy.json for
	// this reference; bootc omits it for an unverified registry image.
	Signature string `json:"signature,omitempty"`
}

// ImageStatus is one image as bootc reports it.
type ImageStatus struct {
	Architecture string   `json:"architecture"`
	Image        ImageRef `json:"image"`
	ImageDigest  string   `json:"imageDigest"`
	Timestamp    *string  `json:"timestamp"`
	Version      *string  `json:"version"`
}

// Ostree is a deployment's ostree block.
type Ostree struct {
	Checksum     string `json:"checksum"`
	DeploySerial int    `json:"deploySerial"`
	Stateroot    string `json:"stateroot"`
}

// BootEntry is status.booted / staged / rollback.
type BootEntry struct {
	CachedUpdate      *ImageStatus `json:"cachedUpdate"`
	Composefs         any          `json:"composefs"`
	DownloadOnly      bool         `json:"downloadOnly"`
	Image             *ImageStatus `json:"image"`
	Incompatible      bool         `json:"incompatible"`
	Ostree            *Ostree      `json:"ostree"`
	Pinned            bool         `json:"pinned"`
	SoftRebootCapable bool         `json:"softRebootCapable"`
	Store             *string      `json:"store"`
}

// HostStatus is the document's status.
type HostStatus struct {
	Booted         *BootEntry `json:"booted"`
	ReadOnly       bool       `json:"readOnly"`
	Rollback       *BootEntry `json:"rollback"`
	RollbackQueued bool       `json:"rollbackQueued"`
	Staged         *BootEntry `json:"staged"`
	Type           *string    `json:"type"`
	UsrOverlay     any        `json:"usrOverlay"`
}

// HostSpec is the document's spec.
type HostSpec struct {
	BootOrder string    `json:"bootOrder"`
	Image     *ImageRef `json:"image"`
}

// Host is the whole `bootc status --format=json --format-version=1` document.
type Host struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   map[string]string `json:"metadata"`
	Spec       HostSpec          `json:"spec"`
	Status     HostStatus        `json:"status"`
}

func strp(s string) *string { return &s }

// Entry is a deployment of img with the fields an ostree-backed host reports.
func Entry(img *ImageStatus) *BootEntry {
	return &BootEntry{
		Image:  img,
		Ostree: &Ostree{Checksum: Digest("ostree " + img.ImageDigest)[7:], Stateroot: "default"},
		Store:  strp("ostreeContainer"),
	}
}

// BootcHost is a bootc host booted into img, with nothing staged and no rollback.
func BootcHost(img *ImageStatus) Host {
	ref := img.Image
	return Host{
		APIVersion: "org.containers.bootc/v1",
		Kind:       "BootcHost",
		Metadata:   map[string]string{"name": "host"},
		Spec:       HostSpec{BootOrder: "default", Image: &ref},
		Status:     HostStatus{Booted: Entry(img), Type: strp("bootcHost")},
	}
}

// NotBootcHost is the document of a machine not booted via bootc (e.g. a container).
func NotBootcHost() Host {
	return Host{
		APIVersion: "org.containers.bootc/v1",
		Kind:       "BootcHost",
		Metadata:   map[string]string{"name": "host"},
		Spec:       HostSpec{BootOrder: "default"},
	}
}

// SetBootc writes the bootc double's host document.
func (d *Doubles) SetBootc(t testing.TB, h Host) { d.SetJSON(t, "bootc/status.json", h) }

// SetBootcVersion sets what `bootc --version` reports (X.Y.Z).
func (d *Doubles) SetBootcVersion(t testing.TB, v string) { d.Set(t, "bootc/version", v+"\n") }

// Bootc reads the bootc double's host document back (after a script changed it).
func (d *Doubles) Bootc(t testing.TB) Host {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.State, "bootc", "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h Host
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("bootc double status.json: %v", err)
	}
	return h
}
