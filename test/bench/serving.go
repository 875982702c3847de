package bench

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"bootc-testboot/test/harness"
)

// Targets of the serving section, all on loopback.
const (
	targetDirect = "hello direct"
	targetNginx  = "hello through nginx"
	targetStatic = "nginx return 200"
	// hello built with the per-visit counter (see perVisitCounter), direct.
	targetPerVisit = "hello per-visit (baseline)"

	pathHealth = "/health"
	// GET / records the visit durably (two fsyncs per flush) before
	// answering, so its figures measure the disk as much as the server.
	pathRoot = "/"
)

// helloUpstream is where configs/nginx.conf expects hello; the bench points it
// at the port hello got instead.
const helloUpstream = "127.0.0.1:8080"

var listen80 = regexp.MustCompile(`(?m)^(\s*)listen\s+(\[::\]:)?80\b[^;]*;`)

// proxyConfig turns configs/nginx.conf into an include that listens on
// 127.0.0.1:port, proxies to hello on helloPort and logs into dir. Everything
// else (proxy settings, keepalive, headers, log format) stays as shipped.
// It fails when the config no longer has what it rewrites, so the bench never
// silently measures a different setup.
func proxyConfig(conf string, port, helloPort int, dir string) (string, error) {
	if !listen80.MatchString(conf) {
		return "", fmt.Errorf("configs/nginx.conf: no `listen 80` directive to move to a free loopback port")
	}
	if !strings.Contains(conf, helloUpstream) {
		return "", fmt.Errorf("configs/nginx.conf: no upstream %s (hello) to point at the bench's hello", helloUpstream)
	}
	first := true
	conf = listen80.ReplaceAllStringFunc(conf, func(m string) string {
		indent := m[:len(m)-len(strings.TrimLeft(m, " \t\n"))]
		if !first {
			return indent + "# (bench: second listen removed)"
		}
		first = false
		return fmt.Sprintf("%slisten 127.0.0.1:%d;", indent, port)
	})
	conf = strings.ReplaceAll(conf, helloUpstream, fmt.Sprintf("127.0.0.1:%d", helloPort))
	// Logs go where the shipped config says on a host; here, into the run's directory.
	logPath := regexp.MustCompile(`(?m)^(\s*(?:access_log|error_log)\s+)(/\S+?)(\s|;)`)
	conf = logPath.ReplaceAllStringFunc(conf, func(m string) string {
		sub := logPath.FindStringSubmatch(m)
		return sub[1] + filepath.Join(dir, filepath.Base(sub[2])) + sub[3]
	})
	return conf, nil
}

// nginxMain is a main nginx.conf shaped like a distribution's (worker per
// core, the http-level include), plus the static ceiling server.
func nginxMain(dir, include string, staticPort int) string {
	return fmt.Sprintf(`worker_processes auto;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    access_log %[1]s/access.log;

    include %[2]s;

    # The ceiling: nginx answering by itself, no upstream, no log.
    server {
        listen 127.0.0.1:%[3]d;
        access_log off;
        location / {
            default_type application/json;
            return 200 '{"status":"ok"}';
        }
    }
}
`, dir, include, staticPort)
}

// servingRig is hello, hello with the per-visit counter, and nginx (our
// config and the static server) on loopback. Each hello has its own state
// directory.
type servingRig struct {
	hello, perVisit, nginx  *process
	helloPort, perVisitPort int
	nginxPort, staticPort   int
	dir                     string
	state, perVisitState    string
}

