package ops

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

const (
	amiImage = "ghcr.io/bootc-testboot/bootc-testboot:v1.2.3"
	secret   = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
)

var imageDigest = harness.Digest("image v1.2.3")

type amiEnv struct {
	d      *harness.Doubles
	config string
	output string
}

func imageKey(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref)
}

// setImage puts an image into the podman double's root storage.
func (a amiEnv) setImage(t *testing.T, ref string, labels map[string]string) {
	a.d.SetJSON(t, "podman/images/"+imageKey(ref)+".json", map[string]any{
		"Id": "0123abcd", "Digest": imageDigest, "RepoTags": []string{ref}, "Labels": labels,
	})
}

// newAMIEnv: root, the image in storage, working AWS credentials, a bucket in
// us-east-1 and the vmimport role.
func newAMIEnv(t *testing.T) amiEnv {
	t.Helper()
	d := harness.NewDoubles(t)
	dir := t.TempDir()
	a := amiEnv{d: d, config: filepath.Join(dir, "config.toml"), output: filepath.Join(dir, "output")}
	if err := os.WriteFile(a.config, []byte("[[customizations.user]]\nname = \"ops\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.setImage(t, amiImage, map[string]string{
		"containers.bootc":                  "1",
		"org.opencontainers.image.version":  "v1.2.3",
		"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
	})
	d.Set(t, "aws/credentials", "")
	d.Set(t, "aws/buckets/testboot-images", "us-east-1")
	d.Set(t, "aws/roles/vmimport", "")
	// Credentials the builder must receive by name only.
	d.Env = append(d.Env, "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY="+secret, "HOME="+dir)
	return a
}

func (a amiEnv) run(t *testing.T, args ...string) harness.Result {
	t.Helper()
	base := []string{"--config", a.config, "--output", a.output}
	return a.d.Run(t, "create-ami.sh", append(base, args...)...)
}

func amiArgs(extra ...string) []string {
	return append([]string{"--image", amiImage, "--region", "us-east-1", "--bucket", "testboot-images", "--name", "testboot-v1.2.3"}, extra...)
}

