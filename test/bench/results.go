package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Results is everything one `make bench` run measured; it is written as
// results.json and rendered as results.md.
type Results struct {
	Started string `json:"started"` // RFC3339 UTC
	Quick   bool   `json:"quick"`
	Host    Host   `json:"host"`
	// Sections lists the sections this run ran (all, unless BENCH_ONLY).
	Sections []string `json:"sections"`

	Upgrade  *Upgrade  `json:"upgrade,omitempty"`
	Rebuild  *Rebuild  `json:"noop_rebuild,omitempty"`
	Serving  *Serving  `json:"serving,omitempty"`
	Apps     []AppSize `json:"footprint,omitempty"`
	Boot     *Boot     `json:"boot,omitempty"`
	Reboot   *Reboot   `json:"reboot,omitempty"`
	Goals    []Goal    `json:"goals"`
	Failures []Failure `json:"failures"`
	Notes    []string  `json:"notes,omitempty"`
}

// Host describes the machine, since every figure depends on it.
type Host struct {
	CPUs   int    `json:"cpus"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
	Wrk    string `json:"wrk"`
	Nginx  string `json:"nginx"`
}

// Upgrade is the download when one app changed between v1 and v2, for our layout and the naive one.
type Upgrade struct {
	App           string   `json:"changed_app"`
	BinaryBytes   int64    `json:"binary_bytes"`
	BinaryGzip    int64    `json:"binary_gzip_bytes"`
	Layouts       []Layout `json:"layouts"`
	BaseImage     string   `json:"base_image"`
	Compressor    string   `json:"compressor"`
	LayersCounted string   `json:"layers_counted"`
	// Zstd is our layout's download with zstd layers instead of gzip.
	Zstd *Zstd `json:"zstd,omitempty"`
}

// Layout is one Containerfile's v1 → v2 download.
type Layout struct {
	Name          string   `json:"name"`
	Containerfile string   `json:"containerfile"`
	V1            string   `json:"v1_id"`
	V2            string   `json:"v2_id"`
	Download      Download `json:"download"`
	// RatioGzip is the compressed download over the changed binary's compressed size.
	RatioGzip float64 `json:"ratio_to_binary_gzip"`
}

// Rebuild compares the same sources built again without cache.
type Rebuild struct {
	First     string   `json:"first_id"`
	Second    string   `json:"second_id"`
	Identical bool     `json:"identical"`
	Download  Download `json:"download"`
}

// Serving holds the wrk runs on loopback against each target and concurrency level.
type Serving struct {
	SecondsPerRun int    `json:"seconds_per_run"`
	Rounds        int    `json:"rounds"` // runs per cell; Runs holds each cell's median run
	Threads       int    `json:"wrk_threads"`
	Runs          []Load `json:"runs"`
}

// AppSize is one app's binary and resident memory.
type AppSize struct {
	App         string `json:"app"`
	BinaryBytes int64  `json:"binary_bytes"`
	BinaryGzip  int64  `json:"binary_gzip_bytes"`
	Path        string `json:"path"`
	Requests    int    `json:"requests"`
	RSSIdleKiB  int64  `json:"rss_idle_kib"`
	RSSAfterKiB int64  `json:"rss_after_kib"`
}

// Boot is the seconds from starting the container to verify-instance.sh passing.
type Boot struct {
	Boots []BootTime `json:"boots"`
}

type BootTime struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Reboot is the downtime of one host's reboots in the simulated host
// (test/simhost TestSoftReboot): from the last good answer of hello through
// nginx before the reboot to the first good one after it.
type Reboot struct {
	SoftApply    float64 `json:"soft_apply_seconds"`
	FullRollback float64 `json:"full_rollback_seconds"`
	SoftRollback float64 `json:"soft_rollback_seconds"`
	// Ratio is the soft reboots' mean over the full reboot's.
	Ratio float64 `json:"soft_over_full"`
	Note  string  `json:"note"`
}

// Goal is one target from the benchmark's goals; a missed goal is reported, not failed.
type Goal struct {
	Name     string `json:"name"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// Failure is a section that could not produce its figures.
type Failure struct {
	Section string `json:"section"`
	Error   string `json:"error"`
}

// fail records that a section produced no figures.
func (r *Results) fail(section, msg string) {
	r.Failures = append(r.Failures, Failure{Section: section, Error: msg})
}

// Write stores results.json and results.md in dir and returns the Markdown.
func (r *Results) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if r.Goals == nil {
		r.Goals = []Goal{}
	}
	if r.Failures == nil {
		r.Failures = []Failure{}
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	md := r.Markdown()
	if err := writeFileAtomic(filepath.Join(dir, "results.json"), append(js, '\n')); err != nil {
		return "", err
	}
	if err := writeFileAtomic(filepath.Join(dir, "results.md"), []byte(md)); err != nil {
		return "", err
	}
	return md, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// evaluateGoals fills r.Goals from the figures present.
func (r *Results) evaluateGoals() {
	r.Goals = nil
	if u := r.Upgrade; u != nil {
		for _, l := range u.Layouts {
			if l.Name == layoutOurs {
				r.Goals = append(r.Goals, Goal{
					Name:     "upgrade download (gzip) ≤ 1.1× the changed binary (gzip)",
					Measured: fmt.Sprintf("%.2f×", l.RatioGzip),
					Met:      l.RatioGzip <= 1.1,
				})
			}
		}
	}
	if b := r.Rebuild; b != nil {
		r.Goals = append(r.Goals, Goal{
			Name:     "no-op rebuild: same image ID, 0 bytes to download",
			Measured: fmt.Sprintf("identical=%v, %s", b.Identical, bytesText(b.Download.GzipBytes)),
			Met:      b.Identical && b.Download.Layers == 0,
		})
	}
	if s := r.Serving; s != nil {
		for _, c := range s.levels(pathHealth) {
			direct, okD := s.find(targetDirect, pathHealth, c)
			proxied, okP := s.find(targetNginx, pathHealth, c)
			if okD && okP && direct.RequestsSec > 0 {
				ratio := proxied.RequestsSec / direct.RequestsSec
				r.Goals = append(r.Goals, Goal{
					Name:     fmt.Sprintf("through nginx ≥ 0.6× direct (%s, %s)", pathHealth, connText(c)),
					Measured: fmt.Sprintf("%.2f×", ratio),
					Met:      ratio >= 0.6,
				})
			}
			if okP && c == 64 {
				measured := msText(proxied.P99Ms)
				// The ceiling's own p99 shows how much of the tail is the machine.
				if static, ok := s.find(targetStatic, pathHealth, c); ok {
					measured += fmt.Sprintf(" (nginx alone: %s)", msText(static.P99Ms))
				}
				r.Goals = append(r.Goals, Goal{
					Name:     fmt.Sprintf("p99 through nginx < 10 ms (%s, 64 connections)", pathHealth),
					Measured: measured,
					Met:      proxied.P99Ms < 10,
				})
			}
		}
	}
	if s := r.Serving; s != nil {
		r.Goals = append(r.Goals, s.visitGoals()...)
	}
	if rb := r.Reboot; rb != nil {
		r.Goals = append(r.Goals, Goal{
			Name:     "soft-reboot downtime ≤ 1/3 of a full reboot's (simulated host)",
			Measured: fmt.Sprintf("%.2f×", rb.Ratio),
			Met:      rb.Ratio <= 1.0/3,
		})
	}
	if b := r.Boot; b != nil {
		for _, bt := range b.Boots {
			r.Goals = append(r.Goals, Goal{
				Name:     fmt.Sprintf("boot to verified < 10 s (%s)", bt.Name),
				Measured: fmt.Sprintf("%.1f s", bt.Seconds),
				Met:      bt.Seconds < 10,
			})
		}
	}
}

// visitGoals: durable visits at 64 connections, against /health of the
// same hello, with the per-visit baseline for scale.
func (s *Serving) visitGoals() []Goal {
	const conns = 64
	root, ok := s.find(targetDirect, pathRoot, conns)
	if !ok {
		return nil
	}
	baseline, haveBaseline := s.find(targetPerVisit, pathRoot, conns)
	var goals []Goal
	if health, ok := s.find(targetDirect, pathHealth, conns); ok && health.RequestsSec > 0 {
		ratio := root.RequestsSec / health.RequestsSec
		measured := fmt.Sprintf("%.2f×", ratio)
		if haveBaseline {
			measured += fmt.Sprintf(" (per-visit baseline: %.2f×)", baseline.RequestsSec/health.RequestsSec)
		}
		goals = append(goals, Goal{
			Name:     fmt.Sprintf("durable visits: `%s` ≥ 0.5× `%s` (hello direct, 64 connections)", pathRoot, pathHealth),
			Measured: measured,
			Met:      ratio >= 0.5,
		})
	}
	measured := msText(root.P99Ms)
	if haveBaseline {
		measured += fmt.Sprintf(" (per-visit baseline: %s)", msText(baseline.P99Ms))
	}
	goals = append(goals, Goal{
		Name:     fmt.Sprintf("durable visits: p99 of `%s` < 10 ms (hello direct, 64 connections)", pathRoot),
		Measured: measured,
		Met:      root.P99Ms < 10,
	})
	return goals
}

func (s *Serving) find(target, path string, conns int) (Load, bool) {
	for _, l := range s.Runs {
		if l.Target == target && strings.HasSuffix(l.URL, path) && l.Connections == conns {
			return l, true
		}
	}
	return Load{}, false
}

func (s *Serving) levels(path string) []int {
	seen := map[int]bool{}
	var out []int
	for _, l := range s.Runs {
		if strings.HasSuffix(l.URL, path) && !seen[l.Connections] {
			seen[l.Connections] = true
			out = append(out, l.Connections)
		}
	}
	sort.Ints(out)
	return out
}

// visitsMarkdown renders the durable-visit runs: how each design turns
// visits into flushes, against /health of hello direct (the ceiling).
func (s *Serving) visitsMarkdown(w func(string, ...any)) {
	var runs []Load
	for _, l := range s.Runs {
		if l.Visits != nil {
			runs = append(runs, l)
		}
	}
	if len(runs) == 0 {
		return
	}
	w("\n### Durable visits (`%s`)\n\n", pathRoot)
	w("Flushes are counted from outside the server (inotify: each flush moves one new file onto the counter's name, by rename or by exchange with a spare), visits from the stored count; "+
		"\"× `%s`\" divides by hello direct's `%s` rate at the same connections.\n\n", pathHealth, pathHealth)
	w("| Target | Connections | Requests/s | p50 | p99 | × `%s` | Flushes/s | Visits/flush |\n", pathHealth)
	w("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range runs {
		ratio := "—"
		if h, ok := s.find(targetDirect, pathHealth, l.Connections); ok && h.RequestsSec > 0 {
			ratio = fmt.Sprintf("%.2f×", l.RequestsSec/h.RequestsSec)
		}
		w("| %s | %d | %.0f | %s | %s | %s | %.0f | %.1f |\n", l.Target, l.Connections, l.RequestsSec,
			msText(l.P50Ms), msText(l.P99Ms), ratio, l.Visits.FlushesPerSec, l.Visits.VisitsPerFlush)
	}
}

// missing explains an absent section: not selected, or failed.
func (r *Results) missing(section string) string {
	for _, s := range r.Sections {
		if s == section {
			return "Not measured: the section failed (see Failures below).\n"
		}
	}
	return "Not run (BENCH_ONLY).\n"
}

// Markdown renders the results as the tables `make bench` prints.
func (r *Results) Markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	mode := "full"
	if r.Quick {
		mode = "quick (BENCH_QUICK=1: minimal sizes, figures are only a smoke check)"
	}
	w("# bootc-testboot benchmarks\n\n")
	w("Run %s, mode %s. Host: %d CPUs, kernel %s, %s, %s, %s.\n",
		r.Started, mode, r.Host.CPUs, r.Host.Kernel, r.Host.Go, r.Host.Wrk, r.Host.Nginx)
	w("Compare figures within this run only: every baseline was measured in the same run.\n")

	w("\n## 1. Upgrade download (one app changed, v1 → v2)\n\n")
	if u := r.Upgrade; u != nil {
		w("Changed app: %s, binary %s, %s gzip. Base: %s. %s Compression: %s.\n\n", u.App,
			bytesText(u.BinaryBytes), bytesText(u.BinaryGzip), u.BaseImage, u.LayersCounted, u.Compressor)
		w("| Layout | Containerfile | New layers | Download (gzip) | Download (uncompressed) | × binary (gzip) |\n")
		w("|---|---|---:|---:|---:|---:|\n")
		for _, l := range u.Layouts {
			w("| %s | `%s` | %d | %s | %s | %.2f× |\n", l.Name, l.Containerfile, l.Download.Layers,
				bytesText(l.Download.GzipBytes), bytesText(l.Download.Bytes), l.RatioGzip)
		}
		w("\nThe new layers, by the build step that made them:\n\n")
		w("| Layout | Step | gzip | Uncompressed |\n|---|---|---:|---:|\n")
		for _, l := range u.Layouts {
			for _, n := range l.Download.New {
				w("| %s | `%s` | %s | %s |\n", l.Name, stepText(n.Step), bytesText(n.GzipBytes), bytesText(n.Bytes))
			}
		}
		if z := u.Zstd; z != nil {
			w("\n### zstd layers instead of gzip (our layout)\n\n")
			w("Compression: %s.\n\n", z.Compressor)
			binZstd, ratioZstd := "—", "—"
			if z.BinaryZstd > 0 {
				binZstd, ratioZstd = bytesText(z.BinaryZstd), fmt.Sprintf("%.2f×", z.RatioBinaryZstd)
			}
			w("| New layers | Download (gzip) | Download (zstd) | zstd ÷ gzip | × binary (gzip) | Binary (zstd) | × binary (zstd) |\n")
			w("|---:|---:|---:|---:|---:|---:|---:|\n")
			w("| %d | %s | %s | %.2f× | %.2f× | %s | %s |\n", z.Layers, bytesText(z.GzipBytes), bytesText(z.Bytes),
				z.VsGzip, z.RatioBinaryGzip, binZstd, ratioZstd)
			w("\nCan the hosts import zstd layers (upstream bootc sources):\n\n")
			for _, e := range z.Evidence {
				w("- %s\n", e)
			}
			w("\n**Recommendation:** %s\n", z.Recommendation)
		}
	} else {
		w("%s", r.missing("upgrade"))
	}

	w("\n## 2. No-op rebuild (same sources, --no-cache)\n\n")
	if rb := r.Rebuild; rb != nil {
		w("| First build | Rebuild | Identical | Download |\n|---|---|---|---:|\n")
		w("| `%s` | `%s` | %s | %d layers, %s |\n", shortID(rb.First), shortID(rb.Second),
			yesNo(rb.Identical), rb.Download.Layers, bytesText(rb.Download.GzipBytes))
	} else {
		w("%s", r.missing("rebuild"))
	}

	w("\n## 3. Serving on loopback (wrk)\n\n")
	if s := r.Serving; s != nil {
		runs := fmt.Sprintf("Median of %d runs of %d s per cell", s.Rounds, s.SecondsPerRun)
		if s.Rounds == 1 {
			runs = fmt.Sprintf("One run of %d s per cell", s.SecondsPerRun)
		}
		threads := fmt.Sprintf("%d wrk threads share", s.Threads)
		if s.Threads == 1 {
			threads = "one wrk thread shares"
		}
		w("%s; %s the %d CPUs with the servers. \"× direct\" compares with hello direct on the same path and connections. "+
			"`/health` shows what serving costs; `/` stores each visit durably (fsync) before answering. "+
			"hello shares each flush among the visits that arrived while the previous one was in flight (group commit); "+
			"%s is hello built with its earlier counter (`%s`, never shipped), one flush per visit under one lock.\n\n",
			runs, threads, r.Host.CPUs, targetPerVisit, perVisitCounter)
		w("| Target | Path | Connections | Requests/s | p50 | p99 | Errors | × direct |\n")
		w("|---|---|---:|---:|---:|---:|---:|---:|\n")
		for _, l := range s.Runs {
			path := urlPath(l.URL)
			ratio := "—"
			if d, ok := s.find(targetDirect, path, l.Connections); ok && d.RequestsSec > 0 && l.Target != targetDirect {
				ratio = fmt.Sprintf("%.2f×", l.RequestsSec/d.RequestsSec)
			}
			w("| %s | `%s` | %d | %.0f | %s | %s | %d | %s |\n", l.Target, path, l.Connections,
				l.RequestsSec, msText(l.P50Ms), msText(l.P99Ms), l.Errors, ratio)
		}
		s.visitsMarkdown(w)
	} else {
		w("%s", r.missing("serving"))
	}

	w("\n## 4. Footprint\n\n")
	if len(r.Apps) > 0 {
		w("| App | Binary | Binary (gzip) | RSS idle | RSS after requests | Requests |\n")
		w("|---|---:|---:|---:|---:|---:|\n")
		for _, a := range r.Apps {
			w("| %s | %s | %s | %s | %s | %d × `%s` |\n", a.App, bytesText(a.BinaryBytes), bytesText(a.BinaryGzip),
				kibText(a.RSSIdleKiB), kibText(a.RSSAfterKiB), a.Requests, a.Path)
		}
	} else {
		w("%s", r.missing("footprint"))
	}

	w("\n## 5. Boot to verified (boot rig, systemd-nspawn)\n\n")
	if bt := r.Boot; bt != nil {
		w("| Boot | Seconds |\n|---|---:|\n")
		for _, x := range bt.Boots {
			w("| %s | %.1f |\n", x.Name, x.Seconds)
		}
	} else {
		w("%s", r.missing("boot"))
	}

	w("\n## 6. Reboot downtime (simulated host, systemd-nspawn)\n\n")
	if rb := r.Reboot; rb != nil {
		w("| Reboot | Downtime (s) |\n|---|---:|\n")
		w("| os-apply, soft (app-only upgrade) | %.2f |\n| os-rollback, full (FULL_REBOOT=1) | %.2f |\n| os-rollback, soft | %.2f |\n",
			rb.SoftApply, rb.FullRollback, rb.SoftRollback)
		w("\nSoft over full: %.2f×. %s\n", rb.Ratio, rb.Note)
	} else {
		w("%s", r.missing("reboot"))
	}

	w("\n## Goals (reported, never failed)\n\n")
	if len(r.Goals) == 0 {
		w("No goal could be evaluated.\n")
	} else {
		w("| Goal | Measured | Met |\n|---|---:|---|\n")
		for _, g := range r.Goals {
			w("| %s | %s | %s |\n", g.Name, g.Measured, yesNo(g.Met))
		}
	}
	if len(r.Failures) > 0 {
		w("\n## Failures (sections that could not run)\n\n")
		for _, f := range r.Failures {
			first, _, more := strings.Cut(f.Error, "\n")
			if more {
				first += " (full message in results.json and the test log)"
			}
			w("- **%s**: %s\n", f.Section, first)
		}
	}
	return b.String()
}

var (
	// "|5 A=1 B=2 /bin/sh -c CMD": a RUN step with its build arguments.
	runWithArgs = regexp.MustCompile(`^\|\d+ .*?/bin/sh -c `)
	sourceHash  = regexp.MustCompile(`\b(file|dir|multi):[0-9a-f]{64}`)
)

// stepText turns a history entry ("/bin/sh -c #(nop) COPY file:ab12... in
// /usr/bin/hello") into a short Dockerfile-like line for a table cell.
func stepText(step string) string {
	step = strings.Join(strings.Fields(step), " ")
	switch {
	case strings.HasPrefix(step, "/bin/sh -c #(nop) "):
		step = strings.TrimPrefix(step, "/bin/sh -c #(nop) ")
	case runWithArgs.MatchString(step):
		step = "RUN " + runWithArgs.ReplaceAllString(step, "")
	case strings.HasPrefix(step, "/bin/sh -c "):
		step = "RUN " + strings.TrimPrefix(step, "/bin/sh -c ")
	}
	step = sourceHash.ReplaceAllString(step, "$1")
	step = strings.ReplaceAll(step, "|", "\\|")
	step = strings.ReplaceAll(step, "`", "'")
	if step == "" {
		return "(unknown step)"
	}
	if r := []rune(step); len(r) > 80 {
		step = string(r[:77]) + "..."
	}
	return step
}

func connText(n int) string {
	if n == 1 {
		return "1 connection"
	}
	return fmt.Sprintf("%d connections", n)
}

func urlPath(u string) string {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return u
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return "/"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func msText(ms float64) string {
	if ms < 1 {
		return fmt.Sprintf("%.0f µs", ms*1000)
	}
	return fmt.Sprintf("%.2f ms", ms)
}

// bytesText prints sizes in the units registries and `podman images` use (powers of 1000).
func bytesText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func kibText(k int64) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }
