package simhost

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
	"bootc-testboot/test/lifecycle"
	"bootc-testboot/test/signing"
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
	reg       *harness.DockerRegistry
	repo      string // REGISTRY/testboot/os, what make push pushes to
	ref       string // repo:latest, what hosts track
	base      int64  // SOURCE_DATE_EPOCH of v1; later versions are built later
	cosign    string
	key       signing.Key // the images' keys/ hold its public half; publish signs with it
	evaluator string      // the guest's policy evaluator (BuildEvaluator)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	harness.RequireImageTools(t)
	harness.Require(t, "systemd-nspawn", "skopeo", "docker-registry", "ssh", "ssh-keygen", "cp", "ldd", "jq", "curl")
	reg := harness.StartDockerRegistry(t)
	repo := reg.Addr + "/testboot/os"
	cosign := signing.Cosign(t)
	return &fixture{reg: reg, repo: repo, ref: repo + ":latest", base: time.Now().Add(-time.Hour).Unix(),
		cosign: cosign, key: signing.NewKey(t, cosign, "cosign"), evaluator: BuildEvaluator(t, t.TempDir())}
}

// firstWithExtra is the first version with the app README's "Adding a new
// app" adds (harness.ExtraApp); every later version keeps it.
const firstWithExtra = 5

// build builds version n of the OS image: the repository with the test's
// public key in keys/ in place of the project's (as test/signing builds it);
// later versions add a comment line to configs/nginx.conf, so /etc has a
// default that changes, and are built later (their build time is newer).
// From firstWithExtra on, the image has one more app.
func (f *fixture) build(t *testing.T, n int) harness.Image {
	t.Helper()
	opts := harness.BuildOptions{Image: f.repo, SignedRepo: f.repo, Version: "sim-v" + strconv.Itoa(n),
		SourceDateEpoch: f.base + int64(n)*100, BaseImage: os.Getenv("BOOT_BASE_IMAGE")}
	opts.Modify = func(dir string) error {
		if err := signing.UseKeys(dir, f.key); err != nil {
			return err
		}
		if err := healthGateModify(dir, n); err != nil {
			return err
		}
		if n > 1 {
			if n >= firstWithExtra {
				if err := harness.AddExtraApp(dir); err != nil {
					return err
				}
			}
			p := filepath.Join(dir, "configs", "nginx.conf")
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(p, append(b, []byte(nginxMark(n)+"\n")...), 0o644)
		}
		return nil
	}
	return harness.BuildImage(t, opts)
}

