// Package simhost is a simulated bootc host that our day-2 scripts drive for
// real: make os-check, os-upgrade, os-apply, os-rollback and verify run on the
// test machine, reach the guest over SSH, and the guest's reboots decide what
// boots next.
//
// The host (this file) is a systemd guest under systemd-nspawn with bootc's
// filesystem rules, as in test/boot: the deployment's image read-only, /etc
// per deployment, one /var for the host. What test/boot does not have:
//
//   - bootc: test/doubles/bin/bootc, bind-mounted over /usr/bin/bootc through
//     guest/bootc, with its registry functions answered by the real registry
//     through skopeo (test/doubles/lib/registry-skopeo.sh). Its state lives in
//     /sysroot, the host's physical root, which every deployment shares. Every
//     image it opens is judged by the guest's own /etc/containers/policy.json
//     with containers/image's evaluator (BuildEvaluator), as bootc's image
//     proxy does;
//   - a bootloader: the rig. When the guest reboots (nspawn exits with 133),
//     the rig does what ostree-finalize-staged.service and the boot loader do:
//     a staged deployment that is not download-only becomes the booted one,
//     with its /etc made by the three-way merge, and the old booted one the
//     rollback; a queued rollback swaps the two; a download-only deployment is
//     discarded. The status document moves by the same rules in
//     test/doubles/lib/host.sh `host_reboot`, which the rig runs;
//   - deployments come from what the guest pulled: the OCI layout in
//     /sysroot/ostree/sim-images, never from the test's own image storage;
//   - SSH and a registry, bridged in and out of the guest's private network
//     (net.go).
package simhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// AdminUser is the admin user config.toml gives every host: key only, in
// wheel, password-less sudo. The image's sshd refuses root
// (configs/sshd-hardening.conf: PermitRootLogin no, AllowGroups wheel).
const AdminUser = "ops"

// Guest paths of the rig's own files. What the rig lends read-only is in the
// guest's /run, which a soft reboot keeps (guest/nextroot copies it there);
// what the rig and the guest exchange (the report, the bridges' sockets) is in
// the host's one /var, which every boot and every deployment share; the
// deployments are where ostree keeps them, under /sysroot.
const (
	guestSimDir       = "/run/testboot-sim"
	guestDoublesDir   = guestSimDir + "/doubles"
	guestSimVar       = "/var/lib/testboot-sim"
	guestReportDir    = guestSimVar + "/report"
	guestSSHSock      = guestSimVar + "/ssh.sock"
	guestRegistrySock = guestSimVar + "/registry.sock"
	deployRel         = "ostree/deploy/default/deploy" // under /sysroot: ostree's deployments
	guestDeployMark   = "/usr/lib/testboot-sim-deployment"
	guestNextroot     = guestSimDir + "/nextroot"
	stateRel          = "ostree/bootc-sim" // under /sysroot: the bootc double's DOUBLES_STATE
	storeRel          = "ostree/sim-images"
	rebootExitCode    = 133 // systemd-nspawn's exit status when the container rebooted
	deployImageRepo   = "localhost/bootc-testboot-simhost"
)

// Host is one simulated bootc host.
type Host struct {
	Dir     string // everything of this host; removed at the end
	VarDir  string // the host's one /var
	Sysroot string // the physical root: bootc's state and pulled images
	Ref     string // the image reference the host tracks
	Arch    string

	reg       *harness.DockerRegistry
	regFwd    *forwarder
	sshFwd    *forwarder
	sshPort   int
	key       string // the admin user's private key
	known     string // known_hosts of the test's SSH client
	sockDir   string // a short path here to the guest's /var/lib/testboot-sim (a socket's path has at most 107 bytes)
	regConf   string // registries.conf for skopeo on the test machine
	evaluator string // the policy evaluator the guest runs (BuildEvaluator)

	booted, rollback *deployment
	softNext         *deployment // made for a soft reboot the guest prepared (prepareSoftReboot)
	softFinalized    bool        // the guest's shutdown for it was finalized (finalizeSoftReboot)
	deploys          int
	boots            int // boots of userspace, soft reboots included
	runs             int // runs of systemd-nspawn: the kernel's boots
	guest            *guest
	consoles         []string
}

type deployment struct {
	digest string
	dir    string
	root   string // the image's filesystem, booted read-only
	etc    string // this deployment's /etc
	image  string // the tag in podman's storage the root came from
}

// StateDir is the bootc double's state directory on the host side.
func (h *Host) StateDir() string { return filepath.Join(h.Sysroot, stateRel) }

