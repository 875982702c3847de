package signing

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

const testRepo = "ghcr.io/example/os"

// A PEM public key as cosign writes it (any PKIX key will do for rendering).
const pemKey = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZWaUKE3fqSkFvUuPWk78rsMYr8o5\n4oFahxKCmMIMms4qBQY3VEmXMtOttOf3kug0F+MDhZWGJtYcR+9WljBogQ==\n-----END PUBLIC KEY-----\n"

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// render runs configs/signing-policy.sh on a fake root holding keys and an
// optional base policy; extraPath goes first on PATH (a fake rpm).
func render(t *testing.T, root, image, extraPath string) (string, error) {
	t.Helper()
	cmd := exec.Command(harness.Path("configs", "signing-policy.sh"), image)
	path := os.Getenv("PATH")
	if extraPath != "" {
		path = extraPath + ":" + path
	}
	cmd.Env = append(os.Environ(), "TESTBOOT_ROOT="+root, "PATH="+path)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSigningPolicyRendering(t *testing.T) {
	harness.Require(t, "jq", "bash")
	t.Run("keeps the base's entries, rejects the rest", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, "etc/pki/containers/bootc-testboot/cosign.pub"), pemKey, 0o600)
		writeFile(t, filepath.Join(root, "etc/pki/containers/bootc-testboot/cosign-20270101000000.pub"), pemKey, 0o600)
		// Fedora's containers-common policy, shortened.
		writeFile(t, filepath.Join(root, "etc/containers/policy.json"), `{"default":[{"type":"insecureAcceptAnything"}],
		  "transports":{"docker":{"registry.access.redhat.com":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/etc/pki/rpm-gpg/RPM-GPG-KEY-redhat-release"}]},
		  "docker-daemon":{"":[{"type":"insecureAcceptAnything"}]}}}`, 0o644)
		if out, err := render(t, root, testRepo, ""); err != nil {
			t.Fatalf("signing-policy.sh: %v\n%s", err, out)
		}
		p := readPolicy(t, root)
		if len(p.Default) != 1 || p.Default[0]["type"] != "reject" {
			t.Errorf("default = %v, want reject", p.Default)
		}
		if r := p.Transports["docker"]["registry.access.redhat.com"]; len(r) != 1 || r[0]["type"] != "signedBy" {
			t.Errorf("the base's entry for registry.access.redhat.com was not kept: %v", r)
		}
		if r := p.Transports["docker"][""]; len(r) != 1 || r[0]["type"] != "insecureAcceptAnything" {
			t.Errorf(`docker[""] = %v, want the base's default`, r)
		}
		req := p.Transports["docker"][testRepo]
		if len(req) != 1 {
			t.Fatalf("docker[%s] = %v", testRepo, req)
		}
		got, _ := json.Marshal(req[0]["keyPaths"])
		if want := `["/etc/pki/containers/bootc-testboot/cosign-20270101000000.pub","/etc/pki/containers/bootc-testboot/cosign.pub"]`; string(got) != want {
			t.Errorf("keyPaths = %s, want %s", got, want)
		}
		if fi, err := os.Stat(filepath.Join(root, "etc/pki/containers/bootc-testboot/cosign.pub")); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("public key mode: %v %v, want 0644", fi.Mode(), err)
		}
	})
	t.Run("a base without policy gets insecureAcceptAnything per transport", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, "etc/pki/containers/bootc-testboot/cosign.pub"), pemKey, 0o644)
		if out, err := render(t, root, testRepo, ""); err != nil {
			t.Fatalf("signing-policy.sh: %v\n%s", err, out)
		}
		p := readPolicy(t, root)
		if r := p.Transports["containers-storage"][""]; len(r) != 1 || r[0]["type"] != "insecureAcceptAnything" {
			t.Errorf(`containers-storage[""] = %v`, r)
		}
	})
	t.Run("old bootc gets no install config", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, "etc/pki/containers/bootc-testboot/cosign.pub"), pemKey, 0o644)
		bin := t.TempDir()
		writeFile(t, filepath.Join(bin, "rpm"), "#!/bin/sh\nprintf 1.11.0\n", 0o755)
		out, err := render(t, root, testRepo, bin)
		if err != nil {
			t.Fatalf("signing-policy.sh: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(root, "usr/lib/bootc/install/10-bootc-testboot-sigpolicy.toml")); err == nil {
			t.Errorf("bootc 1.11 would refuse enforce-container-sigpolicy (deny_unknown_fields), but the file was written")
		}
		if !strings.Contains(out, "predates install.enforce-container-sigpolicy") {
			t.Errorf("no note about the old bootc:\n%s", out)
		}
		writeFile(t, filepath.Join(bin, "rpm"), "#!/bin/sh\nprintf 1.16.2\n", 0o755)
		if out, err := render(t, root, testRepo, bin); err != nil {
			t.Fatalf("signing-policy.sh: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(root, "usr/lib/bootc/install/10-bootc-testboot-sigpolicy.toml")); err != nil {
			t.Errorf("bootc 1.16.2: install config missing: %v", err)
		}
	})
	for _, tc := range []struct {
		name, image, file, content, want string
	}{
		{"no key", testRepo, "", "", "no public key in keys/"},
		{"private key in keys/", testRepo, "cosign.key", "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n", "is not a public key file"},
		{"not PEM", testRepo, "cosign.pub", "ssh-ed25519 AAAA\n", "is not a PEM public key"},
		{"tag in IMAGE", testRepo + ":latest", "cosign.pub", pemKey, "is not a repository name"},
		{"upper case IMAGE", "ghcr.io/Example/os", "cosign.pub", pemKey, "is not a repository name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "etc/pki/containers/bootc-testboot"), 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.file != "" {
				writeFile(t, filepath.Join(root, "etc/pki/containers/bootc-testboot", tc.file), tc.content, 0o644)
			}
			out, err := render(t, root, tc.image, "")
			if err == nil || !strings.Contains(out, tc.want) {
				t.Errorf("signing-policy.sh %s: err %v, output %q, want a failure saying %q", tc.image, err, out, tc.want)
			}
			if _, err := os.Stat(filepath.Join(root, "etc/containers/policy.json")); err == nil {
				t.Errorf("a policy was written despite the error")
			}
		})
	}
}

