package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"bootc-testboot/test/harness"
	"bootc-testboot/test/signing"
)

// The VM transport: the image built on the real base, turned into a qcow2 by
// bootc-image-builder (scripts/create-ami.sh --type qcow2, the builder and
// disk layout `make ami` uses) and booted with qemu and KVM, as
// bootc-image-builder's own integration tests boot their disks
// (osbuild/bootc-image-builder .github/workflows/tests.yml installs
// qemu-system-x86 for test/test_build_disk.py). A persistent disk, unlike an
// ephemeral bcvk guest, keeps /sysroot across the upgrade and rollback reboots.
// Only `make vm-test` sets TESTBOOT_VM (after checking /dev/kvm).

const vmUser = "ops"

type vmHost struct {
	repo, sshPort, key, console string
	f                           *vmFixture
	bootID                      string
}

type vmFixture struct {
	cosign string
	key    signing.Key
	images map[string]harness.Image
}

func (v *vmHost) sshOpts() string {
	return "-F /dev/null -p " + v.sshPort + " -i " + v.key + " -o IdentitiesOnly=yes -o UserKnownHostsFile=/dev/null" +
		" -o StrictHostKeyChecking=no -o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR"
}

func run(timeout time.Duration, env []string, name string, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = harness.Root(), append(workstation(), env...), strings.NewReader("")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	case err != nil:
		r.ExitCode, r.Stderr = -1, r.Stderr+"\n"+err.Error()
	}
	return r
}

// workstation is this process's environment without what `make vm-test`
// exported that would change the make targets the driver runs.
func workstation() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "MAKE"), name == "MFLAGS":
		case strings.Contains(" HOST YES VERIFY_ARGS SSH_OPTS IMAGE VERSION REGISTRY IMAGE_NAME OUTPUT EXTRA_TAGS TLS_VERIFY ", " "+name+" "):
		default:
			env = append(env, kv)
		}
	}
	return env
}

func (v *vmHost) Make(t *testing.T, timeout time.Duration, target string, vars ...string) Result {
	t.Helper()
	args := append([]string{"--no-print-directory", target, "HOST=" + vmUser + "@127.0.0.1"}, vars...)
	r := run(timeout, []string{"SSH_OPTS=" + v.sshOpts()}, "make", args...)
	t.Logf("make %s %s: exit %d\n%s%s", target, strings.Join(vars, " "), r.ExitCode, r.Stdout, r.Stderr)
	return r
}

func (v *vmHost) ssh(timeout time.Duration, command string) Result {
	return run(timeout, nil, "ssh", append(strings.Fields(v.sshOpts()), vmUser+"@127.0.0.1", command)...)
}

// bootIdentity names one boot of userspace: the kernel's boot ID, which a
// soft reboot keeps, and systemd's count of soft reboots since the kernel
// booted (SoftRebootsCount, org.freedesktop.systemd1(5), systemd 256 and
// later), which only a soft reboot raises.
const bootIdentity = "echo $(cat /proc/sys/kernel/random/boot_id)/$(systemctl show -P SoftRebootsCount)"

