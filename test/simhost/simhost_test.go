package simhost

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// hello's visit counter in the host's /var (DynamicUser + StateDirectory=hello).
const visitsFile = "lib/private/hello/visits"

// An /etc file the image ships and v2 changes: a host that did not edit it
// gets v2's version at the merge.
const nginxConf = "/etc/nginx/conf.d/bootc-testboot.conf"

type published struct {
	harness.Image
	Pushed string // the manifest digest in the registry (output/digest of make push)
}

// fixture is the registry and the images the scenarios publish.
type fixture struct {
	reg  *harness.DockerRegistry
	repo string // REGISTRY/testboot/os, what make push pushes to
	ref  string // repo:latest, what hosts track
	base int64  // SOURCE_DATE_EPOCH of v1; later versions are built later
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	harness.RequireImageTools(t)
	harness.Require(t, "systemd-nspawn", "skopeo", "docker-registry", "ssh", "ssh-keygen", "cp", "ldd", "jq", "curl")
	reg := harness.StartDockerRegistry(t)
	repo := reg.Addr + "/testboot/os"
	return &fixture{reg: reg, repo: repo, ref: repo + ":latest", base: time.Now().Add(-time.Hour).Unix()}
}

// build builds version n of the OS image: v1 is the repository as it is;
// later versions add a comment line to configs/nginx.conf, so /etc has a
// default that changes, and are built later (their build time is newer).
func (f *fixture) build(t *testing.T, n int) harness.Image {
	t.Helper()
	opts := harness.BuildOptions{Image: f.repo, SignedRepo: f.repo, Version: "sim-v" + strconv.Itoa(n),
		SourceDateEpoch: f.base + int64(n)*100, BaseImage: os.Getenv("BOOT_BASE_IMAGE")}
	if n > 1 {
		opts.Modify = func(dir string) error {
			p := filepath.Join(dir, "configs", "nginx.conf")
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(p, append(b, []byte(nginxMark(n)+"\n")...), 0o644)
		}
	}
	return harness.BuildImage(t, opts)
}

func nginxMark(n int) string { return "# simhost image v" + strconv.Itoa(n) }

// publish pushes an image with `make push` (version tag and latest).
func (f *fixture) publish(t *testing.T, img harness.Image) published {
	t.Helper()
	out := t.TempDir()
	r := (&Host{}).execNoT(5*time.Minute, "make", "-C", harness.Root(), "--no-print-directory", "push",
		"IMAGE="+f.repo, "VERSION="+img.Version, "TLS_VERIFY=false", "OUTPUT="+out)
	if r.ExitCode != 0 {
		t.Fatalf("make push %s: exit %d\n%s", img.Version, r.ExitCode, r.Output())
	}
	b, err := os.ReadFile(filepath.Join(out, "digest"))
	if err != nil {
		t.Fatal(err)
	}
	p := published{Image: img, Pushed: strings.TrimSpace(string(b))}
	t.Logf("published %s as %s:latest = %s", img.Version, f.repo, p.Pushed)
	return p
}