// statusDoc is a bootc status document following ref with the given spec signature
// ("" for none, as bootc prints an unverified origin).
func statusDoc(ref string, signature any) string {
	img := map[string]any{"image": ref, "transport": "registry"}
	if signature != "" {
		img["signature"] = signature
	}
	booted := map[string]any{"image": map[string]any{"image": img, "imageDigest": "sha256:" + strings.Repeat("a", 64), "version": "v1"}}
	doc := map[string]any{
		"apiVersion": "org.containers.bootc/v1", "kind": "BootcHost", "metadata": map[string]any{"name": "host"},
		"spec":   map[string]any{"bootOrder": "default", "image": img},
		"status": map[string]any{"booted": booted, "staged": nil, "rollback": nil, "type": "bootcHost"},
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

// fakeBootc is a bootc that prints status and records the other calls.
func fakeBootc(t *testing.T, status string, switchFails bool) (bin, log string) {
	t.Helper()
	bin = t.TempDir()
	log = filepath.Join(bin, "calls")
	writeFile(t, filepath.Join(bin, "status.json"), status, 0o644)
	fail := "0"
	if switchFails {
		fail = "1"
	}
	writeFile(t, filepath.Join(bin, "bootc"), `#!/bin/bash
if [[ $1 == status ]]; then cat "$(dirname "$0")/status.json"; exit 0; fi
printf '%s\n' "$*" >>"$(dirname "$0")/calls"
[[ $1 == switch ]] && exit `+fail+`
exit 0
`, 0o755)
	return bin, log
}

func signingRoot(t *testing.T, repo string) string {
	t.Helper()
	root := t.TempDir()
	if repo != "" {
		writeFile(t, filepath.Join(root, "usr/share/bootc-testboot/signing.json"),
			`{"repository":"`+repo+`","keys":["/etc/pki/containers/bootc-testboot/cosign.pub"]}`, 0o644)
	}
	return root
}

func TestEnforcementUnitScript(t *testing.T) {
	harness.Require(t, "jq", "bash", "flock")
	for _, tc := range []struct {
		name, repo, ref, sig string
		switchFails          bool
		wantCode             int
		wantCall, wantOut    string
	}{
		{"unverified origin of our repository is switched", testRepo, testRepo + ":latest", "", false, 0,
			"switch --enforce-container-sigpolicy --retain " + testRepo + ":latest", "now requires a signature"},
		{"already enforcing", testRepo, testRepo + ":latest", "containerPolicy", false, 0, "", "already enforces"},
		{"another repository is left alone", testRepo, "quay.io/other/os:1", "", false, 0, "", "not " + testRepo},
		{"no signing.json", "", testRepo + ":latest", "", false, 0, "", "declares no signature policy"},
		{"the registry serves an unsigned image", testRepo, testRepo + ":latest", "", true, 1,
			"switch --enforce-container-sigpolicy --retain " + testRepo + ":latest", "could not be pulled under /etc/containers/policy.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin, log := fakeBootc(t, statusDoc(tc.ref, tc.sig), tc.switchFails)
			cmd := exec.Command(harness.Path("configs", "enforce-sigpolicy.sh"))
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"),
				"TESTBOOT_ROOT="+signingRoot(t, tc.repo), "TESTBOOT_LOCK="+filepath.Join(t.TempDir(), "lock"))
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode || !strings.Contains(string(out), tc.wantOut) {
				t.Errorf("exit %d, output %q; want exit %d and %q", code, out, tc.wantCode, tc.wantOut)
			}
			calls, _ := os.ReadFile(log)
			if got := strings.TrimSpace(string(calls)); got != tc.wantCall {
				t.Errorf("bootc calls %q, want %q", got, tc.wantCall)
			}
		})
	}
}

