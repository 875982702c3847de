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

// checkApps reports what an app folder of a source tree is missing for the
// image to run and route it, one message per problem, naming the file. The
// folder is the app: the Containerfile installs every apps/*/*.service and
// nginx snippet by glob, and names only each app's binary.
func checkApps(dir string) ([]string, error) {
	mains, err := filepath.Glob(filepath.Join(dir, "apps", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	containerfile, err := os.ReadFile(filepath.Join(dir, "Containerfile"))
	if err != nil {
		return nil, err
	}
	site, err := harness.NginxSite(dir)
	if err != nil {
		return nil, err
	}
	locations := nginxLocations(site)
	var problems []string
	sort.Strings(mains)
	for _, m := range mains {
		app := filepath.Base(filepath.Dir(m))
		q := regexp.QuoteMeta(app)
		unit, err := os.ReadFile(filepath.Join(dir, "apps", app, app+".service"))
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: no unit apps/%s/%s.service (a binary without a unit never runs)", app, app, app))
		}
		if !regexp.MustCompile(`(?m)^COPY\s+(--\S+\s+)*output/bin/` + q + `\s+/usr/bin/` + q + `\s*$`).Match(containerfile) {
			problems = append(problems, fmt.Sprintf("%s: Containerfile does not install the binary: add COPY output/bin/%s /usr/bin/%s (with the other binaries, one line per app)", app, app, app))
		}
		upstream, _ := os.ReadFile(filepath.Join(dir, "apps", app, app+".upstream.conf"))
		if !regexp.MustCompile(`(?m)^\s*upstream\s+` + q + `\s*\{`).Match(upstream) {
			problems = append(problems, fmt.Sprintf("%s: apps/%s/%s.upstream.conf has no \"upstream %s { server 127.0.0.1:PORT; ... }\"", app, app, app, app))
		}
		if unit != nil {
			health := unitKey(string(unit), "X-Testboot-HealthPath")
			if health == "" {
				problems = append(problems, fmt.Sprintf("%s: apps/%s/%s.service has no X-Testboot-HealthPath= in [Unit] (its health URL through nginx)", app, app, app))
			} else if got := routeFor(locations, health); got != app {
				problems = append(problems, fmt.Sprintf("%s: nginx routes its health path %s to %q, not to upstream %s: add a location that proxy_passes to http://%s in apps/%s/%s.locations.conf", app, health, got, app, app, app, app))
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

// An app added as README says (harness.AddExtraApp: the folder and its binary's
// line) is complete; each missing piece gives its own message.
func TestForgottenAppStepsAreNamed(t *testing.T) {
	file := func(dir, name string) string { return filepath.Join(dir, "apps", "extra", name) }
	edit := func(t *testing.T, path, old, new string) {
		t.Helper()
		if err := harness.ReplaceOnce(path, old, new); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		forget func(t *testing.T, dir string)
		want   string
	}{
		{"nothing forgotten", func(*testing.T, string) {}, ""},
		{"unit", func(t *testing.T, dir string) { os.Remove(file(dir, "extra.service")) },
			"extra: no unit apps/extra/extra.service"},
		{"health path", func(t *testing.T, dir string) {
			edit(t, file(dir, "extra.service"), "X-Testboot-HealthPath=", "X-Other=")
		}, "extra: apps/extra/extra.service has no X-Testboot-HealthPath="},
		{"binary", func(t *testing.T, dir string) { dropLine(t, dir, "Containerfile", "COPY output/bin/extra") },
			"extra: Containerfile does not install the binary"},
		{"upstream", func(t *testing.T, dir string) {
			edit(t, file(dir, "extra.upstream.conf"), "upstream extra {", "upstream other {")
		}, `extra: apps/extra/extra.upstream.conf has no "upstream extra`},
		{"route", func(t *testing.T, dir string) {
			edit(t, file(dir, "extra.locations.conf"), "location /extra/ {", "location /extra-old/ {")
		}, `extra: nginx routes its health path /extra/health to "hello", not to upstream extra`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := harness.CopyRepo(dir); err != nil {
				t.Fatal(err)
			}
			if err := harness.AddExtraApp(dir); err != nil {
				t.Fatal(err)
			}
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

// AddExtraApp touches nothing but the new folder and one Containerfile line:
// the folder is the app.
func TestAddingAnAppTouchesOnlyItsFolderAndBinaryLine(t *testing.T) {
	dir := t.TempDir()
	if err := harness.CopyRepo(dir); err != nil {
		t.Fatal(err)
	}
	if err := harness.AddExtraApp(dir); err != nil {
		t.Fatal(err)
	}
	var changed []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if strings.HasPrefix(rel, filepath.Join("apps", "extra")+"/") {
			return nil
		}
		was, err := os.ReadFile(filepath.Join(harness.Root(), rel))
		if now, _ := os.ReadFile(path); err != nil || string(was) != string(now) {
			changed = append(changed, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 1 || changed[0] != "Containerfile" {
		t.Fatalf("adding an app changed %q outside apps/extra, want only the Containerfile", changed)
	}
	if strings.Count(harness.ReadFile(t, filepath.Join(dir, "Containerfile")), "\n")-strings.Count(harness.ReadFile(t, harness.Path("Containerfile")), "\n") != 1 {
		t.Error("adding an app must add exactly one Containerfile line")
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