// TestUpgradeApplyRollback: one host through its life, driven only by the
// make targets over SSH. Each step is a subtest on the same running host.
func TestUpgradeApplyRollback(t *testing.T) {
	f := newFixture(t)
	v1 := f.publish(t, f.build(t, 1))
	var h *Host
	top := t

	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			if h != nil {
				t.Logf("console of the last boot (last 40 lines):\n%s", harness.Tail(h.Console(), 40))
			}
			t.Fatalf("%s failed: the later steps depend on it", name)
		}
	}

	step("1-install-v1-verify", func(t *testing.T) {
		h = Install(top, f.reg, f.ref) // the host lives as long as the whole test
		h.Boot(t)
		requireVerified(t, h, v1.Pushed)
		s := h.Make(t, time.Minute, "os-status")
		if s.ExitCode != 0 || !strings.Contains(s.Stdout, "booted:    "+v1.Pushed) || !strings.Contains(s.Stdout, "staged:    none") {
			t.Fatalf("os-status after install:\n%s", s.Output())
		}
		visit(t, h, 2)
		requireVisits(t, h, 2)
		// Local /etc edits, made as an operator would: one new file, one
		// changed image file. The merge must carry both to v2.
		if r := h.SSH(t, time.Minute, "sudo sh -c 'echo local-setting=1 >/etc/simhost-local.conf && echo local-motd >>/etc/motd'"); r.ExitCode != 0 {
			t.Fatalf("editing /etc: %s", r.Output())
		}
	})

	var v2 published
	step("2-download-reboot-discards-apply-v2", func(t *testing.T) {
		v2 = f.publish(t, f.build(t, 2))

		c := h.Make(t, time.Minute, "os-check")
		if c.ExitCode == 0 || !strings.Contains(c.Stdout, "available: "+v2.Pushed) || !strings.Contains(c.Stdout, "update available") {
			t.Fatalf("os-check with v2 published: want 'update available' naming %s (make exit 2 for the script's 10)\n%s", v2.Pushed, c.Output())
		}

		pulled := h.BytesPulled()
		u := h.Make(t, 5*time.Minute, "os-upgrade")
		if u.ExitCode != 0 || !strings.Contains(u.Stdout, "staged:    "+v2.Pushed) {
			t.Fatalf("os-upgrade: \n%s", u.Output())
		}
		t.Logf("first download of v2: %d bytes from the registry", h.BytesPulled()-pulled)
		requireStatus(t, h, "download-only: applied only by", "staged:    "+v2.Pushed)

		// A reboot before apply: v1 boots again, the download is gone.
		h.SSH(t, 30*time.Second, "sudo systemctl reboot") // the session may end with the reboot
		h.AwaitReboot(t, 2*time.Minute)
		requireVerified(t, h, v1.Pushed)
		requireStatus(t, h, "staged:    none", "booted:    "+v1.Pushed)

		pulled = h.BytesPulled()
		u = h.Make(t, 5*time.Minute, "os-upgrade")
		if u.ExitCode != 0 || !strings.Contains(u.Stdout, "staged:    "+v2.Pushed) {
			t.Fatalf("os-upgrade again:\n%s", u.Output())
		}
		t.Logf("second download of v2 (its layers still in /sysroot): %d bytes from the registry", h.BytesPulled()-pulled)

		start := time.Now()
		a := h.Make(t, 2*time.Minute, "os-apply", "YES=1")
		if a.ExitCode != 0 || !strings.Contains(a.Stdout, "rebooting into "+v2.Pushed) {
			t.Fatalf("os-apply:\n%s", a.Output())
		}
		h.AwaitReboot(t, 2*time.Minute)
		requireVerified(t, h, v2.Pushed)
		t.Logf("os-apply to a passing verify of v2: %.1fs", time.Since(start).Seconds())
		requireStatus(t, h, "booted:    "+v2.Pushed, "rollback:  "+v1.Pushed)

		visit(t, h, 1)
		requireVisits(t, h, 3)
		r := h.SSH(t, time.Minute, "cat /etc/simhost-local.conf; tail -n1 /etc/motd; tail -n1 "+nginxConf)
		want := "local-setting=1\nlocal-motd\n" + nginxMark(2) + "\n"
		if r.ExitCode != 0 || r.Stdout != want {
			t.Errorf("/etc after the merge: got %q, want %q (local file kept, local edit kept, untouched default from v2)\n%s", r.Stdout, want, r.Stderr)
		}
		// An edit made on v2 only, which the rollback must not carry back.
		if r := h.SSH(t, time.Minute, "sudo touch /etc/simhost-made-on-v2"); r.ExitCode != 0 {
			t.Fatalf("editing /etc on v2: %s", r.Output())
		}
	})

	step("3-rollback-v1-refuses-v2-takes-v3", func(t *testing.T) {
		r := h.Make(t, 2*time.Minute, "os-rollback", "YES=1")
		if r.ExitCode != 0 || !strings.Contains(r.Stdout, "rolling back to "+v1.Pushed) {
			t.Fatalf("os-rollback:\n%s", r.Output())
		}
		h.AwaitReboot(t, 2*time.Minute)
		requireVerified(t, h, v1.Pushed)
		requireStatus(t, h, "booted:    "+v1.Pushed, "rollback:  "+v2.Pushed, "bad:       "+v2.Pushed)
		visit(t, h, 1)
		requireVisits(t, h, 4) // /var is not rolled back
		e := h.SSH(t, time.Minute, "test ! -e /etc/simhost-made-on-v2 && cat /etc/simhost-local.conf && tail -n1 "+nginxConf)
		if e.ExitCode != 0 || strings.Contains(e.Stdout, nginxMark(2)) || !strings.Contains(e.Stdout, "local-setting=1") {
			t.Errorf("the rollback deployment's own /etc: want v1's, with the edits made on v1 only\n%s", e.Output())
		}

		u := h.Make(t, 2*time.Minute, "os-upgrade")
		if u.ExitCode == 0 || !strings.Contains(u.Stderr, "recorded as bad by a rollback") {
			t.Fatalf("os-upgrade with v2 (bad) still published: want a refusal\n%s", u.Output())
		}
		requireStatus(t, h, "staged:    none")

		v3 := f.publish(t, f.build(t, 3))
		pulled := h.BytesPulled()
		u = h.Make(t, 5*time.Minute, "os-upgrade")
		if u.ExitCode != 0 || !strings.Contains(u.Stdout, "staged:    "+v3.Pushed) {
			t.Fatalf("os-upgrade with v3 published:\n%s", u.Output())
		}
		t.Logf("download of v3: %d bytes from the registry", h.BytesPulled()-pulled)
		start := time.Now()
		a := h.Make(t, 2*time.Minute, "os-apply", "YES=1")
		if a.ExitCode != 0 {
			t.Fatalf("os-apply v3:\n%s", a.Output())
		}
		h.AwaitReboot(t, 2*time.Minute)
		requireVerified(t, h, v3.Pushed)
		t.Logf("os-apply to a passing verify of v3: %.1fs", time.Since(start).Seconds())
		requireStatus(t, h, "booted:    "+v3.Pushed, "rollback:  "+v1.Pushed)
	})

	step("4-faults-registry-down-two-operators", func(t *testing.T) {
		// The registry cannot be reached: check and download fail with the
		// reason, and nothing is staged.
		h.SetRegistryReachable(false)
		c := h.Make(t, 2*time.Minute, "os-check")
		if c.ExitCode == 0 || !strings.Contains(c.Stderr, "cannot read "+f.ref+" from the registry") {
			t.Errorf("os-check with the registry unreachable: want the registry named in a failure\n%s", c.Output())
		}
		u := h.Make(t, 2*time.Minute, "os-upgrade")
		if u.ExitCode == 0 || !strings.Contains(u.Stderr, "cannot read "+f.ref+" from the registry") {
			t.Errorf("os-upgrade with the registry unreachable: want the registry named in a failure\n%s", u.Output())
		}
		h.SetRegistryReachable(true)
		requireStatus(t, h, "staged:    none", "booted:    ")

		// Two operators: the first downloads v4 over a slow link; the
		// second, meanwhile, is refused at once and changes nothing.
		v4 := f.publish(t, f.build(t, 4))
		h.SetRegistryDelay(2 * time.Second)
		first := h.Start(t, "os-upgrade")
		deadline := time.Now().Add(time.Minute)
		for {
			// flock -n fails while the first operator's upgrade-os.sh holds the lock.
			if r := h.SSH(t, 30*time.Second, "sudo flock -n /run/bootc-testboot/lock true"); r.ExitCode == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the first os-upgrade never held the operations lock")
			}
			time.Sleep(200 * time.Millisecond)
		}
		second := h.Make(t, 2*time.Minute, "os-upgrade")
		if second.ExitCode == 0 || !strings.Contains(second.Stderr, "another bootc-testboot operation is running") {
			t.Errorf("a second os-upgrade during the first: want a refusal naming the running operation\n%s", second.Output())
		}
		r := first(5 * time.Minute)
		h.SetRegistryDelay(0)
		t.Logf("first operator's os-upgrade: exit %d in %.1fs\n%s", r.ExitCode, r.Took.Seconds(), indent(r.Stdout+r.Stderr))
		if r.ExitCode != 0 || !strings.Contains(r.Stdout, "staged:    "+v4.Pushed) {
			t.Fatalf("the first operator's os-upgrade:\n%s", r.Output())
		}
		requireStatus(t, h, "staged:    "+v4.Pushed, "download-only: applied only by")
	})
}