func TestAMIHappyPath(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	r := a.run(t, amiArgs()...)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	if got := lastLine(r.Stdout); got != "ami-0123456789abcdef0" {
		t.Errorf("last line %q, want the AMI ID", got)
	}
	runs := harness.Find(r.Calls, "podman", "run")
	if len(runs) != 1 {
		t.Fatalf("want one builder run:\n%s", harness.FormatCalls(r.Calls))
	}
	run := runs[0].String()
	for _, want := range []string{
		"--privileged", "--security-opt label=type:unconfined_t",
		"-v " + a.config + ":/config.toml:ro", "-v " + a.output + ":/output",
		"-v /var/lib/containers/storage:/var/lib/containers/storage",
		bibPinned + " --type ami --aws-ami-name testboot-v1.2.3 --aws-bucket testboot-images --aws-region us-east-1",
		"--progress verbose " + amiImage,
		"--env AWS_ACCESS_KEY_ID", "--env AWS_SECRET_ACCESS_KEY",
	} {
		if !strings.Contains(run, want) {
			t.Errorf("builder run lacks %q:\n%s", want, run)
		}
	}
	if strings.Contains(run, "--rootfs") {
		t.Errorf("--rootfs passed for a non-Fedora image: %s", run)
	}
	// The preflight runs before the build; IMDSv2 is required before the AMI is reported.
	order := []string{"sts", "head-bucket", "get-role", "simulate-principal-policy", "describe-images", "run", "wait",
		"modify-image-attribute", "describe-image-attribute", "create-tags"}
	i := 0
	for _, c := range r.Calls {
		if i < len(order) && strings.Contains(" "+c.String()+" ", " "+order[i]+" ") {
			i++
		}
	}
	if i != len(order) {
		t.Errorf("calls out of order (stopped at %q):\n%s", order[min(i, len(order)-1)], harness.FormatCalls(r.Calls))
	}
	tags := harness.Find(r.Calls, "aws", "create-tags", "ami-0123456789abcdef0", "snap-0fedcba9876543210")
	if len(tags) != 1 {
		t.Fatalf("AMI and snapshot not tagged together:\n%s", harness.FormatCalls(r.Calls))
	}
	var tagList []struct{ Key, Value string }
	if err := json.Unmarshal([]byte(a.d.Read(t, "aws/tags/ami-0123456789abcdef0.json")), &tagList); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range tagList {
		got[kv.Key] = kv.Value
	}
	want := map[string]string{
		"bootc-testboot:image": amiImage, "bootc-testboot:digest": imageDigest,
		"bootc-testboot:version": "v1.2.3", "bootc-testboot:revision": "0123456789abcdef0123456789abcdef01234567",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("tag %s = %q, want %q", k, got[k], v)
		}
	}
	var info map[string]string
	if err := json.Unmarshal([]byte(harness.ReadFile(t, filepath.Join(a.output, "ami.json"))), &info); err != nil {
		t.Fatal(err)
	}
	if info["ami_id"] != "ami-0123456789abcdef0" || info["snapshot_id"] != "snap-0fedcba9876543210" ||
		info["digest"] != imageDigest || info["name"] != "testboot-v1.2.3" || info["region"] != "us-east-1" ||
		info["imds_support"] != "v2.0" || info["builder"] != bibPinned {
		t.Errorf("ami.json: %v", info)
	}
	// The AMI itself requires IMDSv2 (what EC2 reports, not only what we asked for).
	var ami struct{ ImdsSupport string }
	if err := json.Unmarshal([]byte(a.d.Read(t, "aws/images/testboot-v1.2.3.json")), &ami); err != nil {
		t.Fatal(err)
	}
	if ami.ImdsSupport != "v2.0" {
		t.Errorf("AMI ImdsSupport = %q, want v2.0", ami.ImdsSupport)
	}
	if len(harness.Find(r.Calls, "aws", "modify-image-attribute", "--image-id", "ami-0123456789abcdef0", "--imds-support", "Value=v2.0")) != 1 {
		t.Errorf("IMDSv2 not required on the AMI:\n%s", harness.FormatCalls(r.Calls))
	}
	// Nothing to warn about with a supported config.
	if strings.Contains(r.Stderr, "warning") || strings.Contains(r.Stderr, "blueprint validation failed") {
		t.Errorf("warnings in a clean run:\n%s", r.Stderr)
	}
}

// The repository's own config.toml gives a clean `make ami`: the builder finds no
// customization it does not support for bootc disks, and nothing is warned about.
func TestAMIRepositoryConfigIsClean(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	r := a.d.Run(t, "create-ami.sh", append([]string{"--config", harness.Path("config.toml"), "--output", a.output}, amiArgs()...)...)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	for _, bad := range []string{"blueprint validation failed", "not supported", "warning"} {
		if strings.Contains(r.Stderr, bad) {
			t.Errorf("make ami output contains %q:\n%s", bad, r.Stderr)
		}
	}
	run := harness.Find(r.Calls, "podman", "run")[0].String()
	if !strings.Contains(run, "-v "+harness.Path("config.toml")+":/config.toml:ro") {
		t.Errorf("builder does not get the repository config: %s", run)
	}
	// The disk size comes from [customizations.disk]; no size flag exists or is passed.
	for _, flag := range []string{"--disk-size", "--image-size", "--size"} {
		if strings.Contains(run, flag) {
			t.Errorf("builder run passes %s, which bootc-image-builder does not have: %s", flag, run)
		}
	}
}

