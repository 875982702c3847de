package signing

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// CosignVersion is the cosign the tests sign with. v2 writes the legacy
// signature format (a sha256-<digest>.sig tag) by default, the one
// containers/image reads; publish.yml asks cosign 3 for the same format.
const CosignVersion = "v2.4.1"

// ToolsDir caches tools the tests build, one directory per tool and version,
// so a machine (and CI) builds each once. TESTBOOT_TOOLS_DIR overrides it.
func ToolsDir() string {
	if d := os.Getenv("TESTBOOT_TOOLS_DIR"); d != "" {
		return d
	}
	return "/var/tmp/bootc-testboot-tools"
}

var cosignOnce struct {
	sync.Mutex
	path string
}

// Cosign returns the path of cosign CosignVersion, building it with `go
// install` through the module proxy the first time (a few minutes). A failed
// build skips the test, or fails it under CI=true.
func Cosign(t testing.TB) string {
	t.Helper()
	cosignOnce.Lock()
	defer cosignOnce.Unlock()
	if cosignOnce.path != "" {
		return cosignOnce.path
	}
	dir := filepath.Join(ToolsDir(), "cosign-"+CosignVersion)
	bin := filepath.Join(dir, "cosign")
	if _, err := os.Stat(bin); err != nil {
		harness.Require(t, "go")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// One build per machine, also across test processes.
		lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(bin); err != nil {
			start := time.Now()
			tmp, err := os.MkdirTemp(dir, ".build.")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(tmp)
			cmd := exec.Command("go", "install", "github.com/sigstore/cosign/v2/cmd/cosign@"+CosignVersion)
			cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
			if out, err := cmd.CombinedOutput(); err != nil {
				msg := fmt.Sprintf("building cosign %s (go install): %v\n%s", CosignVersion, err, harness.Tail(string(out), 20))
				if harness.Strict() {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			if err := os.Rename(filepath.Join(tmp, "cosign"), bin); err != nil {
				t.Fatal(err)
			}
			t.Logf("built cosign %s in %s (cached in %s)", CosignVersion, time.Since(start).Round(time.Second), dir)
		}
	}
	cosignOnce.path = bin
	return bin
}

// Key is a cosign key pair made for a test (empty password).
type Key struct {
	Name       string
	Private    string // cosign.key path
	Public     string // cosign.pub path
	PublicData []byte
}

// NewKey runs `cosign generate-key-pair` in a fresh directory.
func NewKey(t testing.TB, cosign, name string) Key {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cosign, "generate-key-pair")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	k := Key{Name: name, Private: filepath.Join(dir, "cosign.key"), Public: filepath.Join(dir, "cosign.pub")}
	var err error
	if k.PublicData, err = os.ReadFile(k.Public); err != nil {
		t.Fatal(err)
	}
	return k
}

// UseKeys makes dir's keys/ (a copy of the repository, as BuildOptions.Modify
// gets it) hold exactly these public keys: the path every build takes (keys/
// is copied into the image and rendered into its policy by
// configs/signing-policy.sh), only with a test's keys in place of the
// project's.
func UseKeys(dir string, keys ...Key) error {
	if err := os.RemoveAll(filepath.Join(dir, "keys")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		return err
	}
	for _, k := range keys {
		if err := os.WriteFile(filepath.Join(dir, "keys", k.Name+".pub"), k.PublicData, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Sign signs ref (REPO@sha256:...) with key as publish.yml does, but with no
// transparency log (none is reachable here) and over plain HTTP.
func Sign(t testing.TB, cosign string, key Key, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cosign, "sign", "--yes", "--key", key.Private,
		"--tlog-upload=false", "--allow-insecure-registry", ref)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=", "COSIGN_EXPERIMENTAL=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cosign sign --key %s %s: %v\n%s", key.Name, ref, err, out)
	}
}

// VerifyWithCosign runs `cosign verify --key` as the publish workflow does
// (offline: no transparency log). It returns cosign's error, nil when the
// signature verifies.
func VerifyWithCosign(t testing.TB, cosign string, pub, ref string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cosign, "verify", "--key", pub, "--insecure-ignore-tlog=true",
		"--allow-insecure-registry", ref)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("cosign verify: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// PushTiny builds a one-file image FROM scratch and pushes it to ref (a tag),
// returning the pushed manifest digest. Distinct content gives distinct digests.
func PushTiny(t testing.TB, ref, content string) string {
	t.Helper()
	ctxDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctxDir, "payload"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Containerfile"), []byte("FROM scratch\nCOPY payload /payload\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	local := "localhost/bootc-testboot-signing-tiny:" + fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	if out, err := exec.Command("podman", "build", "--quiet", "--isolation=chroot", "-t", local, ctxDir).CombinedOutput(); err != nil {
		t.Fatalf("podman build: %v\n%s", err, out)
	}
	t.Cleanup(func() { harness.RemoveImage(t, local) })
	return Push(t, local, ref)
}

// Push pushes a local image to ref over plain HTTP; it returns the digest.
func Push(t testing.TB, local, ref string) string {
	t.Helper()
	df := filepath.Join(t.TempDir(), "digest")
	if out, err := exec.Command("podman", "push", "--quiet", "--tls-verify=false", "--digestfile", df,
		local, "docker://"+ref).CombinedOutput(); err != nil {
		t.Fatalf("podman push %s %s: %v\n%s", local, ref, err, out)
	}
	d, err := os.ReadFile(df)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(d))
}

// CopyManifest stores the manifest tagged fromTag in repo also under toTag,
// byte for byte, through the registry API (the blobs are already in repo).
func CopyManifest(t testing.TB, addr, repo, fromTag, toTag string) {
	t.Helper()
	base := "http://" + addr + "/v2/" + repo + "/manifests/"
	req, _ := http.NewRequest(http.MethodGet, base+fromTag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest %s:%s: %s\n%s", repo, fromTag, resp.Status, body)
	}
	put, _ := http.NewRequest(http.MethodPut, base+toTag, bytes.NewReader(body))
	put.Header.Set("Content-Type", resp.Header.Get("Content-Type"))
	presp, err := http.DefaultClient.Do(put)
	if err != nil {
		t.Fatal(err)
	}
	pbody, _ := io.ReadAll(presp.Body)
	presp.Body.Close()
	if presp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT manifest %s:%s: %s\n%s", repo, toTag, presp.Status, pbody)
	}
}

// SigTag is the tag cosign stores a digest's signatures under
// (sigstore/cosign pkg/oci/remote SignatureTag, suffixTag: sha256-<hex>.sig).
func SigTag(digest string) string {
	return strings.Replace(digest, ":", "-", 1) + ".sig"
}
