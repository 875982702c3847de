package configs

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"bootc-testboot/test/harness"
)

// blueprint mirrors the bootc-image-builder config schema for disk images
// (osbuild blueprint "customizations"; see the bootc-image-builder fact
// sheet, section 3.1). bootc-image-builder fails on any key it does not know,
// so a key outside this struct must fail here first. Deliberately absent:
// customizations.sshd (accepted but not applied to bootc disks: sshd settings
// live in the image) and kernel.name (not supported for bootc).
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
		Filesystem []struct {
			Mountpoint string `toml:"mountpoint"`
			Minsize    any    `toml:"minsize"`
		} `toml:"filesystem"`
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
	for _, fs := range c.Filesystem {
		if !strings.HasPrefix(fs.Mountpoint, "/") {
			return fmt.Errorf("filesystem mountpoint %q is not absolute", fs.Mountpoint)
		}
		switch v := fs.Minsize.(type) {
		case int64:
		case string:
			if !sizeRE.MatchString(v) {
				return fmt.Errorf("filesystem %s: minsize %q is not a size like \"10 GiB\"", fs.Mountpoint, v)
			}
		default:
			return fmt.Errorf("filesystem %s: minsize must be a size string or a number of bytes", fs.Mountpoint)
		}
	}
	return nil
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
	if bp.Customizations.Kernel == nil || !strings.Contains(bp.Customizations.Kernel.Append, "nvme_core.io_timeout=") {
		t.Error("kernel.append lacks nvme_core.io_timeout (EBS volumes are NVMe on Nitro instances)")
	}
	root := false
	for _, fs := range bp.Customizations.Filesystem {
		root = root || fs.Mountpoint == "/"
	}
	if !root {
		t.Error("no minimum size for / ([[customizations.filesystem]] mountpoint = \"/\")")
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
		{"key typo", "minsize", "min_size", "customizations.filesystem.min_size"},
		{"unsupported kernel name", "[customizations.kernel]", "[customizations.kernel]\nname = \"kernel-debug\"", "customizations.kernel.name"},
		{"sshd section", "[customizations.kernel]", "[customizations.sshd]\npassword_authentication = false\n\n[customizations.kernel]", "customizations.sshd"},
		{"plain password", "groups = [\"wheel\"]", "groups = [\"wheel\"]\npassword = \"hunter2\"", "plain-text password"},
		{"bad size", `minsize = "10 GiB"`, `minsize = "ten gigs"`, "is not a size"},
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