func startServingRig(ctx context.Context, dir, helloBin, perVisitBin, nginxConf string) (_ *servingRig, err error) {
	r := &servingRig{dir: dir}
	defer func() {
		if err != nil {
			r.stop()
		}
	}()
	for _, p := range []*int{&r.helloPort, &r.perVisitPort, &r.nginxPort, &r.staticPort} {
		if *p, err = harness.FreePort(); err != nil {
			return nil, err
		}
	}
	// The counter is fsynced on every flush: keep it on a disk-backed
	// filesystem like /var/lib/hello on a host, not on a tmpfs.
	if r.state, err = os.MkdirTemp("/var/tmp", "bench-hello-state-"); err != nil {
		return nil, err
	}
	if r.perVisitState, err = os.MkdirTemp("/var/tmp", "bench-hello-pervisit-state-"); err != nil {
		return nil, err
	}
	r.hello, err = startProcess("hello", filepath.Join(dir, "hello.log"), nil,
		helloBin, "-addr", fmt.Sprintf("127.0.0.1:%d", r.helloPort), "-state-dir", r.state)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, r.hello, r.url(targetDirect, pathHealth), 10*time.Second); err != nil {
		return nil, err
	}
	r.perVisit, err = startProcess("hello (per-visit counter)", filepath.Join(dir, "hello-pervisit.log"), nil,
		perVisitBin, "-addr", fmt.Sprintf("127.0.0.1:%d", r.perVisitPort), "-state-dir", r.perVisitState)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, r.perVisit, r.url(targetPerVisit, pathHealth), 10*time.Second); err != nil {
		return nil, err
	}
	include, err := proxyConfig(nginxConf, r.nginxPort, r.helloPort, dir)
	if err != nil {
		return nil, err
	}
	incPath := filepath.Join(dir, "bootc-testboot.conf")
	mainPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(incPath, []byte(include), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(mainPath, []byte(nginxMain(dir, incPath, r.staticPort)), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "nginx", "-t", "-p", dir, "-c", mainPath).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nginx -t on the bench config (%s): %v\n%s", mainPath, err, out)
	}
	r.nginx, err = startProcess("nginx", filepath.Join(dir, "nginx.out"), nil, "nginx", "-p", dir, "-c", mainPath)
	if err != nil {
		return nil, err
	}
	for _, target := range []string{targetNginx, targetStatic} {
		if err := waitHTTP(ctx, r.nginx, r.url(target, pathHealth), 10*time.Second); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return nil, fmt.Errorf("%w\nnginx error log:\n%s", err, log)
		}
	}
	return r, nil
}

func (r *servingRig) url(target, path string) string {
	port := map[string]int{targetDirect: r.helloPort, targetNginx: r.nginxPort, targetStatic: r.staticPort,
		targetPerVisit: r.perVisitPort}[target]
	return fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
}

// stateDir is where the hello behind target keeps its visit count, or "" for
// a target without one.
func (r *servingRig) stateDir(target string) string {
	return map[string]string{targetDirect: r.state, targetNginx: r.state, targetPerVisit: r.perVisitState}[target]
}

func (r *servingRig) stop() {
	if r.nginx != nil {
		r.nginx.stop()
	}
	for _, p := range []*process{r.hello, r.perVisit} {
		if p != nil {
			p.stop()
		}
	}
	for _, d := range []string{r.state, r.perVisitState} {
		if d != "" {
			_ = os.RemoveAll(d)
		}
	}
}

// servingCell is one (target, path, connections) combination.
type servingCell struct {
	target, path string
	conns        int
}

// servingCells: /health for hello direct, through nginx and nginx alone at
// every level; / (the durable visit) for hello direct and the per-visit
// baseline at every level, and through nginx at the highest level only.
func servingCells(levels []int) []servingCell {
	var cells []servingCell
	for _, c := range levels {
		for _, target := range []string{targetDirect, targetNginx, targetStatic} {
			cells = append(cells, servingCell{target, pathHealth, c})
		}
		for _, target := range []string{targetDirect, targetPerVisit} {
			cells = append(cells, servingCell{target, pathRoot, c})
		}
	}
	cells = append(cells, servingCell{targetNginx, pathRoot, levels[len(levels)-1]})
	return cells
}