// Install makes a host from what ref serves now, as `bootc install` would:
// pulls the image into /sysroot, deploys it, seeds /var from it, adds the
// admin user with a fresh key and writes the status document. The host is not
// booted yet (Boot). evaluator is BuildEvaluator's program, which the guest's
// bootc runs before every pull.
func Install(t *testing.T, reg *harness.DockerRegistry, ref, evaluator string) *Host {
	t.Helper()
	if err := os.MkdirAll("/var/tmp", 0o1777); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("/var/tmp", "bootc-testboot-simhost.")
	if err != nil {
		t.Fatal(err)
	}
	// The physical root is a filesystem of its own, with /var inside it at
	// ostree's place (/sysroot/ostree/deploy/STATEROOT/var, bind-mounted on
	// /var): as on a bootc host installed without a separate /var, what fills
	// /var leaves no room for the layers bootc pulls into /sysroot.
	sysroot := filepath.Join(dir, "sysroot")
	h := &Host{Dir: dir, VarDir: filepath.Join(sysroot, "ostree", "deploy", "default", "var"), Sysroot: sysroot,
		Ref: ref, reg: reg, evaluator: evaluator, sockDir: filepath.Join(dir, "sock")}
	deployDir := filepath.Join(dir, "deploy")
	t.Cleanup(func() {
		h.stop(t)
		for _, m := range []string{deployDir, sysroot} {
			if err := unmountDisk(m); err != nil {
				t.Errorf("the simulated host's %s stays mounted: %v", m, err)
				return // never remove what is inside a mounted filesystem through its mount point
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the simulated host %s: %v", dir, err)
		}
	})
	mountDisk(t, filepath.Join(dir, "disk.img"), sysroot)
	// The deployments' directory is a private mount: the guest's root (a
	// deployment) and its view of every deployment (for a soft reboot's next
	// root) are then binds without a peer group, and what the guest mounts on
	// its root (/proc, /run...) does not show up again below
	// /sysroot/ostree/deploy, where a soft reboot's unmounting would meet it.
	mkdir(t, deployDir)
	run(t, time.Minute, "mount", "--bind", deployDir, deployDir)
	run(t, time.Minute, "mount", "--make-private", deployDir)
	simVar := filepath.Join(h.VarDir, strings.TrimPrefix(guestSimVar, "/var/"))
	for _, d := range []string{h.VarDir, h.StateDir(), filepath.Join(h.Sysroot, storeRel), filepath.Join(h.Sysroot, deployRel), simVar} {
		mkdir(t, d)
	}
	symlink(t, simVar, h.sockDir)
	h.Arch = goArchToOCI()
	h.regConf = filepath.Join(dir, "registries.conf")
	writeFile(t, h.regConf, registriesConf(reg.Addr), 0o644)

	// The registry bridge: the guest's 127.0.0.1:<port> ends here.
	ln, err := listenUnix(filepath.Join(h.sockDir, filepath.Base(guestRegistrySock)))
	if err != nil {
		t.Fatal(err)
	}
	h.regFwd = newForwarder(t, ln, func() (net.Conn, error) { return dialTCP(reg.Addr) })
	// The SSH bridge: 127.0.0.1:<free port> here ends at the guest's sshd.
	tcp, port, err := listenLoopback()
	if err != nil {
		t.Fatal(err)
	}
	h.sshPort = port
	h.sshFwd = newForwarder(t, tcp, func() (net.Conn, error) { return dialUnix(filepath.Join(h.sockDir, filepath.Base(guestSSHSock))) })

	// What the install media does: pull, by the same code the guest's bootc
	// runs, so the first status document is made like every later one.
	start := time.Now()
	out := h.hostBackend(t, `d=$(reg_top_digest "$REF") && d=$(reg_platform_digest "$d" "$ARCH") && reg_image_status "$REF" "$d"`)
	var img harness.ImageStatus
	if err := json.Unmarshal([]byte(out), &img); err != nil {
		t.Fatalf("the pulled image's status %q: %v", out, err)
	}
	d := h.deploy(t, img.ImageDigest)
	// bootc install reads enforce-container-sigpolicy from the image's
	// /usr/lib/bootc/install/*.toml (bootc-dev/bootc crates/lib/src/install.rs
	// `prepare_install`): the host's origin then requires signatures.
	if installEnforcesSigpolicy(t, d.root) {
		img.Image.Signature = "containerPolicy"
	}
	doc := harness.BootcHost(&img)
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(h.StateDir(), "bootc", "status.json"), string(b), 0o644)

	copyTree(t, filepath.Join(d.root, "etc"), d.etc)
	copyTree(t, filepath.Join(d.root, "var"), h.VarDir)
	h.customize(t, d)
	h.booted = d
	t.Logf("installed %s (%s) in %s", ref, img.ImageDigest, time.Since(start).Round(100*time.Millisecond))
	return h
}

// hostBackend runs a snippet with the bootc double's registry functions (the
// skopeo backend, pulling) on the test machine: the install's pull.
func (h *Host) hostBackend(t testing.TB, snippet string) string {
	t.Helper()
	script := fmt.Sprintf("set -euo pipefail\nDOUBLES_REGISTRY=skopeo\nsource %q\n%s\n",
		harness.Path("test", "doubles", "lib", "registry.sh"), snippet)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	// skopeo 1.9 reads no CONTAINERS_REGISTRIES_CONF: a wrapper first on PATH
	// passes the plain-HTTP registry configuration as its global flag.
	bin := filepath.Join(h.Dir, "install-bin")
	skopeoBin, err := exec.LookPath("skopeo")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(bin, "skopeo"), fmt.Sprintf("#!/bin/sh\nexec %q --registries-conf=%q \"$@\"\n", skopeoBin, h.regConf), 0o755)
	cmd.Env = append(os.Environ(),
		"DOUBLES_STATE="+h.StateDir(), "DOUBLES_SIM_PULL=1", "DOUBLES_SIM_STORE="+filepath.Join(h.Sysroot, storeRel),
		"PATH="+bin+":"+os.Getenv("PATH"), "REF="+h.Ref, "ARCH="+h.Arch)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pulling %s: %v\n%s", h.Ref, err, stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// registriesConf lets skopeo use the test registry over plain HTTP: the
// configuration an operator writes to /etc/containers/registries.conf for an
// insecure mirror (containers-registries.conf(5)).
func registriesConf(addr string) string {
	return fmt.Sprintf("[[registry]]\nlocation = %q\ninsecure = true\n", addr)
}

