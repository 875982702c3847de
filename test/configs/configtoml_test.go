package configs

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"bootc-testboot/test/harness"
)

// blueprint mirrors the bootc-image-builder config schema for disk images:
// the osbuild blueprint "customizations" (github.com/osbuild/blueprint
// pkg/blueprint: customizations.go, disk_customizations.go) that the bootc
// disk image types support (osbuild/images
// data/distrodefs/bootc-generic/imagetypes.yaml, supported_options_disk:
// directories, disk, files, group, ignition, kernel.append, user, sshd; the
// same list from v0.251.0, which bootc-image-builder pins, to today's
// osbuild/image-builder). The TOML decoder of the builder fails on keys it
// does not know (pkg/bib/blueprintload: "unknown keys found"), and known but
// unsupported customizations make it print "blueprint validation failed for
// image type ...: not supported" (image-builder fails on it without
// --ignore-warnings), so a key outside this struct must fail here first.
// Deliberately absent: customizations.filesystem (dropped from the bootc
// disk list: size the disk with customizations.disk), customizations.sshd
// (accepted but not applied to bootc disks: sshd settings live in the image)
// and kernel.name (not supported for bootc).
type blueprint struct {
	Customizations *struct {
		User []struct {
			Name               string   `toml:"name"`
			Password           *string  `toml:"password"`
			Key                *string  `toml:"key"`
			Groups             []string `toml:"groups"`
			Home               *string  `toml:"home"`
			Shell              *string  `toml:"shell"`
			UID                *int     `toml:"uid"`
			GID                *int     `toml:"gid"`
			Description        *string  `toml:"description"`
			ExpireDate         *int     `toml:"expiredate"`
			ForcePasswordReset *bool    `toml:"force_password_reset"`
		} `toml:"user"`
		Group []struct {
			Name string `toml:"name"`
			GID  *int   `toml:"gid"`
		} `toml:"group"`
		Kernel *struct {
			Append string `toml:"append"`
		} `toml:"kernel"`
		Disk *struct {
			Type       string `toml:"type"`
			Minsize    any    `toml:"minsize"`
			Partitions []struct {
				Type       string `toml:"type"`
				Minsize    any    `toml:"minsize"`
				Mountpoint string `toml:"mountpoint"`
				Label      string `toml:"label"`
				FSType     string `toml:"fs_type"`
			} `toml:"partitions"`
		} `toml:"disk"`
		Files []struct {
			Path  string `toml:"path"`
			Data  string `toml:"data"`
			Mode  string `toml:"mode"`
			User  any    `toml:"user"`
			Group any    `toml:"group"`
		} `toml:"files"`
		Directories []struct {
			Path          string `toml:"path"`
			Mode          string `toml:"mode"`
			User          any    `toml:"user"`
			Group         any    `toml:"group"`
			EnsureParents bool   `toml:"ensure_parents"`
		} `toml:"directories"`
		Ignition *struct {
			Firstboot *struct {
				URL string `toml:"url"`
			} `toml:"firstboot"`
		} `toml:"ignition"`
	} `toml:"customizations"`
}

var sizeRE = regexp.MustCompile(`^[0-9]+ ?(B|KiB|MiB|GiB|TiB|kB|MB|GB|TB)?$`)