// measureServing runs wrk against hello direct, hello through nginx with our
// config, and nginx's static answer. Each round runs every cell once, so a
// burst of noise on the machine hits one round of every target, not all runs
// of one; the run with the median rate of each cell is reported.
func measureServing(ctx context.Context, logf func(string, ...any), work string, sz sizes) (*Serving, error) {
	for _, tool := range []string{"wrk", "nginx"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed (apt-get install %s)", tool, tool)
		}
	}
	conf, err := harness.NginxSite(harness.Root())
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "serving")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	perVisitBin, err := buildPerVisitHello(ctx, dir)
	if err != nil {
		return nil, err
	}
	rig, err := startServingRig(ctx, dir, harness.Path("output", "bin", "hello"), perVisitBin, conf)
	if err != nil {
		return nil, err
	}
	defer rig.stop()

	// The load generator shares the machine with the servers: give it half
	// the CPUs (one wrk thread drives ~100k req/s, above any target here), so
	// its own scheduling delays weigh less on the latencies it measures.
	threads := max(1, runtime.NumCPU()/2)
	cells := servingCells(sz.connections)
	runs := make([][]Load, len(cells))
	for round := 1; round <= sz.rounds; round++ {
		for i, c := range cells {
			l, err := runCell(ctx, rig, c, threads, time.Duration(sz.seconds)*time.Second)
			if err != nil {
				return nil, err
			}
			l.Target = c.target
			// Fast errors are not fast answers: a cell with errors has no valid figure.
			if l.Errors > 0 {
				return nil, fmt.Errorf("%s %s at %d connections: %d of %d requests failed (socket errors or non-2xx answers); logs of hello and nginx were in %s",
					c.target, c.path, c.conns, l.Errors, l.Requests, dir)
			}
			flushes := ""
			if v := l.Visits; v != nil {
				flushes = fmt.Sprintf("  %.0f flushes/s, %.1f visits/flush", v.FlushesPerSec, v.VisitsPerFlush)
			}
			logf("round %d/%d  %-26s %-8s c=%-3d %9.0f req/s  p50 %s  p99 %s  errors %d%s", round, sz.rounds,
				c.target, c.path, c.conns, l.RequestsSec, msText(l.P50Ms), msText(l.P99Ms), l.Errors, flushes)
			runs[i] = append(runs[i], l)
		}
	}
	s := &Serving{SecondsPerRun: sz.seconds, Rounds: sz.rounds, Threads: threads}
	for _, r := range runs {
		s.Runs = append(s.Runs, medianRun(r))
	}
	return s, nil
}

// runCell runs wrk for one cell. For a durable visit it also counts, from
// outside the server, the visits stored and the flushes that stored them.
func runCell(ctx context.Context, rig *servingRig, c servingCell, threads int, d time.Duration) (Load, error) {
	url := rig.url(c.target, c.path)
	state := rig.stateDir(c.target)
	if c.path != pathRoot || state == "" {
		return runWrk(ctx, url, c.conns, threads, d)
	}
	before, err := storedVisits(state)
	if err != nil {
		return Load{}, err
	}
	watch, err := watchFlushes(state)
	if err != nil {
		return Load{}, err
	}
	l, wrkErr := runWrk(ctx, url, c.conns, threads, d)
	after, err := settledVisits(state)
	flushes, watchErr := watch.stop()
	switch {
	case wrkErr != nil:
		return Load{}, wrkErr
	case err != nil:
		return Load{}, err
	case watchErr != nil:
		return Load{}, fmt.Errorf("%s %s at %d connections: counting flushes: %w", c.target, c.path, c.conns, watchErr)
	}
	visits := after - before
	if visits > 0 && flushes == 0 {
		return Load{}, fmt.Errorf("%s: %d visits stored but no move onto %s seen: the counter no longer stores by rename or exchange, update test/bench/visits.go",
			c.target, visits, visitsFile)
	}
	v := &VisitStats{Visits: visits, Flushes: flushes}
	if l.Seconds > 0 {
		v.FlushesPerSec = float64(flushes) / l.Seconds
	}
	if flushes > 0 {
		v.VisitsPerFlush = float64(visits) / float64(flushes)
	}
	l.Visits = v
	return l, nil
}

// medianRun is the run with the median rate (the lower middle for an even count).
func medianRun(runs []Load) Load {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b Load) int { return cmp.Compare(a.RequestsSec, b.RequestsSec) })
	return sorted[(len(sorted)-1)/2]
}