// A customization the builder does not support for bootc disks is reported
// (the builder itself only prints a warning in the middle of its log).
func TestAMIWarnsAboutUnsupportedCustomizations(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	if err := os.WriteFile(a.config, []byte("[[customizations.user]]\nname = \"ops\"\n\n[[customizations.filesystem]]\nmountpoint = \"/\"\nminsize = \"10 GiB\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := a.run(t, amiArgs()...)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	want := `warning: bootc-image-builder does not support part of ` + a.config + `: blueprint validation failed for image type "ami": customizations.filesystem: not supported`
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("no warning %q:\n%s", want, r.Stderr)
	}
}

// The builder is pinned by digest, and Renovate can move the pin (test/workflows).
func TestAMIBuilderIsPinnedByDigest(t *testing.T) {
	t.Parallel()
	if !regexp.MustCompile(`^quay\.io/centos-bootc/bootc-image-builder:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`).MatchString(bibPinned) {
		t.Fatalf("create-ami.sh pins %q, want quay.io/centos-bootc/bootc-image-builder:TAG@sha256:DIGEST", bibPinned)
	}
	a := newAMIEnv(t)
	a.d.Env = append(a.d.Env, "BIB_IMAGE=quay.io/example/bib:v1@sha256:"+strings.Repeat("a", 64))
	r := a.run(t, amiArgs("--dry-run")...)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "quay.io/example/bib:v1@sha256:") {
		t.Errorf("BIB_IMAGE does not override the pin: exit %d\n%s", r.ExitCode, r.Stdout)
	}
}

// bibPinned is the builder create-ami.sh uses by default (its BIB_PINNED line).
var bibPinned = func() string {
	data, err := os.ReadFile(harness.Path("scripts", "create-ami.sh"))
	if err != nil {
		panic(err)
	}
	m := regexp.MustCompile(`(?m)^readonly BIB_PINNED=(\S+)$`).FindSubmatch(data)
	if m == nil {
		return "BIB_PINNED not found in scripts/create-ami.sh"
	}
	return string(m[1])
}()

func TestAMIIMDSv2Failure(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	a.d.Set(t, "aws/fail-ec2-modify-image-attribute", "An error occurred (UnauthorizedOperation) when calling the ModifyImageAttribute operation: You are not authorized to perform this operation.")
	r := a.run(t, amiArgs()...)
	lastErrorLine(t, r, 1, "AMI ami-0123456789abcdef0 is available but does not require IMDSv2; do not launch it")
	if exists(filepath.Join(a.output, "ami.json")) || lastLine(r.Stdout) == "ami-0123456789abcdef0" {
		t.Error("reported an AMI that does not require IMDSv2")
	}
	if len(harness.Find(r.Calls, "aws", "create-tags")) != 0 {
		t.Error("tagged an AMI that does not require IMDSv2")
	}
}

func TestAMINeverRevealsCredentials(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	r := a.run(t, amiArgs()...)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	logs, _ := filepath.Glob(filepath.Join(a.output, "*"))
	places := map[string]string{"stdout": r.Stdout, "stderr": r.Stderr, "call record": harness.ReadFile(t, a.d.Log)}
	for _, f := range logs {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			places[f] = harness.ReadFile(t, f)
		}
	}
	for where, text := range places {
		if strings.Contains(text, secret) {
			t.Errorf("the secret key appears in %s", where)
		}
	}
}