// layers are the layer digests of an image manifest in the registry.
func (f *fixture) layers(t *testing.T, digest string) []string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+f.reg.Addr+"/v2/testboot/os/manifests/"+digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct {
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK || len(m.Layers) == 0 {
		t.Fatalf("the manifest %s: %s, %v, %d layers", digest, resp.Status, err, len(m.Layers))
	}
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

func nginxMark(n int) string { return "# simhost image v" + strconv.Itoa(n) }

// publish pushes an image with `make push` (version tag and latest) and signs
// the pushed digest with the fixture's key, as the publish workflow does.
func (f *fixture) publish(t *testing.T, img harness.Image) published {
	t.Helper()
	p := f.publishUnsigned(t, img)
	f.sign(t, p)
	return p
}

// sign signs a published digest with cosign (legacy format: a sha256-<hex>.sig tag).
func (f *fixture) sign(t *testing.T, p published) {
	t.Helper()
	signing.Sign(t, f.cosign, f.key, f.repo+"@"+p.Pushed)
	t.Logf("signed %s@%s", f.repo, p.Pushed)
}

// publishUnsigned pushes an image with `make push` and does not sign it.
func (f *fixture) publishUnsigned(t *testing.T, img harness.Image) published {
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

	// lh: the same host as the lifecycle driver (test/lifecycle) sees it. The
	// driver's steps (verify, os-check, os-upgrade, os-apply, os-rollback, an
	// unsigned image refused, the automatic rollback) run here among the
	// scenarios only this rig can set up.
	var lh *lifecycleHost
	step("1-install-v1-verify", func(t *testing.T) {
		h = Install(top, f.reg, f.ref, f.evaluator) // the host lives as long as the whole test
		h.Boot(t)
		lh = &lifecycleHost{h: h, f: f}
		lifecycle.VerifyBooted(t, lh, v1.Pushed)
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
		lifecycle.Check(t, lh, v2.Pushed)

		pulled := h.BytesPulled()
		lifecycle.Upgrade(t, lh, v2.Pushed)
		t.Logf("first download of v2: %d bytes from the registry", h.BytesPulled()-pulled)

		// A reboot before apply: v1 boots again, the download is gone.
		h.SSH(t, 30*time.Second, "sudo systemctl reboot") // the session may end with the reboot
		h.AwaitReboot(t, 2*time.Minute)
		requireVerified(t, h, v1.Pushed)
		requireStatus(t, h, "staged:    none", "booted:    "+v1.Pushed)

		pulled = h.BytesPulled()
		lifecycle.Upgrade(t, lh, v2.Pushed)
		t.Logf("second download of v2 (its layers still in /sysroot): %d bytes from the registry", h.BytesPulled()-pulled)

		lifecycle.Apply(t, lh, v2.Pushed, v1.Pushed)
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

	var v3, v4 published
	step("3-rollback-v1-refuses-v2-takes-v3", func(t *testing.T) {
		lifecycle.Rollback(t, lh, v1.Pushed, v2.Pushed)
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

		v3 = f.publish(t, f.build(t, 3))
		pulled := h.BytesPulled()
		lifecycle.Upgrade(t, lh, v3.Pushed)
		t.Logf("download of v3: %d bytes from the registry", h.BytesPulled()-pulled)
		lifecycle.Apply(t, lh, v3.Pushed, v1.Pushed)
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
		v4 = f.publish(t, f.build(t, 4))
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

	// v5 adds an app, so its download has a layer of megabytes (the app's
	// binary) that the host has never pulled: long enough to be interrupted.
	var v5 published
	step("5-power-cut-during-download", func(t *testing.T) {
		v5 = f.publish(t, f.build(t, firstWithExtra))
		h.SetRegistryRate(128 << 10)
		pulled := h.BytesPulled()
		download := h.Start(t, "os-upgrade")
		// Cut the power in the middle of a layer: once 256 KiB of one are in
		// /sysroot (the app's binary: the other new layers are a few KiB).
		deadline := time.Now().Add(2 * time.Minute)
		for !anyAtLeast(h.PartialBlobs(), 256<<10) {
			if time.Now().After(deadline) {
				h.SetRegistryRate(0)
				t.Fatalf("os-upgrade wrote no 256 KiB of a layer within 2 minutes: %s", download(time.Minute).Output())
			}
			time.Sleep(20 * time.Millisecond)
		}
		partial := h.PartialBlobs()
		h.PowerCut(t)
		h.SetRegistryRate(0)
		r := download(time.Minute)
		t.Logf("os-upgrade cut by the power failure: exit %d after %.1fs, %d bytes pulled; blobs being written at the cut: %v\n%s",
			r.ExitCode, r.Took.Seconds(), h.BytesPulled()-pulled, partial, indent(r.Stdout+r.Stderr))
		if r.ExitCode == 0 {
			t.Errorf("os-upgrade reported success although the host lost power during the download")
		}
		// The old deployment boots; the earlier locked download (v4) and the
		// interrupted one are both gone, and nothing records v5 as pulled.
		requireVerified(t, h, v3.Pushed)
		requireStatus(t, h, "booted:    "+v3.Pushed, "staged:    none", "rollback:  "+v1.Pushed)
		requireNotPulled(t, h, v5)
		requireVisits(t, h, 4)
	})

	step("6-var-full-during-download", func(t *testing.T) {
		// Real bootc (>= 1.14) compares the free space of /sysroot with the
		// sizes of the layers it is about to fetch and refuses before fetching
		// ("Insufficient free space"; bootc-dev/bootc tmt test "pre-flight disk
		// space check"). That check cannot see everything: ostree stores layers
		// unpacked, larger than their compressed sizes the check adds up, and
		// /var (logs, app data) keeps growing on the same filesystem during the
		// download. The case left for our scripts is the one modelled here: the
		// bootc double has no pre-check, the download starts and a write into
		// /sysroot fails with ENOSPC. Whichever way bootc fails, the script
		// must end with a clear error, release its lock and stage nothing.
		empty := h.FillDisk(t, 512<<10)
		defer empty()
		// What the power cut left unfinished stays in /sysroot (as ostree's
		// staging directories do until its next transaction cleans them up).
		t.Logf("unfinished blobs in /sysroot: %v", h.PartialBlobs())
		pulled := h.BytesPulled()
		u := h.Make(t, 2*time.Minute, "os-upgrade")
		t.Logf("download with /var full: %d bytes from the registry", h.BytesPulled()-pulled)
		if u.ExitCode == 0 || !strings.Contains(u.Stderr, "no space left on device") ||
			!strings.Contains(u.Stderr, "bootc upgrade --download-only failed") {
			t.Fatalf("os-upgrade with /var full: want bootc's 'no space left on device' and the script's failure\n%s", u.Output())
		}
		requireNotRefused(t, h)
		requireStatus(t, h, "booted:    "+v3.Pushed, "staged:    none")
		requireNotPulled(t, h, v5)
		empty()
		requireVerified(t, h, v3.Pushed) // free space checks pass again
		requireVisits(t, h, 4)
	})

	step("7-new-app-starts-after-upgrade", func(t *testing.T) {
		pulled := h.BytesPulled()
		lifecycle.Upgrade(t, lh, v5.Pushed) // after the failed downloads
		t.Logf("download of v5 (a new app): %d bytes from the registry", h.BytesPulled()-pulled)
		r := lifecycle.Apply(t, lh, v5.Pushed, v3.Pushed)
		// verify found the app by its unit's X-Testboot-HealthPath, with no
		// list edited and nothing done on the host.
		for _, want := range []string{"PASS  unit:extra.service  active", "PASS  health:extra.service  GET http://127.0.0.1/extra/health -> 2xx"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("make verify on v5: want %q\n%s", want, r.Stdout)
			}
		}
		e := h.SSH(t, 30*time.Second, "curl -fsS --max-time 10 http://127.0.0.1/extra/")
		if e.ExitCode != 0 || !strings.Contains(e.Stdout, `"app":"extra"`) {
			t.Errorf("the new app through nginx:\n%s", e.Output())
		}
		requireVisits(t, h, 4)
	})

	var v6 published
	step("8-corrupt-layer-during-download", func(t *testing.T) {
		v6 = f.publish(t, f.build(t, 6))
		before := h.CorruptBlobs(f.layers(t, v6.Pushed)...)
		pulled := h.BytesPulled()
		u := h.Make(t, 2*time.Minute, "os-upgrade")
		changed := h.CorruptBlobs() - before
		t.Logf("download with a damaged layer: %d bytes from the registry, %d blob(s) served changed", h.BytesPulled()-pulled, changed)
		if changed == 0 {
			t.Fatal("the download fetched no layer of v6: nothing was damaged, the scenario proves nothing")
		}
		if u.ExitCode == 0 || !strings.Contains(u.Stderr, "Digest did not match") ||
			!strings.Contains(u.Stderr, "bootc upgrade --download-only failed") {
			t.Fatalf("os-upgrade with a layer that does not match its digest: want the mismatch and the script's failure\n%s", u.Output())
		}
		requireNotRefused(t, h)
		requireStatus(t, h, "booted:    "+v5.Pushed, "staged:    none")
		requireNotPulled(t, h, v6)
		requireVerified(t, h, v5.Pushed)
	})

	step("9-ssh-cut-during-apply", func(t *testing.T) {
		pulled := h.BytesPulled()
		lifecycle.Upgrade(t, lh, v6.Pushed)
		t.Logf("download of v6: %d bytes from the registry", h.BytesPulled()-pulled)

		// The connection drops as soon as the host runs the apply: the
		// command reached the host, the operator sees nothing more.
		start := time.Now()
		apply := h.Start(t, "os-apply", "YES=1")
		pid := h.WaitGuestProcess(t, time.Minute, "upgrade-os.sh", "apply")
		n := h.CutSSH()
		a := apply(time.Minute)
		t.Logf("SSH cut (%d connection(s)) once pid %d ran upgrade-os.sh apply: make exit %d\n%s", n, pid, a.ExitCode, indent(a.Stdout+a.Stderr))
		if a.ExitCode == 0 {
			t.Errorf("os-apply reported success over a connection that was cut")
		}
		// What happens next depends on where the script was when its session
		// went: before `bootc upgrade --from-downloaded`, its first write to
		// the session (stdout, a pipe the gone sshd no longer reads) ends it,
		// and nothing changed; after run_detached, the apply runs in its own
		// systemd unit and reboots regardless. Either way the host must be on
		// a good deployment with a consistent status: never unlocked without
		// a reboot, never down.
		rebooted := h.RebootedWithin(t, 15*time.Second)
		if rebooted {
			t.Logf("after the cut: the host rebooted into the new image (the detached apply unit ran)")
			requireVerified(t, h, v6.Pushed)
			t.Logf("os-apply (cut) to a passing verify of v6: %.1fs", time.Since(start).Seconds())
		} else {
			t.Logf("after the cut: the host did not reboot (the apply ended before unlocking the download)")
			requireVerified(t, h, v5.Pushed)
			requireStatus(t, h, "booted:    "+v5.Pushed, "staged:    "+v6.Pushed, "download-only: applied only by")
			// The lock went with the script: applying again is not refused.
			lifecycle.Apply(t, lh, v6.Pushed, v5.Pushed)
			t.Logf("os-apply (cut, then again) to a passing verify of v6: %.1fs", time.Since(start).Seconds())
		}
		requireStatus(t, h, "booted:    "+v6.Pushed, "rollback:  "+v5.Pushed, "staged:    none")
		requireVisits(t, h, 4)
	})

	var staged7 published
	step("10-unsigned-image-refused-until-signed", func(t *testing.T) {
		// The tracked tag moves to an image nobody signed (a push outside the
		// publish workflow, or one whose sign job has not run yet). The host
		// installed with an enforcing origin; bootc's pull judges the image by
		// the host's own /etc/containers/policy.json and refuses it.
		img := f.build(t, slowStartVersion)
		lh.add(img)
		_, u := lifecycle.UnsignedRefused(t, lh, img.Version, v6.Pushed)
		v7 := lh.pushed[img.Version]
		// bootc's own words for the refusal, as the rig's bootc gives them.
		const bootcErr = "error: Upgrading: Fetching manifest: failed to invoke method OpenImage: A signature was required, but no signature exists"
		if !strings.Contains(u.Stderr, bootcErr) {
			t.Fatalf("os-upgrade to an unsigned image: want bootc's refusal (%q)\n%s", bootcErr, u.Output())
		}
		requireNotRefused(t, h) // the check (skopeo inspect) applies no policy: it still names the update
		requireNotPulled(t, h, v7)

		// The same digest, signed afterwards with the key the host ships:
		// nothing else changed, and now it is taken.
		f.sign(t, v7)
		lifecycle.Upgrade(t, lh, v7.Pushed) // once the image is signed
		requireStatus(t, h, "booted:    "+v6.Pushed)
		staged7 = v7
	})

	healthGateSteps(step, f, lh, staged7)
}

func anyAtLeast(sizes map[string]int64, n int64) bool {
	for _, s := range sizes {
		if s >= n {
			return true
		}
	}
	return false
}

// requireNotPulled: nothing of a failed or interrupted download is recorded
// as pulled: no complete image in /sysroot, no record in bootc's state.
func requireNotPulled(t *testing.T, h *Host, p published) {
	t.Helper()
	if h.StoreHas(t, p.Pushed) {
		t.Errorf("%s is in the image store of /sysroot although its download failed", p.Pushed)
	}
	if rec := h.PulledRecord(t); strings.Contains(rec, p.Pushed) {
		t.Errorf("bootc records %s as pulled although its download failed: %s", p.Pushed, rec)
	}
}

// requireNotRefused: the lock of the failed command is released: the next
// command that takes it (os-check) runs, and finds the update.
func requireNotRefused(t *testing.T, h *Host) {
	t.Helper()
	c := h.Make(t, time.Minute, "os-check")
	if c.ExitCode != 2 || !strings.Contains(c.Stdout, "update available") || strings.Contains(c.Stderr, "another bootc-testboot operation") {
		t.Fatalf("os-check after the failure: want it to run and find the update (make exit 2 for the script's 10)\n%s", c.Output())
	}
}

// requireVerified: the driver's make verify (lifecycle.Verified).
func requireVerified(t *testing.T, h *Host, digest string) lifecycle.Result {
	t.Helper()
	return lifecycle.Verified(t, &lifecycleHost{h: h}, digest)
}

// requireStatus: the driver's make os-status (lifecycle.Status).
func requireStatus(t *testing.T, h *Host, want ...string) {
	t.Helper()
	lifecycle.Status(t, &lifecycleHost{h: h}, want...)
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
