package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"bootc-testboot/test/harness"
)

// fipsLikePolicy stands in for /etc/crypto-policies/back-ends/opensshserver.config
// as update-crypto-policies writes it for the FIPS policy: FIPS-approved
// algorithms only (no chacha20-poly1305, no curve25519). sshd must end up
// with exactly these lists, whatever the drop-in says.
var fipsLikePolicy = map[string]string{
	"ciphers":                  "aes256-gcm@openssh.com,aes256-ctr,aes128-gcm@openssh.com,aes128-ctr",
	"macs":                     "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512",
	"kexalgorithms":            "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512",
	"pubkeyacceptedalgorithms": "ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-256,rsa-sha2-512",
	"casignaturealgorithms":    "ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-256,rsa-sha2-512",
}

// sshdEffective runs `sshd -T` on a config laid out like Fedora's and
// CentOS's: sshd_config includes sshd_config.d/*.conf first, so the drop-in
// (10-...) comes before 50-redhat.conf, which includes the crypto policy,
// and before cloud-init's or the distro's own values (later values lose). It
// returns the effective settings; a keyword sshd prints several times (such
// as allowgroups) has one value per line.
func sshdEffective(t *testing.T, connection string) map[string][]string {
	t.Helper()
	harness.Require(t, "sshd", "ssh-keygen")
	harness.RequireRoot(t) // sshd -T needs root and its privilege separation directory
	if _, err := os.Stat("/run/sshd"); err != nil {
		// What ssh.service creates before sshd starts.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "host_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	policy := filepath.Join(dir, "opensshserver.config")
	var pol strings.Builder
	for k, v := range fipsLikePolicy {
		pol.WriteString(k + " " + v + "\n")
	}
	if err := os.WriteFile(policy, []byte(pol.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "sshd_config")
	body := "Include " + harness.Path("configs", "sshd-hardening.conf") + "\n" +
		// 50-redhat.conf: the system crypto policy.
		"Include " + policy + "\n" +
		"HostKey " + key + "\n" +
		// What cloud-init's 50-cloud-init.conf or a distro default may say later.
		"PasswordAuthentication yes\nPermitRootLogin prohibit-password\nX11Forwarding yes\nKbdInteractiveAuthentication yes\n" +
		"AllowTcpForwarding yes\nDisableForwarding no\nUsePAM yes\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sshd", "-t", "-f", conf).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t with the drop-in: %v\n%s", err, out)
	}
	args := []string{"-T", "-f", conf}
	if connection != "" {
		args = append(args, "-C", connection)
	}
	out, err := exec.Command("sshd", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("sshd -T: %v\n%s", err, out)
	}
	settings := map[string][]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			settings[k] = append(settings[k], v)
		}
	}
	return settings
}

func TestSSHDHardeningIsEffective(t *testing.T) {
	s := sshdEffective(t, "")
	want := map[string]string{
		"permitrootlogin":              "no",
		"pubkeyauthentication":         "yes",
		"authenticationmethods":        "publickey",
		"passwordauthentication":       "no",
		"kbdinteractiveauthentication": "no",
		"permitemptypasswords":         "no",
		"hostbasedauthentication":      "no",
		"maxauthtries":                 "3",
		"logingracetime":               "30",
		"disableforwarding":            "yes",
		"x11forwarding":                "no",
		"allowagentforwarding":         "no",
		"allowtcpforwarding":           "no",
		"allowstreamlocalforwarding":   "no",
		"permittunnel":                 "no",
		"permituserenvironment":        "no",
		"clientaliveinterval":          "60",
		"clientalivecountmax":          "3",
	}
	for k, v := range want {
		if got := s[k]; len(got) != 1 || got[0] != v {
			t.Errorf("effective %s = %q, want %q", k, got, v)
		}
	}
}

// The drop-in leaves algorithms to the system crypto policy, so a FIPS (or
// FUTURE) policy is what sshd uses: the drop-in cannot weaken it.
func TestSSHDAlgorithmsComeFromCryptoPolicy(t *testing.T) {
	s := sshdEffective(t, "")
	for k, v := range fipsLikePolicy {
		if got := s[k]; len(got) != 1 || got[0] != v {
			t.Errorf("effective %s = %q, want the crypto policy's %q", k, got, v)
		}
	}
	// Also keywords the stand-in policy does not set: a drop-in that names
	// any of these would override the real policy on a Fedora host.
	algorithmKeys := regexp.MustCompile(`(?im)^\s*(Ciphers|MACs|KexAlgorithms|HostKeyAlgorithms|PubkeyAcceptedAlgorithms|PubkeyAcceptedKeyTypes|` +
		`CASignatureAlgorithms|HostbasedAcceptedAlgorithms|GSSAPIKexAlgorithms|RequiredRSASize)\b`)
	dropIn := harness.ReadFile(t, harness.Path("configs", "sshd-hardening.conf"))
	if m := algorithmKeys.FindAllString(dropIn, -1); m != nil {
		t.Errorf("configs/sshd-hardening.conf sets %q: algorithms belong to the system crypto policy", m)
	}
}

// Only wheel may log in, and every admin user config.toml creates is in
// wheel (with a key), so the drop-in locks out nobody it should let in. The
// EC2 key pair user (cloud-init's default user) is in wheel on Fedora.
func TestSSHDAllowsOnlyWheel(t *testing.T) {
	for _, user := range []string{"fedora", "ops"} {
		s := sshdEffective(t, "user="+user+",host=client.example,addr=203.0.113.7,laddr=10.0.0.5,lport=22")
		if got := s["allowgroups"]; !slices.Equal(got, []string{"wheel"}) {
			t.Errorf("%s: allowgroups %q, want only wheel", user, got)
		}
		for _, k := range []string{"allowusers", "denyusers", "denygroups"} {
			if v := s[k]; len(v) > 0 {
				t.Errorf("%s: %s %q: access is by group (AllowGroups) only", user, k, v)
			}
		}
		if s["pubkeyauthentication"][0] != "yes" || s["authenticationmethods"][0] != "publickey" {
			t.Errorf("%s: pubkey %q, methods %q: key login would fail", user, s["pubkeyauthentication"], s["authenticationmethods"])
		}
	}

	var cfg struct {
		Customizations struct {
			User []struct {
				Name   string   `toml:"name"`
				Key    *string  `toml:"key"`
				Groups []string `toml:"groups"`
			} `toml:"user"`
		} `toml:"customizations"`
	}
	if _, err := toml.Decode(harness.ReadFile(t, harness.Path("config.toml")), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Customizations.User) == 0 {
		t.Fatal("config.toml creates no admin user")
	}
	for _, u := range cfg.Customizations.User {
		if !slices.Contains(u.Groups, "wheel") || u.Key == nil {
			t.Errorf("config.toml user %s: groups %q, key set %v; sshd lets in only wheel members with a key", u.Name, u.Groups, u.Key != nil)
		}
	}
	if sudoers := harness.ReadFile(t, harness.Path("configs", "sudoers-wheel")); !regexp.MustCompile(`(?m)^%wheel\s`).MatchString(sudoers) {
		t.Error("configs/sudoers-wheel does not name %wheel: the SSH group and the sudo group must be the same")
	}
}