func TestAMIEnvFile(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	envFile := filepath.Join(t.TempDir(), "aws.env")
	if err := os.WriteFile(envFile, []byte("AWS_ACCESS_KEY_ID=x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := a.run(t, amiArgs("--env-file", envFile)...)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	run := harness.Find(r.Calls, "podman", "run")[0]
	if !run.Has("podman", "--env-file", envFile) || run.Has("podman", "AWS_SECRET_ACCESS_KEY") {
		t.Errorf("want credentials only from the env file: %s", run)
	}
}

func TestAMIRootfsForFedora(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	a.setImage(t, amiImage, map[string]string{"containers.bootc": "1", "redhat.id": "fedora"})
	r := a.run(t, amiArgs()...)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	if !strings.Contains(harness.Find(r.Calls, "podman", "run")[0].String(), "--rootfs xfs") {
		t.Errorf("Fedora image built without --rootfs xfs")
	}
	r = a.run(t, amiArgs("--rootfs", "btrfs", "--name", "testboot-btrfs")...)
	if r.ExitCode != 0 || !strings.Contains(harness.Find(r.Calls, "podman", "run")[0].String(), "--rootfs btrfs") {
		t.Errorf("explicit --rootfs not used: exit %d\n%s", r.ExitCode, r.Output())
	}
}

func TestAMIDefaultName(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	r := a.run(t, "--image", amiImage, "--region", "us-east-1", "--bucket", "testboot-images")
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	run := harness.Find(r.Calls, "podman", "run")[0].String()
	if !strings.Contains(run, "--aws-ami-name bootc-testboot-v1.2.3-") {
		t.Errorf("default name not derived from the tag: %s", run)
	}
}

func TestQcow2NeedsNoAWS(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	a.d.Remove(t, "aws/credentials")
	r := a.run(t, "--type", "qcow2", "--image", amiImage)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	disk := filepath.Join(a.output, "qcow2", "disk.qcow2")
	if lastLine(r.Stdout) != disk || !exists(disk) {
		t.Errorf("last line %q, want %s (exists=%v)", lastLine(r.Stdout), disk, exists(disk))
	}
	if n := len(harness.Find(r.Calls, "aws")); n != 0 {
		t.Errorf("qcow2 called aws %d times", n)
	}
	run := harness.Find(r.Calls, "podman", "run")[0].String()
	if !strings.Contains(run, "--type qcow2") || strings.Contains(run, "--aws-") || strings.Contains(run, "--env AWS_") {
		t.Errorf("qcow2 run: %s", run)
	}
}

func TestAMIDryRunRunsNothing(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	a.d.SetUID(t, 1000) // a dry run works on a workstation
	r := a.run(t, amiArgs("--dry-run")...)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	if calls := a.d.Calls(t); len(calls) != 0 {
		t.Errorf("dry run executed:\n%s", harness.FormatCalls(calls))
	}
	for _, want := range []string{
		"+ podman image exists " + amiImage,
		"+ aws --region us-east-1 --output json sts get-caller-identity",
		"s3api head-bucket --bucket testboot-images",
		"iam get-role --role-name vmimport",
		"iam simulate-principal-policy --policy-source-arn '<vmimport role ARN>' --action-names s3:GetBucketLocation s3:ListBucket --resource-arns arn:aws:s3:::testboot-images",
		"ec2 modify-image-attribute --image-id '<AMI>' --imds-support Value=v2.0",
		"ec2 describe-images --owners self --filters Name=name,Values=testboot-v1.2.3",
		"+ podman run --rm --privileged",
		"--type ami --aws-ami-name testboot-v1.2.3",
		"ec2 wait image-available",
		"ec2 create-tags",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("dry run does not show %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, secret) || exists(a.output) {
		t.Error("dry run leaked a secret or created the output directory")
	}
}

func TestAMIPreflightFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(t *testing.T, a amiEnv)
		want  string
	}{
		{"no credentials", func(t *testing.T, a amiEnv) { a.d.Remove(t, "aws/credentials") }, "AWS credentials do not work"},
		{"bucket missing", func(t *testing.T, a amiEnv) { a.d.Remove(t, "aws/buckets/testboot-images") }, "S3 bucket 'testboot-images' does not exist"},
		{"bucket elsewhere", func(t *testing.T, a amiEnv) { a.d.Set(t, "aws/buckets/testboot-images", "eu-west-1") }, "is in eu-west-1, not in us-east-1"},
		{"no vmimport role", func(t *testing.T, a amiEnv) { a.d.Remove(t, "aws/roles/vmimport") }, "the IAM service role 'vmimport' does not exist"},
		{"caller lacks iam:GetRole", func(t *testing.T, a amiEnv) {
			a.d.Set(t, "aws/fail-iam-get-role", "An error occurred (AccessDenied) when calling the GetRole operation: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:GetRole on resource: role vmimport because no identity-based policy allows the iam:GetRole action")
		}, "these credentials lack iam:GetRole"},
		{"vmimport role not for VM Import", func(t *testing.T, a amiEnv) {
			a.d.SetJSON(t, "aws/roles/vmimport", map[string][]string{"Trust": {"ec2.amazonaws.com"}, "Allow": {"s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject"}})
		}, "does not trust vmie.amazonaws.com"},
		{"vmimport role may not read the bucket", func(t *testing.T, a amiEnv) {
			a.d.SetJSON(t, "aws/roles/vmimport", map[string][]string{"Trust": {"vmie.amazonaws.com"}, "Allow": {"s3:GetBucketLocation"}})
		}, "the IAM role 'vmimport' may not s3:ListBucket s3:GetObject on bucket 'testboot-images'"},
		{"name taken", func(t *testing.T, a amiEnv) {
			a.d.SetJSON(t, "aws/images/testboot-v1.2.3.json", map[string]string{"ImageId": "ami-0aaaaaaaaaaaaaaaa", "Name": "testboot-v1.2.3", "State": "available", "Region": "us-east-1"})
		}, "AMI name 'testboot-v1.2.3' is already taken in us-east-1 by ami-0aaaaaaaaaaaaaaaa"},
		{"image not in storage", func(t *testing.T, a amiEnv) { a.d.Remove(t, "podman/images/"+imageKey(amiImage)+".json") }, "is not in root's container storage; pull it first"},
		{"not a bootc image", func(t *testing.T, a amiEnv) {
			a.setImage(t, amiImage, map[string]string{"org.opencontainers.image.version": "1"})
		}, "is not a bootc image"},
		{"not root", func(t *testing.T, a amiEnv) { a.d.SetUID(t, 1000) }, "must run as root"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newAMIEnv(t)
			c.setup(t, a)
			r := a.run(t, amiArgs()...)
			lastErrorLine(t, r, 1, c.want)
			if len(harness.NonEmptyLines(r.Stderr)) > 3 {
				t.Errorf("a preflight failure should be short:\n%s", r.Stderr)
			}
			a.d.AssertNoMutation(t)
			if exists(filepath.Join(a.output, "ami.json")) {
				t.Error("ami.json written")
			}
		})
	}
}