// deploy makes a deployment of the pulled image digest: its filesystem from
// the OCI layout in /sysroot (imported into podman's storage to unpack it),
// with empty mount points for the rig's bind mounts. Its /etc is made by the
// caller (install: the image's; finalization: the merge).
func (h *Host) deploy(t testing.TB, digest string) *deployment {
	t.Helper()
	hex := strings.TrimPrefix(digest, "sha256:")
	h.deploys++
	dir := filepath.Join(h.Dir, "deploy", strconv.Itoa(h.deploys))
	d := &deployment{digest: digest, dir: dir, root: filepath.Join(dir, "root"), etc: filepath.Join(dir, "etc"),
		image: deployImageRepo + ":" + hex}
	mkdir(t, dir)
	start := time.Now()
	run(t, 5*time.Minute, "skopeo", "--insecure-policy", "copy", "--quiet",
		"oci:"+filepath.Join(h.Sysroot, storeRel)+":"+hex, "containers-storage:"+d.image)
	t.Cleanup(func() { harness.RemoveImage(t, d.image) })
	mnt := strings.TrimSpace(run(t, time.Minute, "podman", "image", "mount", d.image))
	copyTree(t, mnt, d.root)
	run(t, time.Minute, "podman", "image", "unmount", d.image)
	// Mount points for what the rig lends the guest (see skopeoBinds).
	for _, b := range h.skopeoBinds(t, d.root) {
		p := filepath.Join(d.root, b.guest)
		mkdir(t, filepath.Dir(p))
		writeFile(t, p, "", 0o644)
	}
	// Which deployment a boot runs, for the ready marker (a soft reboot
	// keeps the boot ID, so that alone cannot tell two boots apart).
	writeFile(t, filepath.Join(d.root, guestDeployMark), strconv.Itoa(h.deploys)+"\n", 0o644)
	t.Logf("deployed %s in %s", digest, time.Since(start).Round(100*time.Millisecond))
	return d
}

// customize is what install-time configuration adds: the admin user with a
// key (config.toml's [[customizations.user]], made on the Debian stand-in as
// bootc-image-builder makes it on Fedora: home in /var/home, group wheel), and
// the registry configuration an operator gives hosts of a plain-HTTP
// registry. Both are local /etc content, which every later merge carries.
func (h *Host) customize(t *testing.T, d *deployment) {
	t.Helper()
	h.key = filepath.Join(h.Dir, "id_ed25519")
	h.known = filepath.Join(h.Dir, "known_hosts")
	run(t, time.Minute, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "simhost", "-f", h.key)
	pub, err := os.ReadFile(h.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	const uid = 1000
	wheel := groupID(t, d.etc, "wheel")
	if wheel < 0 {
		wheel = freeGID(t, d.etc)
		appendLine(t, filepath.Join(d.etc, "group"), fmt.Sprintf("wheel:x:%d:%s", wheel, AdminUser))
		appendLine(t, filepath.Join(d.etc, "gshadow"), "wheel:!::"+AdminUser)
	} else {
		t.Fatalf("the image has a wheel group already; adding %s to it is not done here", AdminUser)
	}
	appendLine(t, filepath.Join(d.etc, "group"), fmt.Sprintf("%s:x:%d:", AdminUser, uid))
	appendLine(t, filepath.Join(d.etc, "gshadow"), AdminUser+":!::")
	appendLine(t, filepath.Join(d.etc, "passwd"), fmt.Sprintf("%s:x:%d:%d::/var/home/%s:/bin/bash", AdminUser, uid, uid, AdminUser))
	appendLine(t, filepath.Join(d.etc, "shadow"), AdminUser+":*:20000:0:99999:7:::")
	ssh := filepath.Join(h.VarDir, "home", AdminUser, ".ssh")
	mkdir(t, ssh)
	writeFile(t, filepath.Join(ssh, "authorized_keys"), string(pub), 0o600)
	for _, p := range []string{filepath.Join(h.VarDir, "home", AdminUser), ssh, filepath.Join(ssh, "authorized_keys")} {
		if err := os.Chown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(ssh, 0o700); err != nil {
		t.Fatal(err)
	}
	mkdir(t, filepath.Join(d.etc, "containers"))
	writeFile(t, filepath.Join(d.etc, "containers", "registries.conf"), registriesConf(h.reg.Addr), 0o644)
}

// bind is one bind mount into the guest.
type bind struct{ host, guest string }

// skopeoBinds lends the guest the test machine's skopeo, and the libraries it
// needs that the image lacks, when the image has no skopeo of its own: every
// bootc base carries it (bootc's image proxy), the Debian stand-in does not.
func (h *Host) skopeoBinds(t testing.TB, root string) []bind {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(root, "usr", "bin", "skopeo")); err == nil && !isEmpty(filepath.Join(root, "usr", "bin", "skopeo")) {
		return nil
	}
	bin, err := exec.LookPath("skopeo")
	if err != nil {
		t.Fatal(err)
	}
	binds := []bind{{bin, "/usr/bin/skopeo"}}
	out := run(t, time.Minute, "ldd", bin)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "=>" || !strings.HasPrefix(f[2], "/") {
			continue
		}
		soname, path := f[0], f[2]
		guestPath := "/usr" + strings.TrimPrefix(filepath.Dir(path), "/usr") + "/" + soname
		if _, err := os.Lstat(filepath.Join(root, guestPath)); err == nil && !isEmpty(filepath.Join(root, guestPath)) {
			continue
		}
		resolved, err := filepath.EvalSymlinks(path)
		if err != nil {
			t.Fatal(err)
		}
		binds = append(binds, bind{resolved, guestPath})
	}
	return binds
}