// verify-instance.sh's bootc-sigpolicy line for one simulated host.
func sigpolicyLine(t *testing.T, status, repo string, policy string, bootcHost bool) string {
	t.Helper()
	d := harness.NewDoubles(t)
	d.Set(t, "bootc/status.json", status)
	root := signingRoot(t, repo)
	if policy != "" {
		writeFile(t, filepath.Join(root, "etc/containers/policy.json"), policy, 0o644)
	}
	marker := filepath.Join(t.TempDir(), "ostree-booted")
	if bootcHost {
		writeFile(t, marker, "", 0o644)
	}
	units := t.TempDir()
	r := d.RunCmd(t, harness.Cmd{
		Script: "verify-instance.sh",
		Args:   []string{"--url", "http://127.0.0.1:9", "--unit-dir", units, "--timeout", "2", "--min-free-mb", "0", "--min-free-percent", "0"},
		Env:    []string{"TESTBOOT_OSTREE_BOOTED=" + marker, "TESTBOOT_NO_JOURNAL=1", "TESTBOOT_ROOT=" + root},
	})
	for _, l := range strings.Split(r.Stdout, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[1] == "bootc-sigpolicy" {
			return l
		}
	}
	t.Fatalf("no bootc-sigpolicy line\n%s", r.Output())
	return ""
}

func TestVerifyInstanceSigpolicyCheck(t *testing.T) {
	harness.Require(t, "jq", "curl", "bash", "timeout")
	good := `{"default":[{"type":"reject"}],"transports":{"docker":{"` + testRepo + `":[{"type":"sigstoreSigned","keyPaths":["/etc/pki/containers/bootc-testboot/cosign.pub"],"signedIdentity":{"type":"matchRepository"}}],"":[{"type":"insecureAcceptAnything"}]}}}`
	edited := `{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"` + testRepo + `":[{"type":"insecureAcceptAnything"}]}}}`
	for _, tc := range []struct {
		name, status, repo, policy string
		bootcHost                  bool
		want                       []string
	}{
		{"enforcing", statusDoc(testRepo+":latest", "containerPolicy"), testRepo, good, true,
			[]string{"PASS", "signature by /etc/pki/containers/bootc-testboot/cosign.pub for " + testRepo + ":latest"}},
		{"by digest, enforcing", statusDoc(testRepo+"@sha256:"+strings.Repeat("b", 64), "containerPolicy"), testRepo, good, true,
			[]string{"PASS"}},
		{"origin does not enforce", statusDoc(testRepo+":latest", ""), testRepo, good, true,
			[]string{"FAIL", "spec.image.signature: none", "bootc-testboot-sigpolicy.service"}},
		{"ostree remote", statusDoc(testRepo+":latest", map[string]string{"ostreeRemote": "fedora"}), testRepo, good, true,
			[]string{"FAIL", "spec.image.signature: ostreeRemote"}},
		{"policy edited on the host", statusDoc(testRepo+":latest", "containerPolicy"), testRepo, edited, true,
			[]string{"FAIL", "does not require a sigstore signature for " + testRepo}},
		{"image without signing.json", statusDoc(testRepo+":latest", ""), "", "", true, []string{"SKIP", "declares no signature policy"}},
		{"host follows another repository", statusDoc("quay.io/other/os:1", ""), testRepo, good, true, []string{"SKIP", "not " + testRepo}},
		{"not a bootc host", statusDoc(testRepo+":latest", ""), testRepo, good, false, []string{"SKIP", "not booted by ostree"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := sigpolicyLine(t, tc.status, tc.repo, tc.policy, tc.bootcHost)
			if !strings.HasPrefix(line, tc.want[0]+"  ") {
				t.Errorf("got %q, want %s", line, tc.want[0])
			}
			for _, w := range tc.want[1:] {
				if !strings.Contains(line, w) {
					t.Errorf("got %q, want it to contain %q", line, w)
				}
			}
		})
	}
}