// Without iam:SimulatePrincipalPolicy the role's S3 access cannot be checked: one
// warning that names what the role needs, and the build goes on.
func TestAMIRolePermissionsUncheckable(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	a.d.Set(t, "aws/fail-iam-simulate-principal-policy", "An error occurred (AccessDenied) when calling the SimulatePrincipalPolicy operation: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: iam:SimulatePrincipalPolicy on resource: role vmimport")
	r := a.run(t, amiArgs()...)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d\n%s", r.ExitCode, r.Output())
	}
	var warnings []string
	for _, l := range harness.NonEmptyLines(r.Stderr) {
		if strings.Contains(l, "warning:") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "needs iam:SimulatePrincipalPolicy") ||
		!strings.Contains(warnings[0], "s3:GetObject on arn:aws:s3:::testboot-images/*") {
		t.Errorf("want one warning naming the missing check and the role's S3 permissions:\n%s", r.Stderr)
	}
}

func TestAMIImportFailure(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	a.d.Set(t, "podman/bib", "import-fail")
	r := a.run(t, amiArgs()...)
	lastErrorLine(t, r, 1, "the snapshot import failed: Unable to import snapshot, task result:")
	if !strings.Contains(lastLine(r.Stderr), "vmimport") {
		t.Errorf("no hint at the vmimport role: %s", lastLine(r.Stderr))
	}
	for _, c := range r.Calls {
		if c.Tool == "aws" && harness.IsMutating(c) {
			t.Errorf("AWS changed after a failed import: %s", c)
		}
	}
	if exists(filepath.Join(a.output, "ami.json")) || strings.Contains(r.Stdout, "ami-") {
		t.Error("reported an AMI after a failed import")
	}
}

