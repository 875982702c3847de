package signing

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// buildWithKeys builds the real Containerfile (make build) for repository repo
// with keys/ holding exactly keys (UseKeys). The returned root is the built
// image, mounted.
func buildWithKeys(t *testing.T, repo, version string, keys ...Key) (harness.Image, string) {
	t.Helper()
	img := harness.BuildImage(t, harness.BuildOptions{
		Image:      repo,
		SignedRepo: repo,
		Version:    version,
		Modify:     func(dir string) error { return UseKeys(dir, keys...) },
	})
	return img, harness.MountImage(t, img.Ref)
}

type policyDoc struct {
	Default    []map[string]any                       `json:"default"`
	Transports map[string]map[string][]map[string]any `json:"transports"`
}

func readPolicy(t *testing.T, root string) policyDoc {
	t.Helper()
	var p policyDoc
	if err := json.Unmarshal([]byte(harness.ReadFile(t, filepath.Join(root, "etc/containers/policy.json"))), &p); err != nil {
		t.Fatalf("policy.json of the image: %v", err)
	}
	return p
}

// wantAccepted / wantRejected evaluate ref with the image's files.
func wantAccepted(t *testing.T, root, ref, why string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Evaluate(ctx, root, ref); err != nil {
		t.Errorf("%s: %s was refused, want accepted: %v", why, ref, err)
	}
}

func wantRejected(t *testing.T, root, ref, why, errPart string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Evaluate(ctx, root, ref)
	if err == nil {
		t.Errorf("%s: %s was accepted, want refused", why, ref)
		return
	}
	if !strings.Contains(err.Error(), errPart) {
		t.Errorf("%s: %s refused with %q, want an error containing %q", why, ref, err, errPart)
	}
}