func isEmpty(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == 0
}

func guestFile(name string) string { return harness.Path("test", "simhost", "guest", name) }

// guest is one run of systemd-nspawn: one boot.
type guest struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	report  string
	console string
	started time.Time
}

// Boot boots the booted deployment and waits until it is up (multi-user.target
// reached, sshd answering through the bridge).
func (h *Host) Boot(t testing.TB) {
	t.Helper()
	if h.guest != nil {
		t.Fatal("Boot: the host is running")
	}
	h.boots++
	h.runs++
	d := h.booted
	bootDir := filepath.Join(h.Dir, "boot", strconv.Itoa(h.boots))
	units := filepath.Join(bootDir, "units")
	// One report directory in /var for every boot: what a boot reported is
	// removed before the next one starts (a soft reboot: guest/nextroot).
	report := filepath.Join(h.sockDir, filepath.Base(guestReportDir))
	if err := os.RemoveAll(report); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{units, report, filepath.Join(units, "multi-user.target.wants"), filepath.Join(units, "sockets.target.wants")} {
		mkdir(t, dir)
	}
	h.writeUnits(t, units)
	marker := filepath.Join(bootDir, "ostree-booted")
	writeFile(t, marker, "", 0o644)
	_ = os.Remove(filepath.Join(h.sockDir, filepath.Base(guestSSHSock)))

	args := []string{
		"--quiet", "--boot", "--register=no", "--keep-unit",
		"--directory=" + d.root, "--machine=testboot-simhost",
		// bootc's layout: the image read-only, /etc per deployment, one /var,
		// the physical root at /sysroot.
		"--read-only", "--bind=" + d.etc + ":/etc", "--bind=" + h.VarDir + ":/var", "--bind=" + h.Sysroot + ":/sysroot",
		"--private-network",
		// What the boot loader and initramfs give an ostree boot.
		"--bind-ro=" + marker + ":/run/ostree-booted",
		// bootc: the double, its libraries, the skopeo backend.
		"--bind-ro=" + guestFile("bootc") + ":/usr/bin/bootc",
		"--bind-ro=" + harness.Path("test", "doubles", "bin", "bootc") + ":" + guestDoublesDir + "/bin/bootc",
		"--bind-ro=" + harness.Path("test", "doubles", "lib", "double.sh") + ":" + guestDoublesDir + "/lib/double.sh",
		"--bind-ro=" + harness.Path("test", "doubles", "lib", "registry.sh") + ":" + guestDoublesDir + "/lib/registry.sh",
		"--bind-ro=" + harness.Path("test", "doubles", "lib", "registry-skopeo.sh") + ":" + guestDoublesDir + "/lib/registry-skopeo.sh",
		"--bind-ro=" + h.evaluator + ":" + guestEvaluator,
		greenbootBind(),
		"--bind-ro=" + guestFile("nextroot") + ":" + guestNextroot,
		// The deployments, at ostree's place: a soft reboot's next root is
		// mounted from there, with its /etc read-write.
		"--bind=" + filepath.Join(h.Dir, "deploy") + ":" + filepath.Join("/sysroot", deployRel),
		// The rig's units (the bridges, the ready marker).
		"--bind-ro=" + units + ":/run/systemd/system",
	}
	for _, b := range h.skopeoBinds(t, d.root) {
		args = append(args, "--bind-ro="+b.host+":"+b.guest)
	}
	console := filepath.Join(bootDir, "console.log")
	f, err := os.Create(console)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-nspawn", args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "TERM=dumb")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	g := &guest{cmd: cmd, exited: make(chan struct{}), report: report, console: console, started: time.Now()}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("systemd-nspawn: %v", err)
	}
	go func() { g.waitErr = cmd.Wait(); f.Close(); close(g.exited) }()
	h.guest = g
	h.consoles = append(h.consoles, console)
	h.waitUp(t, 2*time.Minute)
	t.Logf("boot %d: %s up in %.1fs", h.boots, d.digest, time.Since(g.started).Seconds())
}

// waitUp waits for the guest's ready marker (after multi-user.target).
func (h *Host) waitUp(t testing.TB, timeout time.Duration) {
	t.Helper()
	g := h.guest
	deadline := time.After(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-g.exited:
			h.guest = nil
			t.Fatalf("the guest stopped during boot %d (%v)\n%s", h.boots, g.waitErr, harness.Tail(readFile(g.console), 40))
		case <-deadline:
			t.Fatalf("boot %d: not up within %s\n%s", h.boots, timeout, harness.Tail(readFile(g.console), 40))
		case <-tick.C:
			if _, err := os.Stat(filepath.Join(g.report, "ready")); err == nil {
				return
			}
		}
	}
}

// AwaitReboot waits for the guest to reboot (nspawn exits with 133), plays
// the boot loader, and boots what comes next. It fails when the guest powers
// off, crashes or does not reboot in time.
func (h *Host) AwaitReboot(t testing.TB, timeout time.Duration) {
	t.Helper()
	g := h.guest
	if g == nil {
		t.Fatal("AwaitReboot: the host is not running")
	}
	deadline := time.After(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-g.exited:
			break wait
		case <-deadline:
			t.Fatalf("the guest did not reboot within %s\n%s", timeout, harness.Tail(readFile(g.console), 30))
		case <-tick.C:
			switch {
			case h.softNext == nil:
				h.prepareSoftReboot(t)
			case !h.softFinalized:
				h.finalizeSoftReboot(t)
			case h.softRebooted(t):
				return
			}
		}
	}
	if h.softNext != nil {
		t.Fatalf("the guest prepared a soft reboot into deployment %s but ended with %v\n%s", h.softNext.dir, g.waitErr, harness.Tail(readFile(g.console), 30))
	}
	h.guest = nil
	var ee *exec.ExitError
	if !errors.As(g.waitErr, &ee) || ee.ExitCode() != rebootExitCode {
		t.Fatalf("the guest ended with %v, not a reboot (exit %d)\n%s", g.waitErr, rebootExitCode, harness.Tail(readFile(g.console), 30))
	}
	h.finalize(t, false, false)
	h.Boot(t)
}