// requireVerified runs `make verify` with the expected digest and requires
// every check to pass, the digest check among them.
func requireVerified(t *testing.T, h *Host, digest string) {
	t.Helper()
	r := h.Make(t, 3*time.Minute, "verify", "VERIFY_ARGS=--expect-digest "+digest+" --wait-boot 60")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "PASS  bootc-digest  booted digest is "+digest) {
		t.Fatalf("make verify expecting %s:\n%s", digest, r.Output())
	}
}

func requireStatus(t *testing.T, h *Host, want ...string) {
	t.Helper()
	r := h.Make(t, time.Minute, "os-status")
	for _, w := range want {
		if r.ExitCode != 0 || !strings.Contains(r.Stdout, w) {
			t.Fatalf("os-status: want %q\n%s", w, r.Output())
		}
	}
}

// visit GETs / through the guest's nginx n times (hello counts visits in /var).
func visit(t *testing.T, h *Host, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if r := h.SSH(t, 30*time.Second, "curl -fsS --max-time 10 http://127.0.0.1/"); r.ExitCode != 0 {
			t.Fatalf("GET / in the guest: %s", r.Output())
		}
	}
}

func requireVisits(t *testing.T, h *Host, want int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.VarDir, visitsFile))
	if err != nil {
		t.Fatalf("hello's state in the host's /var: %v", err)
	}
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(want) {
		t.Errorf("%s in the host's /var = %q, want %d", visitsFile, got, want)
	}
}
