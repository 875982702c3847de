package lifecycle

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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

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
	// The admin user and the test's key come from bootc-image-builder, through
	// the repository's config.toml with its placeholder key replaced, as for
	// `make ami` ([[customizations.user]]: osbuild/bootc-image-builder
	// README.md, "Adding a user"). Nothing reaches the guest through
	// cloud-init: it boots with no datasource, like a host where there is no
	// metadata service.
	pub, err := os.ReadFile(v.key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(config, []byte(adminConfig(t, strings.TrimSpace(string(pub)))), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "disk")
	r := run(60*time.Minute, nil, "scripts/create-ami.sh", "--type", "qcow2", "--image", repo+":latest",
		"--config", config, "--output", out)
	if r.ExitCode != 0 {
		t.Fatalf("scripts/create-ami.sh --type qcow2: %s", r.Output())
	}
	disk := strings.TrimSpace(harness.Tail(r.Stdout, 1))

	v.sshPort = strings.TrimPrefix(harness.FreeAddr(t), "127.0.0.1:")

	args := []string{"-m", "4096", "-smp", "2", "-cpu", "host", "-nographic", "-serial", "file:" + v.console,
		"-drive", "file=" + disk + ",if=virtio,format=qcow2",
		"-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:" + v.sshPort + "-:22", "-device", "virtio-net-pci,netdev=n0"}
	if runtime.GOARCH == "arm64" {
		args = append([]string{"-machine", "virt,accel=kvm", "-bios", "/usr/share/AAVMF/AAVMF_CODE.fd"}, args...)
	} else {
		args = append([]string{"-machine", "q35,accel=kvm"}, args...)
	}
	vm := exec.Command(qemu, args...)
	if err := vm.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	t.Cleanup(func() { _ = vm.Process.Kill(); _ = vm.Wait() })
	v.AwaitReboot(t, 10*time.Minute) // the first boot
	t.Logf("first boot: SSH answered %s after qemu started", time.Since(started).Round(time.Second))
	v.checkNoDatasourceBoot(t)

	// The registry on the runner as the guest reaches it (10.0.2.2 is the
	// host's loopback under qemu user networking). The image keeps its name:
	// signatures are checked against 127.0.0.1:PORT/..., only the location is
	// rewritten (containers-registries.conf(5), location). The gate's default
	// timeout (300s) times greenboot's three failed boots would make the
	// broken image's rollback take half an hour. Both are /etc edits, kept
	// by bootc's merge across the deployments that follow.
	setup := fmt.Sprintf(`set -e
sudo sed -i 's/^HEALTH_GATE_TIMEOUT=.*/HEALTH_GATE_TIMEOUT=90/' /etc/bootc-testboot/health-gate.conf
grep -qx HEALTH_GATE_TIMEOUT=90 /etc/bootc-testboot/health-gate.conf
sudo mkdir -p /etc/containers/registries.conf.d
printf '[[registry]]\nprefix = "%s"\nlocation = "10.0.2.2:%s"\ninsecure = true\n' | sudo tee /etc/containers/registries.conf.d/50-vm-test.conf`,
		reg.Addr, port)
	if r := v.ssh(time.Minute, setup); r.ExitCode != 0 {
		t.Fatalf("guest setup: exit %d\n%s", r.ExitCode, r.Output())
	}

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

// adminConfig is the repository's config.toml with the admin user's
// placeholder key replaced by key.
func adminConfig(t *testing.T, key string) string {
	t.Helper()
	cfg := harness.ReadFile(t, harness.Path("config.toml"))
	const placeholder = `key = "ssh-ed25519 AAAAREPLACE_WITH_YOUR_PUBLIC_KEY ops@example.com"`
	if strings.Count(cfg, placeholder) != 1 || !strings.Contains(cfg, `name = "`+vmUser+`"`) {
		t.Fatalf("config.toml has no user %q with the placeholder key %s", vmUser, placeholder)
	}
	// A TOML basic string: an OpenSSH public key has no quote or backslash.
	return strings.Replace(cfg, placeholder, "key = "+strconv.Quote(key), 1)
}

// ec2Search is the image's bound on cloud-init's Ec2 search
// (configs/cloud-init-datasource.cfg: datasource.Ec2 max_wait and timeout).
func ec2Search(t *testing.T) (maxWait, timeout int) {
	t.Helper()
	var cfg struct {
		Datasource struct {
			Ec2 struct {
				MaxWait int `yaml:"max_wait"`
				Timeout int `yaml:"timeout"`
			} `yaml:"Ec2"`
		} `yaml:"datasource"`
	}
	if err := yaml.Unmarshal([]byte(harness.ReadFile(t, harness.Path("configs", "cloud-init-datasource.cfg"))), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Datasource.Ec2.MaxWait <= 0 || cfg.Datasource.Ec2.Timeout <= 0 {
		t.Fatal("configs/cloud-init-datasource.cfg sets no datasource.Ec2 max_wait and timeout")
	}
	return cfg.Datasource.Ec2.MaxWait, cfg.Datasource.Ec2.Timeout
}

// cloudInitStatus is `cloud-init status --long --format json`
// (canonical/cloud-init cloudinit/cmd/status.py print_status: status,
// datasource lowercased without "DataSource", errors, recoverable_errors by
// log level from every stage), plus each stage's start and finished from
// status.json, in seconds since boot (/proc/uptime: cmd/main.py
// status_wrapper). "init" is the network stage.
type cloudInitStatus struct {
	Status            string              `json:"status"`
	ExtendedStatus    string              `json:"extended_status"`
	Datasource        string              `json:"datasource"`
	Errors            []string            `json:"errors"`
	RecoverableErrors map[string][]string `json:"recoverable_errors"`
	Init              *cloudInitStage     `json:"init"`
	ModulesFinal      *cloudInitStage     `json:"modules-final"`
}

type cloudInitStage struct {
	Start    *float64 `json:"start"`
	Finished *float64 `json:"finished"`
}

// gaveUp is DataSourceEc2.wait_for_metadata_service's LOG.critical when
// no metadata URL answered within max_wait (cloudinit/sources/DataSourceEc2.py).
var gaveUp = regexp.MustCompile(`^Giving up on md from \[.*\] after (\d+) seconds$`)

// checkNoDatasource: cloud-init finished without errors, searched Ec2 until
// max_wait ran out (not a quick refusal), and fell back to DataSourceNone
// (cc_final_message logs "Used fallback datasource" when the list was not
// just None).
func checkNoDatasource(out []byte, maxWait, timeout int) (cloudInitStatus, error) {
	var st cloudInitStatus
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("cloud-init status is not JSON: %v", err)
	}
	switch {
	case st.Status != "done":
		return st, fmt.Errorf("cloud-init status %q (%s), want done", st.Status, st.ExtendedStatus)
	case len(st.Errors) > 0:
		return st, fmt.Errorf("cloud-init errors: %q", st.Errors)
	case st.Datasource != "none":
		return st, fmt.Errorf("cloud-init used datasource %q: the search did not end without one", st.Datasource)
	case st.Init == nil || st.Init.Start == nil || st.Init.Finished == nil ||
		st.ModulesFinal == nil || st.ModulesFinal.Finished == nil:
		return st, fmt.Errorf("cloud-init status has no start and end of the network stage or end of the final stage")
	case !slices.Contains(st.RecoverableErrors["WARNING"], "Used fallback datasource"):
		return st, fmt.Errorf("no %q warning: %v", "Used fallback datasource", st.RecoverableErrors)
	}
	waited := -1
	for _, m := range st.RecoverableErrors["CRITICAL"] {
		if g := gaveUp.FindStringSubmatch(m); g != nil {
			waited, _ = strconv.Atoi(g[1])
		}
	}
	// wait_for_url stops before a retry sleep that would pass max_wait, and
	// a request already sent may run its full timeout (cloudinit/url_helper.py).
	if waited < 0 {
		return st, fmt.Errorf("cloud-init did not give up on the metadata service by a timeout: CRITICAL %q", st.RecoverableErrors["CRITICAL"])
	}
	if waited < maxWait-10 || waited > maxWait+timeout+5 {
		return st, fmt.Errorf("cloud-init gave up on the metadata service after %ds, want about max_wait (%ds)", waited, maxWait)
	}
	return st, nil
}

// checkSSHNotBlocked: sshd was ready (seconds since boot) before cloud-init
// finished, and at most the search's bound plus a margin after the network
// stage began (sshd is ordered after it: systemd/cloud-init-network.service.tmpl).
func checkSSHNotBlocked(st cloudInitStatus, sshdReady float64, maxWait, timeout int) error {
	if sshdReady <= 0 {
		return fmt.Errorf("sshd has no ready time")
	}
	if sshdReady >= *st.ModulesFinal.Finished {
		return fmt.Errorf("sshd ready at %.1fs, after cloud-init finished (%.1fs): SSH waited for all of cloud-init", sshdReady, *st.ModulesFinal.Finished)
	}
	if bound := float64(maxWait + timeout + 30); sshdReady-*st.Init.Start > bound {
		return fmt.Errorf("sshd ready %.0fs after cloud-init's network stage began (%.1fs), more than the search's bound %.0fs",
			sshdReady-*st.Init.Start, *st.Init.Start, bound)
	}
	return nil
}

// searchedEc2 is find_source's debug line in /var/log/cloud-init.log
// (cloudinit/sources/__init__.py): the network stage searched Ec2, then None.
var searchedEc2 = regexp.MustCompile(`Searching for network data source in: \['DataSourceEc2', 'DataSourceNone'\]`)

// checkNoDatasourceBoot: the first boot had no metadata service (nothing
// answers the guest at 169.254.169.254 but what the runner's network may
// refuse; any non-200 is retried until max_wait, url_helper.wait_for_url).
// cloud-init searched, gave up by its timeout, the boot finished, and SSH
// with the admin key from config.toml answered before cloud-init was done.
func (v *vmHost) checkNoDatasourceBoot(t *testing.T) {
	t.Helper()
	maxWait, timeout := ec2Search(t)
	// Exit status 2 is "degraded done" (status.py handle_status_args):
	// the fallback warning. The JSON is what is checked.
	r := v.ssh(10*time.Minute, "sudo cloud-init status --wait --long --format json")
	t.Logf("cloud-init status: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	st, err := checkNoDatasource([]byte(r.Stdout), maxWait, timeout)
	if err != nil {
		t.Fatalf("first boot without a metadata service: %v", err)
	}
	if l := v.ssh(time.Minute, "sudo cat /var/log/cloud-init.log"); !searchedEc2.MatchString(l.Stdout) {
		t.Errorf("/var/log/cloud-init.log has no %q\n%s", searchedEc2, harness.Tail(l.Stdout+l.Stderr, 40))
	}
	s := v.ssh(time.Minute, "systemctl show -P ActiveEnterTimestampMonotonic sshd.service")
	usec, err := strconv.ParseInt(strings.TrimSpace(s.Stdout), 10, 64)
	if err != nil {
		t.Fatalf("sshd.service ActiveEnterTimestampMonotonic: %q %s", s.Stdout, s.Stderr)
	}
	// CLOCK_MONOTONIC; /proc/uptime counts the same seconds in a guest that
	// never suspends.
	sshdReady := float64(usec) / 1e6
	t.Logf("network stage %.1fs-%.1fs, sshd ready %.1fs, cloud-init finished %.1fs (seconds since boot)",
		*st.Init.Start, *st.Init.Finished, sshdReady, *st.ModulesFinal.Finished)
	if err := checkSSHNotBlocked(st, sshdReady, maxWait, timeout); err != nil {
		t.Error(err)
	}
}

// noDatasourceStatus is `cloud-init status --long --format json` shaped as
// print_status writes it (sorted keys, the stages of status.json merged in)
// for a boot where Ec2 gave up and DataSourceNone was used.
const noDatasourceStatus = `{
  "boot_status_code": "enabled-by-generator",
  "datasource": "none",
  "detail": "DataSourceNone",
  "errors": [],
  "extended_status": "degraded done",
  "init": {
    "errors": [],
    "finished": 39.4,
    "recoverable_errors": {
      "CRITICAL": [
        "Giving up on md from ['http://169.254.169.254/2009-04-04/meta-data/instance-id', 'http://[fd00:ec2::254]/2009-04-04/meta-data/instance-id'] after 29 seconds"
      ],
      "WARNING": [
        "Calling 'http://169.254.169.254/2009-04-04/meta-data/instance-id' failed [0/30s]: request error [Connection refused]"
      ]
    },
    "start": 8.2
  },
  "init-local": {
    "errors": [],
    "finished": 5.9,
    "recoverable_errors": {},
    "start": 5.1
  },
  "last_update": "Thu, 01 Jan 1970 00:00:45 +0000",
  "modules-config": {
    "errors": [],
    "finished": 40.9,
    "recoverable_errors": {},
    "start": 40.1
  },
  "modules-final": {
    "errors": [],
    "finished": 45.6,
    "recoverable_errors": {
      "WARNING": [
        "Used fallback datasource"
      ]
    },
    "start": 45.0
  },
  "recoverable_errors": {
    "CRITICAL": [
      "Giving up on md from ['http://169.254.169.254/2009-04-04/meta-data/instance-id', 'http://[fd00:ec2::254]/2009-04-04/meta-data/instance-id'] after 29 seconds"
    ],
    "WARNING": [
      "Calling 'http://169.254.169.254/2009-04-04/meta-data/instance-id' failed [0/30s]: request error [Connection refused]",
      "Used fallback datasource"
    ]
  },
  "stage": null,
  "status": "done"
}`

func TestCloudInitStatusChecks(t *testing.T) {
	const maxWait, timeout = 30, 5
	st, err := checkNoDatasource([]byte(noDatasourceStatus), maxWait, timeout)
	if err != nil {
		t.Fatalf("a boot that gave up on Ec2: %v", err)
	}
	if err := checkSSHNotBlocked(st, 40.0, maxWait, timeout); err != nil {
		t.Errorf("sshd ready at 40s: %v", err)
	}
	for _, c := range []struct{ name, from, to, want string }{
		{"Ec2 found", `"datasource": "none"`, `"datasource": "ec2"`, "used datasource \"ec2\""},
		{"still running", `"status": "done"`, `"status": "running"`, "want done"},
		{"errors", `"errors": [],
  "extended_status"`, `"errors": ["init failed"],
  "extended_status"`, "cloud-init errors"},
		{"gave up too soon", "after 29 seconds", "after 2 seconds", "want about max_wait"},
		{"IMDS refused, no timeout", "Giving up on md from", "IMDS's HTTP endpoint is probably disabled", "not give up"},
		{"no fallback", `"Used fallback datasource"
    ]
  },
  "stage"`, `"other"
    ]
  },
  "stage"`, "Used fallback datasource"},
		{"no stage times", `"start": 8.2`, `"start": null`, "no start and end"},
		{"tabular output", "{\n  \"boot_status_code\"", "status: done\n{", "not JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if strings.Count(noDatasourceStatus, c.from) < 1 {
				t.Fatalf("sample has no %q", c.from)
			}
			_, err := checkNoDatasource([]byte(strings.ReplaceAll(noDatasourceStatus, c.from, c.to)), maxWait, timeout)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
	for _, c := range []struct {
		name             string
		sshdReady, final float64
		want             string
	}{
		{"after cloud-init finished", 46.0, 45.6, "waited for all of cloud-init"},
		{"long after the search", 8.2 + 30 + 5 + 31, 200, "more than the search's bound"},
		{"no time", 0, 45.6, "no ready time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			late := st
			late.ModulesFinal = &cloudInitStage{Finished: &c.final}
			if err := checkSSHNotBlocked(late, c.sshdReady, maxWait, timeout); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
	if !searchedEc2.MatchString("2026-12-02 20:00:08,201 - __init__.py[DEBUG]: Searching for network data source in: ['DataSourceEc2', 'DataSourceNone']") {
		t.Error("searchedEc2 does not match find_source's line")
	}
	if searchedEc2.MatchString("Searching for network data source in: ['DataSourceNoCloud', 'DataSourceNone']") {
		t.Error("searchedEc2 matches a search without Ec2")
	}
}

func TestAdminConfig(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q vm-test"
	cfg := adminConfig(t, key)
	if !strings.Contains(cfg, `key = "`+key+`"`) || strings.Contains(cfg, "REPLACE_WITH_YOUR_PUBLIC_KEY") {
		t.Errorf("the placeholder key was not replaced:\n%s", cfg)
	}
	if !strings.Contains(cfg, "[customizations.disk]") {
		t.Error("the rest of config.toml was lost")
	}
}