// prepareSoftReboot answers the guest's guest/nextroot. When bootc prepares a
// soft reboot (bootc-dev/bootc crates/lib/src/cli.rs `prepare_soft_reboot`,
// ostree `deployment_set_soft_reboot`), the deployment it names must exist to
// be mounted at /run/nextroot. A staged one is made here, its /etc merged as
// ostree-finalize-staged would (at preparation, not at shutdown: /etc edits
// made in the seconds between are not carried); a rollback one exists.
func (h *Host) prepareSoftReboot(t testing.TB) {
	t.Helper()
	req := filepath.Join(h.guest.report, "nextroot-request")
	b, err := os.ReadFile(req)
	if err != nil {
		return
	}
	if err := os.Remove(req); err != nil {
		t.Fatal(err)
	}
	var doc harness.Host
	readJSON(t, filepath.Join(h.StateDir(), "bootc", "status.json"), &doc)
	var d *deployment
	switch entry := strings.TrimSpace(string(b)); {
	case entry == "staged" && doc.Status.Staged != nil && doc.Status.Staged.Image != nil:
		d = h.deploy(t, doc.Status.Staged.Image.ImageDigest)
		if err := mergeEtc(filepath.Join(h.booted.root, "etc"), h.booted.etc, filepath.Join(d.root, "etc"), d.etc); err != nil {
			t.Fatalf("merging /etc into the new deployment: %v", err)
		}
	case entry == "rollback" && h.rollback != nil:
		d = h.rollback
	default:
		t.Fatalf("the guest asked for a soft reboot into %q, which the host does not have", entry)
	}
	h.softNext, h.softFinalized = d, false
	// The new boot reports afresh (the report directory is in /var).
	for _, f := range []string{"ready", "greenboot", "finalize-request", "finalized"} {
		if err := os.Remove(filepath.Join(h.guest.report, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	lines := []string{filepath.Join("/sysroot", deployRel, filepath.Base(d.dir)), "/usr/bin/bootc"}
	for _, bd := range h.skopeoBinds(t, d.root) {
		lines = append(lines, bd.guest)
	}
	writeFile(t, filepath.Join(h.guest.report, ".nextroot"), strings.Join(lines, "\n")+"\n", 0o644)
	if err := os.Rename(filepath.Join(h.guest.report, ".nextroot"), filepath.Join(h.guest.report, "nextroot")); err != nil {
		t.Fatal(err)
	}
}

// finalizeSoftReboot answers the guest's shutdown half of a soft reboot
// (testboot-sim-finalize.service, see writeUnits): what
// ostree-finalize-staged.service and greenboot's rollback trigger do as units
// stop, before the new userspace starts and reads the status (finalize).
func (h *Host) finalizeSoftReboot(t testing.TB) {
	t.Helper()
	req := filepath.Join(h.guest.report, "finalize-request")
	if _, err := os.Stat(req); err != nil {
		return
	}
	if err := os.Remove(req); err != nil {
		t.Fatal(err)
	}
	h.finalize(t, false, true)
	h.softFinalized = true
	writeFile(t, filepath.Join(h.guest.report, "finalized"), "", 0o644)
}

// softRebooted reports whether the guest came up again, after a finalized
// soft reboot, in the deployment it prepared (the ready marker names it).
func (h *Host) softRebooted(t testing.TB) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.guest.report, "ready"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) != 1 || f[0] != filepath.Base(h.booted.dir) {
		t.Fatalf("after a soft reboot into %s the guest reports deployment %q", h.booted.dir, string(b))
	}
	h.boots++
	h.softNext = nil
	t.Logf("boot %d: %s up by a soft reboot, %.1fs after systemd-nspawn started", h.boots, h.booted.digest, time.Since(h.guest.started).Seconds())
	return true
}

// RebootedWithin waits up to d for the guest to reboot. When it does, it
// plays the boot loader and boots what comes next, as AwaitReboot, and
// reports true; when the guest is still running after d, false.
func (h *Host) RebootedWithin(t testing.TB, d time.Duration) bool {
	t.Helper()
	if h.guest == nil {
		t.Fatal("RebootedWithin: the host is not running")
	}
	select {
	case <-h.guest.exited:
		h.AwaitReboot(t, time.Second)
		return true
	case <-time.After(d):
		return false
	}
}

// WaitGuestProcess waits until a process of the guest (a descendant of its
// systemd-nspawn) has every word in its command line, and returns its pid
// (here).
func (h *Host) WaitGuestProcess(t testing.TB, timeout time.Duration, words ...string) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if !descendsFrom(pid, h.guest.cmd.Process.Pid) {
				continue
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if err != nil {
				continue
			}
			cmdline, all := strings.ReplaceAll(string(b), "\x00", " "), true
			for _, w := range words {
				all = all && strings.Contains(cmdline, w)
			}
			if all {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no process of the guest ran %q within %s", strings.Join(words, " "), timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// PowerCut ends the guest as a power failure would, then powers it on again.
// SIGKILL to the guest's init (PID 1 of its PID namespace) ends every process
// in it at once: nothing of an orderly shutdown runs. The boot loader then
// boots what its entries say. A staged deployment never got an entry: ostree
// writes it only at shutdown, in ostree-finalize-staged.service (ostree
// src/libostree/ostree-sysroot-deploy.c `ostree_sysroot_stage_tree` keeps it
// in /run/ostree/staged-deployment, `_ostree_sysroot_finalize_staged` writes
// it), so it is gone, locked or not. A queued rollback survives: bootc wrote
// the new boot order at once (bootc-dev/bootc crates/lib/src/deploy.rs
// `rollback`, `write_deployments`).
func (h *Host) PowerCut(t testing.TB) {
	t.Helper()
	g := h.guest
	if g == nil {
		t.Fatal("PowerCut: the host is not running")
	}
	pid := guestInit(g.cmd.Process.Pid)
	if pid == 0 {
		t.Fatal("PowerCut: the guest's init process is not found")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("PowerCut: %v", err)
	}
	select {
	case <-g.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("systemd-nspawn did not end within 30s of its guest's init being killed")
	}
	h.guest = nil
	t.Logf("power cut: the guest's init (pid %d) killed; systemd-nspawn ended with %v", pid, g.waitErr)
	h.finalize(t, true, false)
	h.Boot(t)
}

// descendsFrom reports whether ancestor is pid's parent, grandparent...
func descendsFrom(pid, ancestor int) bool {
	for i := 0; i < 64 && pid > 1; i++ {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return false
		}
		s := string(stat)
		j := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[j+1:])
		if j < 0 || len(f) < 2 {
			return false
		}
		if pid, err = strconv.Atoi(f[1]); err != nil {
			return false
		}
		if pid == ancestor {
			return true
		}
	}
	return false
}

// guestInit is the pid (here) of the process that is PID 1 in the guest: the
// descendant of systemd-nspawn whose last NSpid is 1.
func guestInit(nspawn int) int {
	queue := []int{nspawn}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range harness.ChildrenOf(p) {
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(st), "\n") {
				if f := strings.Fields(line); len(f) > 2 && f[0] == "NSpid:" && f[len(f)-1] == "1" {
					return c
				}
			}
			queue = append(queue, c)
		}
	}
	return 0
}