// The image as hosts get it, against a real registry with cosign signatures.
// Keys are made here; the image under test is built with them in keys/ (the
// same build path as the project's committed key), and the policy, the
// registries.d entry and the public keys are read from the built image.
func TestOnlyOurSignedImagesAreAccepted(t *testing.T) {
	harness.RequireImageTools(t)
	harness.Require(t, "docker-registry")
	if !evaluatorBuilt {
		t.Fatal(Evaluate(context.Background(), "", ""))
	}
	cosign := Cosign(t)
	ours := NewKey(t, cosign, "cosign")
	next := NewKey(t, cosign, "cosign-next")
	other := NewKey(t, cosign, "other")

	reg := harness.StartDockerRegistry(t)
	repo := reg.Addr + "/testboot/os"
	repoPath := "testboot/os"

	img, root := buildWithKeys(t, repo, "sig-1", ours)

	// What the image says, before any pull.
	t.Run("image contents", func(t *testing.T) {
		p := readPolicy(t, root)
		// bootc refuses to enforce a policy whose default is insecureAcceptAnything
		// (bootc-dev/bootc crates/ostree-ext/src/container/skopeo.rs
		// ContainerPolicy::is_default_insecure).
		if len(p.Default) != 1 || p.Default[0]["type"] != "reject" {
			t.Errorf("policy default = %v, want [{type: reject}]", p.Default)
		}
		reqs := p.Transports["docker"][repo]
		if len(reqs) != 1 || reqs[0]["type"] != "sigstoreSigned" {
			t.Fatalf("policy for %s (the IMAGE the build was given) = %v, want one sigstoreSigned requirement (does scripts/build-image.sh pass --build-arg IMAGE?); policy: %v", repo, reqs, p.Transports["docker"])
		}
		if id, _ := reqs[0]["signedIdentity"].(map[string]any); id["type"] != "matchRepository" {
			t.Errorf("signedIdentity = %v, want matchRepository", reqs[0]["signedIdentity"])
		}
		paths, _ := reqs[0]["keyPaths"].([]any)
		if len(paths) != 1 {
			t.Fatalf("keyPaths = %v, want the one key of keys/", reqs[0]["keyPaths"])
		}
		p0, _ := paths[0].(string)
		if got := harness.ReadFile(t, filepath.Join(root, p0)); got != string(ours.PublicData) {
			t.Errorf("%s in the image is not keys/cosign.pub:\n%s", p0, got)
		}
		if !strings.HasPrefix(p0, "/etc/pki/containers/") {
			t.Errorf("key path %s is not under /etc/pki/containers/", p0)
		}
		for _, tr := range []string{"docker", "containers-storage", "oci", "oci-archive", "dir", "docker-archive", "docker-daemon"} {
			if r := p.Transports[tr][""]; len(r) != 1 || r[0]["type"] != "insecureAcceptAnything" {
				t.Errorf("transports.%s[\"\"] = %v, want what the base's default said (insecureAcceptAnything)", tr, r)
			}
		}
		regd := harness.ReadFile(t, filepath.Join(root, "etc/containers/registries.d/bootc-testboot.yaml"))
		if !strings.Contains(regd, "\n  "+repo+":\n    use-sigstore-attachments: true\n") {
			t.Errorf("registries.d does not turn on sigstore attachments for %s:\n%s", repo, regd)
		}
		inst := harness.ReadFile(t, filepath.Join(root, "usr/lib/bootc/install/10-bootc-testboot-sigpolicy.toml"))
		if !strings.Contains(inst, "[install]\nenforce-container-sigpolicy = true\n") {
			t.Errorf("bootc install config does not enforce the policy:\n%s", inst)
		}
		var info struct {
			Repository string   `json:"repository"`
			Keys       []string `json:"keys"`
		}
		if err := json.Unmarshal([]byte(harness.ReadFile(t, filepath.Join(root, "usr/share/bootc-testboot/signing.json"))), &info); err != nil {
			t.Fatal(err)
		}
		if info.Repository != repo || !slices.Equal(info.Keys, []string{p0}) {
			t.Errorf("signing.json = %+v, want repository %s and keys [%s]", info, repo, p0)
		}
		link, err := os.Readlink(filepath.Join(root, "usr/lib/systemd/system/multi-user.target.wants/bootc-testboot-sigpolicy.service"))
		if err != nil || link != "../bootc-testboot-sigpolicy.service" {
			t.Errorf("bootc-testboot-sigpolicy.service is not enabled in /usr: %q, %v", link, err)
		}
	})

	// 1. Our image, pushed and signed with our key, as publish does.
	d1 := Push(t, img.Ref, repo+":v1")
	Push(t, img.Ref, repo+":latest")
	Sign(t, cosign, ours, repo+"@"+d1)
	wantAccepted(t, root, repo+":v1", "our image signed with our key")
	wantAccepted(t, root, repo+"@"+d1, "our image by digest")
	wantAccepted(t, root, repo+":latest", "latest on our signed image")
	if err := VerifyWithCosign(t, cosign, filepath.Join(root, "etc/pki/containers/bootc-testboot/cosign.pub"), repo+"@"+d1); err != nil {
		t.Errorf("cosign verify with the key the image ships (publish's check): %v", err)
	}

	// 2. An unsigned image in our repository.
	d2 := PushTiny(t, repo+":unsigned", "unsigned\n")
	wantRejected(t, root, repo+":unsigned", "unsigned image", "A signature was required, but no signature exists")

	// 3. Signed, but with a key the image does not ship.
	d3 := PushTiny(t, repo+":other-key", "signed with another key\n")
	Sign(t, cosign, other, repo+"@"+d3)
	wantRejected(t, root, repo+":other-key", "signed with another key", "cryptographic signature verification failed")
	if err := VerifyWithCosign(t, cosign, filepath.Join(root, "etc/pki/containers/bootc-testboot/cosign.pub"), repo+"@"+d3); err == nil {
		t.Errorf("cosign verify accepted a signature by another key")
	}

	// 4. The tag hosts follow, moved from our signed image to an unsigned one.
	CopyManifest(t, reg.Addr, repoPath, "unsigned", "latest")
	wantRejected(t, root, repo+":latest", "latest moved to an unsigned digest", "A signature was required, but no signature exists")

	// 5. Our valid signature of d1 copied onto the unsigned d2: the signature
	// verifies with our key, but it names another digest.
	CopyManifest(t, reg.Addr, repoPath, SigTag(d1), SigTag(d2))
	wantRejected(t, root, repo+"@"+d2, "a signature of another digest", "Signature for digest "+d1+" does not match")

	// Other repositories keep working as before (podman pulls on the host).
	PushTiny(t, reg.Addr+"/someone/else:1", "another repository\n")
	wantAccepted(t, root, reg.Addr+"/someone/else:1", "an unsigned image of another repository")

	// 6. Key rotation: an image that ships the old and the new key accepts
	// either signature, and still nothing else.
	_, rotRoot := buildWithKeys(t, repo, "sig-2", ours, next)
	p := readPolicy(t, rotRoot)
	if paths, _ := p.Transports["docker"][repo][0]["keyPaths"].([]any); len(paths) != 2 {
		t.Fatalf("rotation image keyPaths = %v, want both keys", paths)
	}
	d6 := PushTiny(t, repo+":next-key", "signed with the next key\n")
	Sign(t, cosign, next, repo+"@"+d6)
	wantAccepted(t, rotRoot, repo+":v1", "rotation: signed with the old key")
	wantAccepted(t, rotRoot, repo+":next-key", "rotation: signed with the new key")
	wantRejected(t, rotRoot, repo+":other-key", "rotation: signed with a key neither image ships", "cryptographic signature verification failed")
	PushTiny(t, repo+":unsigned-2", "unsigned, after the rotation\n")
	wantRejected(t, rotRoot, repo+":unsigned-2", "rotation: unsigned", "A signature was required, but no signature exists")
	// A host still on the one-key image refuses the new key: why the secret
	// changes only once every host runs an image with both keys.
	wantRejected(t, root, repo+":next-key", "one-key image, new key", "cryptographic signature verification failed")
}
