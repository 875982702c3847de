// Package push tests scripts/push-image.sh against a real registry on loopback.
package push

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// startRegistry is a real registry on loopback for this test (harness.StartDockerRegistry).
func startRegistry(t *testing.T) string { return harness.StartDockerRegistry(t).Addr }

// buildTinyImage builds FROM scratch + one file (+ extra Containerfile lines) under
// name:tag; removed at cleanup.
func buildTinyImage(t *testing.T, ref, content string, extra ...string) {
	t.Helper()
	ctx := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctx, "payload"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	cf := "FROM scratch\nCOPY payload /payload\n" + strings.Join(extra, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("podman", "build", "--quiet", "--isolation=chroot", "-t", ref, ctx).CombinedOutput()
	if err != nil {
		t.Fatalf("podman build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("podman", "rmi", "--force", ref).Run() })
}

type result struct {
	code           int
	stdout, stderr string
}

func runPush(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Path("scripts", "push-image.sh"), args...)
	cmd.Env = append(os.Environ(), "TESTBOOT_NO_JOURNAL=1", "IMAGE=", "VERSION=", "EXTRA_TAGS=", "TLS_VERIFY=")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return result{code, stdout.String(), stderr.String()}
}

func remoteDigest(t *testing.T, ref string) string {
	t.Helper()
	out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "docker://"+ref).Output()
	if err != nil {
		t.Fatalf("skopeo inspect %s: %v", ref, err)
	}
	var info struct{ Digest string }
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatal(err)
	}
	return info.Digest
}

// remoteTags lists a repository's tags through the registry API; a repository
// that was never pushed to has none.
func remoteTags(t *testing.T, addr, name string) []string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/v2/" + name + "/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var info struct{ Tags []string }
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tags of %s: status %d, %v", name, resp.StatusCode, err)
	}
	return info.Tags
}