// finalize is the shutdown and boot-loader half of a reboot: ostree-finalize-
// staged.service writes a staged deployment that is not locked (its /etc
// merged) and the boot order; then the boot loader picks the first entry.
// The deployments move by the rules of test/doubles/lib/host.sh `host_reboot`,
// run on the status document; the rig moves its directories the same way and
// checks that both agree.
//
// After a power cut (powerCut), nothing was finalized: a staged deployment is
// dropped from the status document first (see PowerCut).
//
// After a soft reboot (soft), the next deployment was made already
// (prepareSoftReboot) and the boot loader did not run.
func (h *Host) finalize(t testing.TB, powerCut, soft bool) {
	t.Helper()
	if powerCut {
		p := filepath.Join(h.StateDir(), "bootc", "status.json")
		var raw map[string]any
		readJSON(t, p, &raw)
		if st, ok := raw["status"].(map[string]any); ok {
			st["staged"] = nil
		}
		b, err := json.Marshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, string(b), 0o644)
	}
	h.greenbootAtReboot(t, powerCut, soft)
	var doc harness.Host
	readJSON(t, filepath.Join(h.StateDir(), "bootc", "status.json"), &doc)
	s := doc.Status
	old := h.rollback
	switch {
	case s.RollbackQueued && s.Rollback != nil:
		// bootc-dev/bootc crates/lib/src/deploy.rs `rollback` wrote the
		// rollback deployment first in the boot order.
		if h.rollback == nil {
			t.Fatal("a rollback is queued but the rig has no rollback deployment")
		}
		h.booted, h.rollback = h.rollback, h.booted
		old = nil
	case s.Staged != nil && !s.Staged.DownloadOnly && s.Staged.Image != nil && soft:
		h.booted, h.rollback = h.softNext, h.booted
	case s.Staged != nil && !s.Staged.DownloadOnly && s.Staged.Image != nil:
		// ostree-finalize-staged: the new deployment's /etc is the merge of
		// the booted one's local changes onto the new image's defaults.
		d := h.deploy(t, s.Staged.Image.ImageDigest)
		if err := mergeEtc(filepath.Join(h.booted.root, "etc"), h.booted.etc, filepath.Join(d.root, "etc"), d.etc); err != nil {
			t.Fatalf("merging /etc into the new deployment: %v", err)
		}
		h.booted, h.rollback = d, h.booted
	default:
		// Nothing staged, or staged download-only: ostree leaves a locked
		// deployment unfinalized, and it is gone after the boot.
		old = nil
	}
	if old != nil && old != h.booted && old != h.rollback {
		// ostree keeps two deployments: the one that fell off is removed.
		if err := os.RemoveAll(old.dir); err != nil {
			t.Errorf("removing deployment %s: %v", old.dir, err)
		}
	}
	cmd := exec.Command("bash", "-c", fmt.Sprintf("set -euo pipefail; source %q; host_reboot", harness.Path("test", "doubles", "lib", "host.sh")))
	cmd.Env = append(os.Environ(), "DOUBLES_STATE="+h.StateDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("host_reboot: %v: %s", err, out)
	}
	readJSON(t, filepath.Join(h.StateDir(), "bootc", "status.json"), &doc)
	if got := doc.Status.Booted.Image.ImageDigest; got != h.booted.digest {
		t.Fatalf("after the reboot the status document boots %s, the rig %s", got, h.booted.digest)
	}
	if soft && h.softNext != h.booted {
		t.Fatalf("the guest soft-reboots into %s, but the status document boots %s", h.softNext.digest, h.booted.digest)
	}
}