// AwaitReboot: the guest reboots itself, fully or softly; a new boot
// identity over SSH is the next boot.
func (v *vmHost) AwaitReboot(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r := v.ssh(20*time.Second, bootIdentity)
		if id := strings.TrimSpace(r.Stdout); r.ExitCode == 0 && id != "" && id != v.bootID {
			v.bootID = id
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("no new boot within %s\n%s", timeout, harness.Tail(readConsole(v.console), 40))
}

// ProbeDowntime: hello's /health through nginx, over the same SSH path.
func (v *vmHost) ProbeDowntime(*testing.T) func() time.Duration {
	return Downtime(func() bool {
		return v.ssh(5*time.Second, "curl -fsS -o /dev/null --max-time 2 http://127.0.0.1/health").ExitCode == 0
	})
}

// AwaitHealthSettled: greenboot-healthcheck.service is a oneshot with
// RemainAfterExit=yes (fedora-iot/greenboot-rs,
// usr/lib/systemd/system/greenboot-healthcheck.service): SubState "exited"
// once a boot passed (or the gate held it); a failed one is rebooted by
// greenboot (src/main.rs health_check). So: the first boot after the apply
// whose health check exited is where the host stays.
func (v *vmHost) AwaitHealthSettled(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	applied, last := v.bootID, ""
	for time.Now().Before(deadline) {
		r := v.ssh(20*time.Second, bootIdentity+"; systemctl show -P SubState greenboot-healthcheck.service")
		if f := strings.Fields(r.Stdout); r.ExitCode == 0 && len(f) == 2 && f[0] != applied {
			if f[0] != last {
				t.Logf("boot %s: greenboot running", f[0])
				last = f[0]
			}
			if f[1] == "exited" {
				v.bootID = f[0]
				return
			}
		}
		time.Sleep(5 * time.Second)
	}
	t.Fatalf("greenboot did not settle within %s\n%s", timeout, harness.Tail(readConsole(v.console), 40))
}

func (v *vmHost) Publish(t *testing.T, version string, sign bool) string {
	t.Helper()
	if _, ok := v.f.images[version]; !ok {
		t.Fatalf("no image %q was built for the driver", version)
	}
	out := t.TempDir()
	r := run(10*time.Minute, nil, "make", "--no-print-directory", "push", "IMAGE="+v.repo, "VERSION="+version,
		"TLS_VERIFY=false", "OUTPUT="+out)
	if r.ExitCode != 0 {
		t.Fatalf("make push %s: %s", version, r.Output())
	}
	b, err := os.ReadFile(filepath.Join(out, "digest"))
	if err != nil {
		t.Fatal(err)
	}
	digest := strings.TrimSpace(string(b))
	if sign {
		signing.Sign(t, v.f.cosign, v.f.key, v.repo+"@"+digest)
	}
	return digest
}

// breakHello makes hello's unit fail to start in the copy of the repository
// an image is built from.
func breakHello(dir string) error {
	p := filepath.Join(dir, "apps", "hello", "hello.service")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	const from = "ExecStart=/usr/bin/hello\n"
	if !strings.Contains(string(b), from) {
		return fmt.Errorf("%s has no %q line to change", p, strings.TrimSpace(from))
	}
	return os.WriteFile(p, []byte(strings.Replace(string(b), from, "ExecStart=/bin/false\n", 1)), 0o644)
}

func readConsole(p string) string { b, _ := os.ReadFile(p); return string(b) }

func TestVM(t *testing.T) {
	if os.Getenv("TESTBOOT_VM") == "" {
		t.Skip("boots a KVM guest: run it with make vm-test")
	}
	qemu := map[string]string{"amd64": "qemu-system-x86_64", "arm64": "qemu-system-aarch64"}[runtime.GOARCH]
	harness.Require(t, qemu, "qemu-img", "podman", "skopeo", "docker-registry", "ssh", "ssh-keygen", "make")
	base := os.Getenv("BASE_IMAGE")
	if base == "" {
		m := regexp.MustCompile(`(?m)^ARG BASE_IMAGE=(\S+)$`).FindStringSubmatch(harness.ReadFile(t, harness.Path("Containerfile")))
		if m == nil {
			t.Fatal("Containerfile has no ARG BASE_IMAGE= default")
		}
		base = m[1]
	}
	reg := harness.StartDockerRegistry(t)
	_, port, _ := net.SplitHostPort(reg.Addr)
	repo := reg.Addr + "/testboot/os"
	f := &vmFixture{cosign: signing.Cosign(t), images: map[string]harness.Image{}}
	f.key = signing.NewKey(t, f.cosign, "cosign")
	epoch := time.Now().Add(-time.Hour).Unix()
	// vm-v4's hello cannot start: the health gate fails it and greenboot
	// rolls the host back.
	for n := 1; n <= 4; n++ {
		mark := "# vm-test image v" + strconv.Itoa(n) + "\n"
		img := harness.BuildImage(t, harness.BuildOptions{Image: repo, SignedRepo: repo, Version: "vm-v" + strconv.Itoa(n),
			SourceDateEpoch: epoch + int64(n)*100, BaseImage: base, Modify: func(dir string) error {
				if err := signing.UseKeys(dir, f.key); err != nil {
					return err
				}
				p := filepath.Join(dir, "configs", "nginx.conf")
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if err := os.WriteFile(p, append(b, mark...), 0o644); err != nil {
					return err
				}
				if n == 4 {
					return breakHello(dir)
				}
				return nil
			}})
		f.images[img.Version] = img
	}
	dir := t.TempDir()
	v := &vmHost{repo: repo, key: filepath.Join(dir, "id"), console: filepath.Join(dir, "console.log"), f: f}
	v1 := v.Publish(t, "vm-v1", true)
	if r := run(time.Minute, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", v.key); r.ExitCode != 0 {
		t.Fatal(r.Output())
	}
	// The disk tracks :latest, as AMIs do (AMI_IMAGE), so the driver's pushes reach it.
	if r := run(time.Minute, nil, "podman", "tag", repo+":vm-v1", repo+":latest"); r.ExitCode != 0 {
		t.Fatal(r.Output())
	}
	out := filepath.Join(dir, "disk")
	r := run(60*time.Minute, nil, "scripts/create-ami.sh", "--type", "qcow2", "--image", repo+":latest", "--output", out)
	if r.ExitCode != 0 {
		t.Fatalf("scripts/create-ami.sh --type qcow2: %s", r.Output())
	}
	disk := strings.TrimSpace(harness.Tail(r.Stdout, 1))

	// cloud-init's NoCloud datasource over HTTP (SMBIOS serial ds=nocloud;s=URL,
	// cloud-init doc/rtd/reference/datasources/nocloud.rst): the admin user
	// with the test's key, and the registry on the runner as the guest reaches
	// it (10.0.2.2 is the host's loopback under qemu user networking). The
	// image keeps its name: signatures are checked against 127.0.0.1:PORT/...,
	// only the location is rewritten (containers-registries.conf(5), location).
	pub, err := os.ReadFile(v.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	userData := fmt.Sprintf(`#cloud-config
users:
  - name: %s
    groups: [wheel]
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    ssh_authorized_keys: [%q]
write_files:
  # The gate's default timeout (300s) times greenboot's three failed boots
  # would make the broken image's rollback take half an hour.
  - path: /etc/bootc-testboot/health-gate.conf
    content: |
      HEALTH_GATE_TIMEOUT=90
  - path: /etc/containers/registries.conf.d/50-vm-test.conf
    content: |
      [[registry]]
      prefix = "%s"
      location = "10.0.2.2:%s"
      insecure = true
`, vmUser, strings.TrimSpace(string(pub)), reg.Addr, port)
	seed := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/user-data":
			fmt.Fprint(w, userData)
		case "/meta-data":
			fmt.Fprint(w, "instance-id: vm-test\nlocal-hostname: vm-test\n")
		case "/vendor-data":
		default:
			http.NotFound(w, r)
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go seed.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { seed.Close() })
	_, seedPort, _ := net.SplitHostPort(ln.Addr().String())
	v.sshPort = strings.TrimPrefix(harness.FreeAddr(t), "127.0.0.1:")

	args := []string{"-m", "4096", "-smp", "2", "-cpu", "host", "-nographic", "-serial", "file:" + v.console,
		"-drive", "file=" + disk + ",if=virtio,format=qcow2",
		"-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:" + v.sshPort + "-:22", "-device", "virtio-net-pci,netdev=n0",
		"-smbios", "type=1,serial=ds=nocloud;s=http://10.0.2.2:" + seedPort + "/"}
	if runtime.GOARCH == "arm64" {
		args = append([]string{"-machine", "virt,accel=kvm", "-bios", "/usr/share/AAVMF/AAVMF_CODE.fd"}, args...)
	} else {
		args = append([]string{"-machine", "q35,accel=kvm"}, args...)
	}
	vm := exec.Command(qemu, args...)
	if err := vm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vm.Process.Kill(); _ = vm.Wait() })
	v.AwaitReboot(t, 10*time.Minute) // the first boot

	Run(t, v, Plan{V1Digest: v1, V2: "vm-v2", Unsigned: "vm-v3", Broken: "vm-v4", BrokenCheck: "unit:hello.service"})

	// What only the real base has: SELinux enforcing, and no denial for the
	// services the image runs.
	if r := v.ssh(time.Minute, "getenforce"); strings.TrimSpace(r.Stdout) != "Enforcing" {
		t.Errorf("getenforce: %q, want Enforcing\n%s", r.Stdout, r.Stderr)
	}
	if r := v.ssh(time.Minute, "sudo journalctl -b --no-pager -o cat _TRANSPORT=audit | grep 'avc:  denied' || true"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("SELinux denials in this boot:\n%s", r.Stdout)
	}
}