func TestAMIBuildFailureAndWaitFailure(t *testing.T) {
	t.Parallel()
	a := newAMIEnv(t)
	a.d.Set(t, "podman/bib", "fail")
	r := a.run(t, amiArgs()...)
	lastErrorLine(t, r, 1, "bootc-image-builder failed (exit 1): error: cannot build image")

	b := newAMIEnv(t)
	b.d.Set(t, "aws/fail-ec2-wait", "Waiter ImageAvailable failed: Max attempts exceeded")
	r = b.run(t, amiArgs()...)
	lastErrorLine(t, r, 1, "AMI ami-0123456789abcdef0 did not become available")
	if len(harness.Find(r.Calls, "aws", "create-tags")) != 0 {
		t.Error("tagged an AMI that is not available")
	}
}

func TestAMIBadInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--region", "us-east-1"}, "--image is required"},
		{[]string{"--image"}, "--image needs a value"},
		{[]string{"--image", "--region", "us-east-1"}, "--image needs a value"},
		{[]string{"--image", "ghcr.io/bootc-testboot/bootc-testboot"}, "needs a tag or a digest"},
		{[]string{"--image", "localhost/bootc-testboot:v1"}, "is a localhost/ reference"},
		{[]string{"--image", "bootc-testboot:v1"}, "has no registry host"},
		{[]string{"--image", "ghcr.io/Bootc/Testboot:v1"}, "is malformed"},
		{[]string{"--image", "ghcr.io/a/b:v1; touch /tmp/testboot-pwned"}, "contains characters not allowed"},
		{[]string{"--image", "ghcr.io/a/b:$(touch /tmp/testboot-pwned)"}, "contains characters not allowed"},
		{[]string{"--image", "ghcr.io/a/b:`id`"}, "contains characters not allowed"},
		{[]string{"--image", "ghcr.io/a b:v1"}, "contains characters not allowed"},
		{[]string{"--image", amiImage, "--type", "iso"}, "--type must be ami, qcow2 or raw"},
		{[]string{"--image", amiImage, "--rootfs", "zfs"}, "--rootfs must be xfs, ext4 or btrfs"},
		{[]string{"--image", amiImage, "--bucket", "b-1"}, "--region (or AWS_REGION) is required"},
		{[]string{"--image", amiImage, "--region", "us-east-1"}, "--bucket (or AWS_BUCKET) is required"},
		{[]string{"--image", amiImage, "--region", "mars", "--bucket", "bkt"}, "is not an AWS region"},
		{[]string{"--image", amiImage, "--region", "us-east-1", "--bucket", "Bad_Bucket"}, "is not an S3 bucket name"},
		{[]string{"--image", amiImage, "--region", "us-east-1", "--bucket", "bkt", "--name", "my ami"}, "is not a usable AMI name"},
		{[]string{"--image", amiImage, "--region", "us-east-1", "--bucket", "bkt", "--name", "x';reboot;'"}, "is not a usable AMI name"},
		{[]string{"--image", amiImage, "--type", "qcow2", "--bucket", "bkt"}, "--bucket only apply to --type ami"},
		{[]string{"--image", amiImage, "--builder", "quay.io/centos-bootc/bootc-image-builder"}, "--builder: image reference"},
		{[]string{"--image", amiImage, "--bogus"}, "unknown option '--bogus'"},
		{[]string{"--image", amiImage, "--type", "qcow2", "--env-file", "/nonexistent/aws.env"}, "is not a readable file"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			a := newAMIEnv(t)
			r := a.run(t, c.args...)
			errorLine(t, r, 2, c.want)
			if calls := a.d.Calls(t); len(calls) != 0 {
				t.Errorf("bad input ran commands:\n%s", harness.FormatCalls(calls))
			}
		})
	}
	t.Run("missing config", func(t *testing.T) {
		a := newAMIEnv(t)
		r := a.d.Run(t, "create-ami.sh", append([]string{"--config", "/nonexistent/config.toml"}, amiArgs()...)...)
		errorLine(t, r, 2, "config file '/nonexistent/config.toml' does not exist")
		a.d.AssertNoMutation(t)
	})
	if exists("/tmp/testboot-pwned") {
		t.Error("an argument was evaluated")
	}
}