// Stop powers the guest off (SIGTERM to nspawn: an orderly shutdown), then
// kills it when it does not stop.
func (h *Host) stop(t testing.TB) {
	g := h.guest
	if g == nil {
		return
	}
	h.guest = nil
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
		return
	case <-time.After(15 * time.Second):
	}
	_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGKILL)
	for _, pid := range harness.ChildrenOf(g.cmd.Process.Pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	<-g.exited
	t.Logf("killed systemd-nspawn %d after it ignored SIGTERM for 15s", g.cmd.Process.Pid)
}

// Console is the console of the current (or last) boot.
func (h *Host) Console() string {
	if len(h.consoles) == 0 {
		return ""
	}
	return readFile(h.consoles[len(h.consoles)-1])
}

// diskSize is the simulated host's disk (sparse: it takes on the test
// machine only what is written). Large enough for verify's free-space checks
// (500 MiB and 5% free) with every image the scenarios pull.
const diskSize = 4 << 30

// mountDisk makes an ext4 filesystem in a sparse file and mounts it (loop) on
// dir. No blocks are reserved for root: bootc runs as root, and "full" must
// mean full for it too.
func mountDisk(t testing.TB, img, dir string) {
	t.Helper()
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(diskSize)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	run(t, time.Minute, "mkfs.ext4", "-q", "-F", "-m", "0", "-L", "simhost-root", img)
	mkdir(t, dir)
	run(t, time.Minute, "mount", "-o", "loop", img, dir)
}

// unmountDisk unmounts dir (mount -o loop detaches the loop device with it),
// lazily when something still holds it. Not mounted: nothing to do.
func unmountDisk(dir string) error {
	if err := exec.Command("mountpoint", "-q", dir).Run(); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "umount", dir).CombinedOutput(); err != nil {
		if out2, err2 := exec.CommandContext(ctx, "umount", "-l", dir).CombinedOutput(); err2 != nil {
			return fmt.Errorf("umount: %v: %s; umount -l: %v: %s", err, out, err2, out2)
		}
	}
	return nil
}

// FillDisk fills the host's disk from its /var until only keep bytes are
// free: a file in /var, as logs or an app's data that grew would. It returns
// a function that removes the file (once, however often it is called).
func (h *Host) FillDisk(t testing.TB, keep int64) func() {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(h.VarDir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if free <= keep {
		t.Fatalf("the disk has %d bytes free, less than the %d to keep", free, keep)
	}
	p := filepath.Join(h.VarDir, "lib", "simhost-fill")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	err = syscall.Fallocate(int(f.Fd()), 0, 0, free-keep)
	f.Close()
	if err != nil {
		t.Fatalf("filling /var: %v", err)
	}
	if err := syscall.Statfs(h.VarDir, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("/var filled: %d bytes in %s, %d bytes left free", free-keep, p, int64(st.Bavail)*st.Bsize)
	var once sync.Once
	return func() {
		once.Do(func() {
			if err := os.Remove(p); err != nil {
				t.Errorf("emptying /var again: %v", err)
			}
		})
	}
}

// StoreHas reports whether the image digest was pulled completely: an entry
// of the OCI layout in /sysroot, which skopeo writes only after every blob is
// in place (containers/image oci/layout `ociImageDestination.Commit`).
func (h *Host) StoreHas(t testing.TB, digest string) bool {
	t.Helper()
	var index struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	p := filepath.Join(h.Sysroot, storeRel, "index.json")
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return false
	}
	readJSON(t, p, &index)
	for _, m := range index.Manifests {
		if m.Annotations["org.opencontainers.image.ref.name"] == strings.TrimPrefix(digest, "sha256:") {
			return true
		}
	}
	return false
}

// PulledRecord is the bootc double's record of what was last pulled for each
// reference (ostree-ext's ref per image reference): "" when there is none.
func (h *Host) PulledRecord(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.StateDir(), "bootc", "pulled.json"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// PartialBlobs are the blob files a pull is writing, or left unfinished, in
// the OCI layout, with their sizes so far (containers/image writes each blob
// to an "oci-put-blob*" temporary file in the layout, renamed once its digest
// is checked: oci/layout `ociImageDestination.PutBlobWithOptions`).
func (h *Host) PartialBlobs() map[string]int64 {
	m, _ := filepath.Glob(filepath.Join(h.Sysroot, storeRel, "oci-put-blob*"))
	out := map[string]int64{}
	for _, p := range m {
		if fi, err := os.Stat(p); err == nil {
			out[filepath.Base(p)] = fi.Size()
		}
	}
	return out
}

// BytesPulled is how many bytes the registry has sent to the guest (and the
// install) so far.
func (h *Host) BytesPulled() int64 { return h.regFwd.received.Load() }

// SetRegistryDelay makes every new connection to the registry wait d first:
// a slow link, so a download takes long enough to meet a second operator.
func (h *Host) SetRegistryDelay(d time.Duration) { h.regFwd.delay.Store(int64(d)) }

// SetRegistryRate limits every connection to the registry to bytes a second
// (0: no limit): a slow link, so a download is still running when the test
// interrupts it.
func (h *Host) SetRegistryRate(bytes int64) { h.regFwd.rate.Store(bytes) }

// CorruptBlobs makes the registry bridge serve each of these blobs (digests)
// with one byte changed, on connections opened from now on; none: served
// unchanged again. It returns how many blob bodies were changed so far.
func (h *Host) CorruptBlobs(digests ...string) int64 {
	bad := map[string]bool{}
	for _, d := range digests {
		bad[d] = true
	}
	h.regFwd.corrupt.Store(&bad)
	return h.regFwd.corrupted.Load()
}

// CutSSH drops every SSH connection to the host at once, as a network that
// fails: the client and the host's sshd each see their connection end. It
// returns how many connections were open.
func (h *Host) CutSSH() int { return h.sshFwd.cut() }

// SetRegistryReachable cuts or restores the guest's way to the registry: cut,
// every connection is closed as soon as it is accepted.
func (h *Host) SetRegistryReachable(ok bool) { h.regFwd.down.Store(!ok) }

// installEnforcesSigpolicy reports whether an install config of the image turns on
// enforce-container-sigpolicy.
func installEnforcesSigpolicy(t testing.TB, root string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "usr", "lib", "bootc", "install", "*.toml"))
	on := regexp.MustCompile(`(?m)^\s*enforce-container-sigpolicy\s*=\s*true\s*$`)
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && on.Match(b) {
			return true
		}
	}
	return false
}