// `make push` end to end against a real registry: every tag lands on one
// digest, and that digest is what output/digest says.
func TestPushImageToLocalRegistry(t *testing.T) {
	harness.Require(t, "podman", "skopeo", "docker-registry")
	harness.RequireRoot(t)
	addr := startRegistry(t)
	repo := addr + "/testboot/push"
	buildTinyImage(t, repo+":1.2.3", "version 1.2.3\n")
	out := t.TempDir()

	r := runPush(t, []string{"IMAGE=" + repo, "VERSION=1.2.3", "OUTPUT=" + out, "EXTRA_TAGS=0123abc"},
		"--tls-verify=false", "--tag", "main")
	if r.code != 0 {
		t.Fatalf("push-image.sh exit %d\n%s", r.code, r.stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "digest"))
	if err != nil {
		t.Fatal(err)
	}
	digest := strings.TrimSpace(string(data))
	want := remoteDigest(t, repo+":1.2.3")
	if digest != want {
		t.Fatalf("output/digest = %q, registry says %q", digest, want)
	}
	for _, tag := range []string{"latest", "0123abc", "main"} {
		if got := remoteDigest(t, repo+":"+tag); got != digest {
			t.Errorf("tag %s has digest %s, want %s", tag, got, digest)
		}
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if last := lines[len(lines)-1]; last != repo+"@"+digest {
		t.Errorf("last stdout line = %q, want %q", last, repo+"@"+digest)
	}

	// A new build moves latest; the old version tag stays where it was.
	buildTinyImage(t, repo+":1.2.4", "version 1.2.4\n")
	r = runPush(t, []string{"IMAGE=" + repo, "VERSION=1.2.4", "OUTPUT=" + out, "TLS_VERIFY=false"})
	if r.code != 0 {
		t.Fatalf("second push exit %d\n%s", r.code, r.stderr)
	}
	data, _ = os.ReadFile(filepath.Join(out, "digest"))
	second := strings.TrimSpace(string(data))
	if second == digest || remoteDigest(t, repo+":latest") != second || remoteDigest(t, repo+":1.2.3") != digest {
		t.Errorf("after second push: digest %s (first %s), latest %s, 1.2.3 %s",
			second, digest, remoteDigest(t, repo+":latest"), remoteDigest(t, repo+":1.2.3"))
	}
	tags := remoteTags(t, addr, "testboot/push")
	sort.Strings(tags)
	if got, want := strings.Join(tags, " "), "0123abc 1.2.3 1.2.4 latest main"; got != want {
		t.Errorf("registry tags = %q, want %q", got, want)
	}
}

// Bad input: a one-line error, the right exit code, nothing pushed, no digest file.
func TestPushImageRejectsBadInput(t *testing.T) {
	harness.Require(t, "podman", "skopeo", "docker-registry")
	harness.RequireRoot(t)
	addr := startRegistry(t)
	repo := addr + "/testboot/reject"
	buildTinyImage(t, repo+":v1", "reject\n")

	cases := []struct {
		name    string
		env     []string
		args    []string
		code    int
		message string
	}{
		{"no image", []string{"VERSION=v1"}, nil, 2, "no image name"},
		{"no version", []string{"IMAGE=" + repo}, nil, 2, "no version"},
		{"tag inside image", []string{"IMAGE=" + repo + ":v1", "VERSION=v1"}, nil, 2, "without tag or digest"},
		{"upper case image", []string{"IMAGE=" + addr + "/Testboot/reject", "VERSION=v1"}, nil, 2, "lower case"},
		{"bad version", []string{"IMAGE=" + repo, "VERSION=v1/../x"}, nil, 2, "not a valid tag"},
		{"bad extra tag", []string{"IMAGE=" + repo, "VERSION=v1"}, []string{"--tag", "-x", "--tls-verify=false"}, 2, "--tag '-x' is not a valid tag"},
		{"missing tag value", []string{"IMAGE=" + repo, "VERSION=v1"}, []string{"--tag", "--no-latest"}, 2, "--tag needs a value"},
		{"insecure remote", []string{"IMAGE=ghcr.io/example/reject", "VERSION=v1"}, []string{"--tls-verify=false"}, 2, "only allowed for a registry on localhost"},
		{"bad tls value", []string{"IMAGE=" + repo, "VERSION=v1"}, []string{"--tls-verify=maybe"}, 2, "must be true or false"},
		{"unknown flag", []string{"IMAGE=" + repo, "VERSION=v1"}, []string{"--force"}, 2, "unknown option '--force'"},
		{"image not built", []string{"IMAGE=" + repo, "VERSION=v2"}, []string{"--tls-verify=false"}, 1, "local image '" + repo + ":v2' not found"},
		{"registry refuses TLS", []string{"IMAGE=" + repo, "VERSION=v1"}, nil, 1, "push of " + repo + ":v1 failed"},
	}
	// An image built on the Debian stand-in goes to a registry on this machine only.
	standin := "ghcr.io/example/standin"
	buildTinyImage(t, standin+":v1", "standin\n", "LABEL org.opencontainers.image.base.name=localhost/bootc-testboot-standin:abc")
	local := addr + "/testboot/standin"
	buildTinyImage(t, local+":v1", "standin\n", "LABEL org.opencontainers.image.base.name=localhost/bootc-testboot-standin:abc")
	cases = append(cases, struct {
		name    string
		env     []string
		args    []string
		code    int
		message string
	}{"stand-in to a real registry", []string{"IMAGE=" + standin, "VERSION=v1"}, nil, 1, "built on the local Debian stand-in"})
	if r := runPush(t, []string{"IMAGE=" + local, "VERSION=v1", "OUTPUT=" + t.TempDir()}, "--tls-verify=false"); r.code != 0 {
		t.Errorf("a stand-in image to the local registry was refused: exit %d\n%s", r.code, r.stderr)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			r := runPush(t, append(tc.env, "OUTPUT="+out), tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.message) {
				t.Errorf("stderr %q does not name the problem (%q)", r.stderr, tc.message)
			}
			if errLines := strings.Count(strings.TrimSpace(lastError(r.stderr)), "\n"); errLines != 0 {
				t.Errorf("error is not one line: %q", r.stderr)
			}
			if _, err := os.Stat(filepath.Join(out, "digest")); err == nil {
				t.Error("a digest file was written for a failed push")
			}
		})
	}
	if tags := remoteTags(t, addr, "testboot/reject"); len(tags) != 0 {
		t.Errorf("bad input pushed tags %v", tags)
	}
}

// lastError is the stderr without the script's progress lines and podman's own output.
func lastError(stderr string) string {
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "push-image.sh: error:") || strings.Contains(l, "(see --help)") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestPushImageHelp(t *testing.T) {
	r := runPush(t, nil, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "Usage: push-image.sh") || !strings.Contains(r.stdout, "--tls-verify=false") {
		t.Fatalf("--help: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