// checkBlueprint decodes a config.toml strictly and checks what the AMI needs.
func checkBlueprint(data string) error {
	// Supported, not merely known: osbuild/images
	// data/distrodefs/bootc-generic/imagetypes.yaml, supported_options_disk
	// (of kernel, only kernel.append).
	var raw map[string]map[string]any
	if _, err := toml.Decode(data, &raw); err != nil {
		return fmt.Errorf("config.toml does not parse: %w", err)
	}
	supported := map[string]bool{"directories": true, "disk": true, "files": true, "group": true,
		"ignition": true, "kernel": true, "user": true, "sshd": true}
	for _, k := range harness.SortedKeys(raw["customizations"]) {
		if !supported[k] {
			return fmt.Errorf("customizations.%s is not supported for bootc disk images (bootc-image-builder: \"blueprint validation failed ...: not supported\")", k)
		}
	}
	var bp blueprint
	md, err := toml.Decode(data, &bp)
	if err != nil {
		return fmt.Errorf("config.toml does not parse: %w", err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		var keys []string
		for _, k := range undecoded {
			keys = append(keys, k.String())
		}
		return fmt.Errorf("config.toml has keys bootc-image-builder does not know (it would refuse the file): %s", strings.Join(keys, ", "))
	}
	c := bp.Customizations
	if c == nil || len(c.User) == 0 {
		return fmt.Errorf("config.toml defines no [[customizations.user]]: the AMI would have no admin user")
	}
	for _, u := range c.User {
		if u.Name == "" {
			return fmt.Errorf("a [[customizations.user]] has no name")
		}
		if u.Key == nil || !regexp.MustCompile(`^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) \S+`).MatchString(*u.Key) {
			return fmt.Errorf("user %s: key must be an SSH public key (sshd accepts keys only)", u.Name)
		}
		if u.Password != nil && !strings.HasPrefix(*u.Password, "$6$") {
			return fmt.Errorf("user %s: a plain-text password would be in the repository; give a $6$ hash or none", u.Name)
		}
	}
	if c.Kernel != nil {
		for _, arg := range strings.Fields(c.Kernel.Append) {
			if !regexp.MustCompile(`^[a-z0-9_.-]+(=\S+)?$`).MatchString(arg) {
				return fmt.Errorf("kernel.append: %q is not a kernel argument", arg)
			}
		}
	}
	if d := c.Disk; d != nil {
		if d.Type != "" && d.Type != "gpt" && d.Type != "dos" {
			return fmt.Errorf("disk: type %q is not gpt or dos", d.Type)
		}
		if d.Minsize != nil {
			if err := checkSize("disk", d.Minsize); err != nil {
				return err
			}
		}
		for _, p := range d.Partitions {
			if p.Mountpoint != "" && !strings.HasPrefix(p.Mountpoint, "/") {
				return fmt.Errorf("disk partition mountpoint %q is not absolute", p.Mountpoint)
			}
			// blueprint PartitionCustomization.UnmarshalTOML: "minsize is required".
			if p.Minsize == nil {
				return fmt.Errorf("disk partition %q: minsize is required", p.Mountpoint)
			}
			if err := checkSize("disk partition "+p.Mountpoint, p.Minsize); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSize: a blueprint size, a string like "10 GiB" or a number of bytes.
func checkSize(what string, v any) error {
	switch v := v.(type) {
	case int64:
		return nil
	case string:
		if !sizeRE.MatchString(v) {
			return fmt.Errorf("%s: minsize %q is not a size like \"10 GiB\"", what, v)
		}
		return nil
	}
	return fmt.Errorf("%s: minsize must be a size string or a number of bytes", what)
}

// sizeBytes converts a checked blueprint size to bytes.
func sizeBytes(v any) uint64 {
	if n, ok := v.(int64); ok {
		return uint64(n)
	}
	m := regexp.MustCompile(`^([0-9]+) ?([A-Za-z]*)$`).FindStringSubmatch(v.(string))
	n, _ := strconv.ParseUint(m[1], 10, 64)
	units := map[string]uint64{"": 1, "B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
	return n * units[m[2]]
}

func TestConfigTOMLMatchesSchema(t *testing.T) {
	data, err := os.ReadFile(harness.Path("config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBlueprint(string(data)); err != nil {
		t.Fatal(err)
	}
	var bp blueprint
	if _, err := toml.Decode(string(data), &bp); err != nil {
		t.Fatal(err)
	}
	admin := bp.Customizations.User[0]
	wheel := false
	for _, g := range admin.Groups {
		wheel = wheel || g == "wheel"
	}
	if !wheel {
		t.Errorf("user %s is not in wheel: it could not administer the host", admin.Name)
	}
	if admin.Password == nil {
		// No password: sudo must not ask for one.
		sudoers, err := os.ReadFile(harness.Path("configs", "sudoers-wheel"))
		if err != nil || !regexp.MustCompile(`(?m)^%wheel\s+ALL=\(ALL(:ALL)?\)\s+NOPASSWD:\s*ALL\s*$`).Match(sudoers) {
			t.Errorf("user %s has no password, but configs/sudoers-wheel does not give wheel passwordless sudo", admin.Name)
		}
	}
	// Kernel arguments belong to the image (configs/kargs.toml in
	// /usr/lib/bootc/kargs.d, which bootc applies on every upgrade): set here,
	// they would reach a host once, at disk build, and never follow upgrades.
	if k := bp.Customizations.Kernel; k != nil && strings.TrimSpace(k.Append) != "" {
		t.Errorf("config.toml sets kernel arguments (%q): put them in configs/kargs.toml, which upgrades apply", k.Append)
	}
	// The disk: at least 12 GiB, the root filling what the boot partitions leave.
	d := bp.Customizations.Disk
	if d == nil || d.Minsize == nil {
		t.Fatal("no [customizations.disk] minsize: the AMI's disk would be the builder's 10 GiB default")
	}
	if got := sizeBytes(d.Minsize); got < 12<<30 {
		t.Errorf("disk minsize is %d bytes, want at least 12 GiB (room for two deployments plus /var)", got)
	}
}

// Typos bootc-image-builder would reject must fail the check, naming the key.
func TestConfigTOMLRejectsUnknownKeys(t *testing.T) {
	data, err := os.ReadFile(harness.Path("config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	good := string(data)
	cases := []struct{ name, from, to, want string }{
		{"section typo", "[[customizations.user]]", "[[customization.user]]", "customization.user"},
		{"key typo", "minsize", "min_size", "customizations.disk.min_size"},
		{"unsupported kernel name", "\n[customizations.disk]\n", "\n[customizations.kernel]\nname = \"kernel-debug\"\n\n[customizations.disk]\n", "customizations.kernel.name"},
		{"sshd section", "\n[customizations.disk]\n", "\n[customizations.sshd]\npassword_authentication = false\n\n[customizations.disk]\n", "customizations.sshd"},
		{"filesystem section", "\n[customizations.disk]\n", "\n[[customizations.filesystem]]\nmountpoint = \"/\"\nminsize = \"10 GiB\"\n\n[customizations.disk]\n", "customizations.filesystem"},
		{"partition without minsize", `minsize = "12 GiB"`, "minsize = \"12 GiB\"\n\n[[customizations.disk.partitions]]\nmountpoint = \"/var/data\"\nfs_type = \"xfs\"", "minsize is required"},
		{"plain password", "groups = [\"wheel\"]", "groups = [\"wheel\"]\npassword = \"hunter2\"", "plain-text password"},
		{"bad size", `minsize = "12 GiB"`, `minsize = "twelve gigs"`, "is not a size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(good, c.from) {
				t.Fatalf("config.toml has no %q to change", c.from)
			}
			err := checkBlueprint(strings.Replace(good, c.from, c.to, 1))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}