// writeUnits writes the guest's runtime units: the bridges, the ready marker,
// and cloud-init masked (no EC2 metadata service here).
func (h *Host) writeUnits(t testing.TB, dir string) {
	t.Helper()
	_, port, _ := strings.Cut(h.reg.Addr, ":")
	proxyd := "/usr/lib/systemd/systemd-socket-proxyd"
	files := map[string]string{
		"testboot-sim-ssh.socket": fmt.Sprintf(`[Unit]
Description=Simulated host: SSH from the test machine

[Socket]
ListenStream=%s
SocketMode=0600
`, guestSSHSock),
		"testboot-sim-ssh.service": fmt.Sprintf(`[Unit]
Description=Simulated host: SSH from the test machine to sshd
After=ssh.service

[Service]
ExecStart=%s 127.0.0.1:22
`, proxyd),
		"testboot-sim-registry.socket": fmt.Sprintf(`[Unit]
Description=Simulated host: the registry on 127.0.0.1:%[1]s

[Socket]
ListenStream=127.0.0.1:%[1]s
FreeBind=yes
`, port),
		"testboot-sim-registry.service": fmt.Sprintf(`[Unit]
Description=Simulated host: the registry, through the test machine

[Service]
ExecStart=%s %s
`, proxyd, guestRegistrySock),
		// ostree-finalize-staged.service runs as the system goes down (its
		// ExecStop), at a soft reboot too: the rig plays it, and greenboot's
		// rollback trigger, from here before the new userspace starts. A
		// reboot is finalized by the rig after systemd-nspawn ended (finalize).
		"testboot-sim-finalize.service": fmt.Sprintf(`[Unit]
Description=Simulated host: finalize a soft reboot (ostree-finalize-staged)
DefaultDependencies=no
RequiresMountsFor=%[1]s
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/bin/sh -c 'mountpoint -q /run/nextroot || exit 0; r=%[1]s; echo >$r/.finalize-request && mv $r/.finalize-request $r/finalize-request; i=0; while [ ! -e $r/finalized ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i+1)); done; [ -e $r/finalized ]'
TimeoutStopSec=330
`, guestReportDir),
		// systemd makes / shared at boot (src/shared/mount-setup.c
		// `mount_setup`), but not in a container, where that is the container
		// manager's part; nspawn did it for the first boot. A soft reboot's
		// switch into the new root made every mount private
		// (src/shared/switch-root.c), and services' namespaces (logind's,
		// which turns a reboot into a soft one when /run/nextroot is set up)
		// would no longer see mounts made later. So / is shared again, as
		// systemd does on a host.
		"testboot-sim-shared-root.service": `[Unit]
Description=Simulated host: / shared, as systemd makes it outside a container
DefaultDependencies=no
Before=sysinit.target
# Stopped as the system goes down, so that the next boot (a soft one too) runs it again.
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/mount --make-rshared /
`,
		"testboot-sim-ready.service": fmt.Sprintf(`[Unit]
Description=Simulated host: tell the rig the boot is up
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'cat %[2]s >%[1]s/.ready && mv %[1]s/.ready %[1]s/ready'
`, guestReportDir, guestDeployMark),
	}
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content, 0o644)
	}
	for _, s := range []string{"testboot-sim-ssh.socket", "testboot-sim-registry.socket"} {
		symlink(t, "../"+s, filepath.Join(dir, "sockets.target.wants", s))
	}
	symlink(t, "../testboot-sim-ready.service", filepath.Join(dir, "multi-user.target.wants", "testboot-sim-ready.service"))
	mkdir(t, filepath.Join(dir, "sysinit.target.wants"))
	symlink(t, "../testboot-sim-shared-root.service", filepath.Join(dir, "sysinit.target.wants", "testboot-sim-shared-root.service"))
	symlink(t, "../testboot-sim-finalize.service", filepath.Join(dir, "multi-user.target.wants", "testboot-sim-finalize.service"))
	for _, u := range []string{"cloud-init-local.service", "cloud-init.service", "cloud-config.service", "cloud-final.service"} {
		symlink(t, "/dev/null", filepath.Join(dir, u))
	}
	writeGreenbootUnit(t, dir)
}
