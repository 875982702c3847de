package image

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"bootc-testboot/test/harness"
)

// checkApps reports every step of "adding an app" that a source tree is
// missing, one message per forgotten step, naming the file to edit.
func checkApps(dir string) ([]string, error) {
	mains, err := filepath.Glob(filepath.Join(dir, "apps", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	containerfile, err := os.ReadFile(filepath.Join(dir, "Containerfile"))
	if err != nil {
		return nil, err
	}
	nginx, err := os.ReadFile(filepath.Join(dir, "configs", "nginx.conf"))
	if err != nil {
		return nil, err
	}
	cf := joinContinuations(string(containerfile))
	locations := nginxLocations(string(nginx))
	var problems []string
	sort.Strings(mains)
	for _, m := range mains {
		app := filepath.Base(filepath.Dir(m))
		q := regexp.QuoteMeta(app)
		unitPath := filepath.Join(dir, "apps", app, app+".service")
		unit, err := os.ReadFile(unitPath)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: no unit apps/%s/%s.service (a binary without a unit never runs)", app, app, app))
		}
		if !regexp.MustCompile(`(?m)^COPY\s+(--\S+\s+)*apps/` + q + `/` + q + `\.service\s+/usr/lib/systemd/system/(` + q + `\.service)?\s*$`).MatchString(cf) {
			problems = append(problems, fmt.Sprintf("%s: Containerfile does not install the unit: add COPY apps/%s/%s.service /usr/lib/systemd/system/%s.service", app, app, app, app))
		}
		if !regexp.MustCompile(`ln\s+-\S*s\S*\s+\.\./` + q + `\.service\s+/usr/lib/systemd/system/multi-user\.target\.wants/` + q + `\.service`).MatchString(cf) {
			problems = append(problems, fmt.Sprintf("%s: Containerfile does not enable the unit: add ln -sfn ../%s.service /usr/lib/systemd/system/multi-user.target.wants/%s.service", app, app, app))
		}
		if !regexp.MustCompile(`(?m)^COPY\s+(--\S+\s+)*output/bin/` + q + `\s+/usr/bin/` + q + `\s*$`).MatchString(cf) {
			problems = append(problems, fmt.Sprintf("%s: Containerfile does not install the binary: add COPY output/bin/%s /usr/bin/%s (with the other binaries, one line per app)", app, app, app))
		}
		if _, err := os.Stat(filepath.Join(dir, "apps", app, app+"-tmpfiles.conf")); err == nil &&
			!regexp.MustCompile(`(?m)^COPY\s+(--\S+\s+)*apps/`+q+`/`+q+`-tmpfiles\.conf\s+/usr/lib/tmpfiles\.d/`+q+`\.conf\s*$`).MatchString(cf) {
			problems = append(problems, fmt.Sprintf("%s: Containerfile does not install apps/%s/%s-tmpfiles.conf: add COPY apps/%s/%s-tmpfiles.conf /usr/lib/tmpfiles.d/%s.conf", app, app, app, app, app, app))
		}
		if !regexp.MustCompile(`(?m)^\s*upstream\s+` + q + `\s*\{`).Match(nginx) {
			problems = append(problems, fmt.Sprintf("%s: configs/nginx.conf has no \"upstream %s { server 127.0.0.1:PORT; ... }\"", app, app))
		}
		if unit != nil {
			health := unitKey(string(unit), "X-Testboot-HealthPath")
			if health == "" {
				problems = append(problems, fmt.Sprintf("%s: apps/%s/%s.service has no X-Testboot-HealthPath= in [Unit] (its health URL through nginx)", app, app, app))
			} else if got := routeFor(locations, health); got != app {
				problems = append(problems, fmt.Sprintf("%s: configs/nginx.conf routes its health path %s to %q, not to upstream %s: add a location that proxy_passes to http://%s", app, health, got, app, app))
			}
		}
	}
	return problems, nil
}

// joinContinuations joins Dockerfile lines ending in a backslash.
func joinContinuations(s string) string {
	return regexp.MustCompile(`\\\n`).ReplaceAllString(s, " ")
}

func unitKey(unit, key string) string {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `=(\S+)\s*$`).FindStringSubmatch(unit)
	if m == nil {
		return ""
	}
	return m[1]
}

type location struct {
	exact    bool
	prefix   string
	upstream string // proxy_pass http://<upstream>, or "" for other handlers
}

// nginxLocations reads the plain prefix and exact-match locations of our config.
func nginxLocations(conf string) []location {
	re := regexp.MustCompile(`location\s+(=\s*)?(/\S*)\s*\{([^}]*)\}`)
	pass := regexp.MustCompile(`proxy_pass\s+http://([A-Za-z0-9_.-]+)`)
	var locs []location
	for _, m := range re.FindAllStringSubmatch(conf, -1) {
		l := location{exact: m[1] != "", prefix: m[2]}
		if p := pass.FindStringSubmatch(m[3]); p != nil {
			l.upstream = p[1]
		}
		locs = append(locs, l)
	}
	return locs
}

