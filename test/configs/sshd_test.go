package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// sshdEffective runs `sshd -T` on a config that, like Fedora's and Debian's
// sshd_config, includes the drop-in first and then sets distro or cloud-init
// values (later values lose), and returns the effective settings.
func sshdEffective(t *testing.T, connection string) map[string]string {
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
	conf := filepath.Join(dir, "sshd_config")
	body := "Include " + harness.Path("configs", "sshd-hardening.conf") + "\n" +
		"HostKey " + key + "\n" +
		// What cloud-init's 50-cloud-init.conf or a distro default may say later.
		"PasswordAuthentication yes\nPermitRootLogin prohibit-password\nX11Forwarding yes\nKbdInteractiveAuthentication yes\n" +
		"UsePAM yes\n"
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
	settings := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			settings[k] = v
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
		"x11forwarding":                "no",
		"allowagentforwarding":         "no",
		"allowtcpforwarding":           "no",
		"permittunnel":                 "no",
		"permituserenvironment":        "no",
		"clientaliveinterval":          "60",
		"clientalivecountmax":          "3",
	}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("effective %s = %q, want %q", k, s[k], v)
		}
	}
	weak := []string{"sha1", "cbc", "md5", "3des", "arcfour", "group1-", "group14-", "nistp", "hmac-sha2-256,", "umac-64"}
	for _, k := range []string{"kexalgorithms", "ciphers", "macs"} {
		if s[k] == "" {
			t.Errorf("sshd -T shows no %s", k)
		}
		for _, alg := range strings.Split(s[k], ",") {
			for _, w := range weak {
				if strings.Contains(alg+",", w) {
					t.Errorf("%s allows %s", k, alg)
				}
			}
		}
	}
	if !strings.Contains(s["macs"], "-etm@openssh.com") || strings.Contains(s["ciphers"], "cbc") {
		t.Errorf("MACs %q / ciphers %q: want encrypt-then-MAC and no CBC", s["macs"], s["ciphers"])
	}
}

// The EC2 key pair user (cloud-init's default user: fedora, cloud-user, admin)
// and config.toml's admin user must still get in with their key.
func TestSSHDKeepsKeyLoginForUsers(t *testing.T) {
	for _, user := range []string{"fedora", "cloud-user", "ops"} {
		s := sshdEffective(t, "user="+user+",host=client.example,addr=203.0.113.7,laddr=10.0.0.5,lport=22")
		if s["pubkeyauthentication"] != "yes" || s["authenticationmethods"] != "publickey" {
			t.Errorf("%s: pubkey %q, methods %q: key login would fail", user, s["pubkeyauthentication"], s["authenticationmethods"])
		}
		for _, k := range []string{"allowusers", "allowgroups", "denyusers", "denygroups"} {
			if v, ok := s[k]; ok && v != "" {
				t.Errorf("%s: %s %q could lock out users", user, k, v)
			}
		}
	}
}