// routeFor picks the location nginx would use for path (exact match first,
// then the longest prefix) and returns its upstream.
func routeFor(locs []location, path string) string {
	best := -1
	for i, l := range locs {
		if l.exact && l.prefix == path {
			return l.upstream
		}
		if !l.exact && strings.HasPrefix(path, l.prefix) && (best < 0 || len(l.prefix) > len(locs[best].prefix)) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return locs[best].upstream
}

func TestEveryAppIsWiredIn(t *testing.T) {
	problems, err := checkApps(harness.Root())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// Each forgotten step of adding an app gives its own message.
func TestForgottenAppStepsAreNamed(t *testing.T) {
	const app = "extra"
	unit := "[Unit]\nDescription=extra\nX-Testboot-HealthPath=/extra/health\n[Service]\nExecStart=/usr/bin/extra\n[Install]\nWantedBy=multi-user.target\n"
	complete := func(dir string) {
		if err := os.MkdirAll(filepath.Join(dir, "apps", app), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "apps", app, "main.go"), "package main\n\nfunc main() {}\n")
		writeFile(t, filepath.Join(dir, "apps", app, app+".service"), unit)
		cf := harness.ReadFile(t, filepath.Join(dir, "Containerfile"))
		cf = strings.Replace(cf, "COPY output/bin/", "COPY apps/extra/extra.service /usr/lib/systemd/system/extra.service\n"+
			"RUN ln -sfn ../extra.service /usr/lib/systemd/system/multi-user.target.wants/extra.service\n"+
			"COPY output/bin/extra /usr/bin/extra\nCOPY output/bin/", 1)
		writeFile(t, filepath.Join(dir, "Containerfile"), cf)
		nginx := harness.ReadFile(t, filepath.Join(dir, "configs", "nginx.conf"))
		nginx = strings.Replace(nginx, "server {", "upstream extra {\n    server 127.0.0.1:8082;\n}\n\nserver {\n    location /extra/ {\n        proxy_pass http://extra;\n    }\n", 1)
		writeFile(t, filepath.Join(dir, "configs", "nginx.conf"), nginx)
	}
	cases := []struct {
		name   string
		forget func(t *testing.T, dir string)
		want   string
	}{
		{"nothing forgotten", func(*testing.T, string) {}, ""},
		{"unit", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "apps", app, app+".service")) },
			"extra: no unit apps/extra/extra.service"},
		{"unit install", func(t *testing.T, dir string) { dropLine(t, dir, "Containerfile", "COPY apps/extra/extra.service") },
			"extra: Containerfile does not install the unit"},
		{"enablement", func(t *testing.T, dir string) { dropLine(t, dir, "Containerfile", "RUN ln -sfn ../extra.service") },
			"extra: Containerfile does not enable the unit"},
		{"binary", func(t *testing.T, dir string) { dropLine(t, dir, "Containerfile", "COPY output/bin/extra") },
			"extra: Containerfile does not install the binary"},
		{"tmpfiles", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "apps", app, app+"-tmpfiles.conf"), "d /var/lib/extra-cache 0700 root root -\n")
		}, "extra: Containerfile does not install apps/extra/extra-tmpfiles.conf"},
		{"upstream", func(t *testing.T, dir string) {
			conf := harness.ReadFile(t, filepath.Join(dir, "configs", "nginx.conf"))
			writeFile(t, filepath.Join(dir, "configs", "nginx.conf"), strings.Replace(conf, "upstream extra {", "upstream other {", 1))
		}, `extra: configs/nginx.conf has no "upstream extra`},
		{"route", func(t *testing.T, dir string) {
			conf := harness.ReadFile(t, filepath.Join(dir, "configs", "nginx.conf"))
			writeFile(t, filepath.Join(dir, "configs", "nginx.conf"), strings.Replace(conf, "location /extra/ {", "location /extra-old/ {", 1))
		},
			`extra: configs/nginx.conf routes its health path /extra/health to "hello", not to upstream extra`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := harness.CopyRepo(dir); err != nil {
				t.Fatal(err)
			}
			complete(dir)
			c.forget(t, dir)
			problems, err := checkApps(dir)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(problems, "\n")
			switch {
			case c.want == "" && got != "":
				t.Fatalf("complete app reported:\n%s", got)
			case c.want != "" && (len(problems) != 1 || !strings.Contains(got, c.want)):
				t.Fatalf("want exactly one problem containing %q, got:\n%s", c.want, got)
			}
		})
	}
}

func dropLine(t *testing.T, dir, file, prefix string) {
	t.Helper()
	path := filepath.Join(dir, file)
	var kept []string
	found := false
	for _, l := range strings.Split(harness.ReadFile(t, path), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			found = true
			continue
		}
		kept = append(kept, l)
	}
	if !found {
		t.Fatalf("%s has no line starting with %q", file, prefix)
	}
	writeFile(t, path, strings.Join(kept, "\n"))
}
