package configs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// nginxSite returns configs/nginx.conf with the apps' snippets, as a host has
// it, prepared for a test run: logs go to dir instead of /var/log/nginx, the
// server listens on listen instead of :80, and each upstream points at
// backends[name] when given. Everything else is the config as shipped.
func nginxSite(t *testing.T, dir, listen string, backends map[string]string, edits ...func(string) string) string {
	t.Helper()
	site, err := harness.NginxSite(harness.Root())
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.ReplaceAll(site, "/var/log/nginx/", dir+"/")
	conf = regexp.MustCompile(`(?m)^\s*listen\s+\[::\]:80\b.*$`).ReplaceAllString(conf, "")
	conf = regexp.MustCompile(`(?m)^(\s*)listen\s+80\b`).ReplaceAllString(conf, "${1}listen "+listen)
	for name, addr := range backends {
		re := regexp.MustCompile(`(upstream\s+` + regexp.QuoteMeta(name) + `\s*\{[^}]*?server\s+)\S+?(\s|;)`)
		if !re.MatchString(conf) {
			t.Fatalf("configs/nginx.conf has no upstream %s", name)
		}
		conf = re.ReplaceAllString(conf, "${1}"+addr+"${2}")
	}
	for _, e := range edits {
		conf = e(conf)
	}
	return conf
}

// nginxMain writes a minimal main config around site (as Fedora's and
// Debian's nginx.conf include conf.d inside http{}) and returns its path.
func nginxMain(t *testing.T, dir, site string) string {
	t.Helper()
	sitePath := filepath.Join(dir, "bootc-testboot.conf")
	if err := os.WriteFile(sitePath, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root;"
	}
	main := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 256; }
http {
    default_type application/octet-stream;
    access_log %[2]s/default-access.log;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[3]s;
}
`, user, dir, sitePath)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNginxConfigIsValid(t *testing.T) {
	harness.Require(t, "nginx")
	dir := t.TempDir()
	conf := nginxMain(t, dir, nginxSite(t, dir, "127.0.0.1:18080", nil))
	out, err := exec.Command("nginx", "-t", "-q", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

// backend is a stand-in app that reports what it received.
type backend struct {
	name  string
	srv   *http.Server
	addr  string
	mu    sync.Mutex
	conns int
	seen  []http.Header
}

func startBackend(t *testing.T, name string, handler http.HandlerFunc) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen = append(b.seen, r.Header.Clone())
		b.mu.Unlock()
		if handler != nil {
			handler(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		appHeaders(w, r)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"app": name, "path": r.URL.Path, "host": r.Host,
			"request_id": r.Header.Get("X-Request-ID"), "xff": r.Header.Get("X-Forwarded-For"),
			"real_ip": r.Header.Get("X-Real-IP"), "proto": r.Header.Get("X-Forwarded-Proto"),
			"connection": r.Header.Get("Connection"),
		})
	})
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				b.mu.Lock()
				b.conns++
				b.mu.Unlock()
			}
		}}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { b.stop() })
	return b
}

// appHeaders sets what every real app sets on its responses
// (apps/internal/server.LogRequests and httpjson.Write), so a header that
// nginx also sends would show up twice.
func appHeaders(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Request-ID")
	if id == "" {
		id = "app-made-id"
	}
	w.Header().Set("X-Request-ID", id)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
}

func (b *backend) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
}

func (b *backend) hits() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

func (b *backend) newConns() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns
}

// runNginx starts nginx in the foreground on conf and stops it at cleanup.
func runNginx(t *testing.T, dir, conf, addr string) {
	t.Helper()
	cmd := exec.Command("nginx", "-g", "daemon off;", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func get(t *testing.T, client *http.Client, method, url string, body io.Reader, hdr map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// The shipped config, run by the real nginx in front of two test apps.
func TestNginxRoutesToApps(t *testing.T) {
	harness.Require(t, "nginx")
	dir := t.TempDir()
	hello := startBackend(t, "hello", nil)
	api := startBackend(t, "api", nil)
	slow := startBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		appHeaders(w, r)
		if r.URL.Path == "/api/slow" {
			time.Sleep(3 * time.Second)
		}
		if r.URL.Path == "/api/own-error" {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "the app's own 503")
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	_ = slow
	addr := harness.FreeAddr(t)
	// Only the read timeout is shortened, so a 504 does not take 30 s.
	shortRead := func(c string) string {
		return strings.Replace(c, "proxy_read_timeout 30s;", "proxy_read_timeout 1s;", 1)
	}
	site := nginxSite(t, dir, addr, map[string]string{"hello": hello.addr, "api": api.addr}, shortRead)
	if !strings.Contains(site, "proxy_read_timeout 1s;") {
		t.Fatal("configs/nginx.conf has no proxy_read_timeout 30s; to shorten for the test")
	}
	runNginx(t, dir, nginxMain(t, dir, site), addr)
	base := "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	routes := []struct{ path, app string }{{"/", "hello"}, {"/health", "hello"}, {"/anything", "hello"},
		{"/api/health", "api"}, {"/api/info", "api"}}
	for _, rt := range routes {
		r := get(t, client, "GET", base+rt.path, nil, nil)
		if r.status != 200 || r.body["app"] != rt.app || r.body["path"] != rt.path {
			t.Errorf("GET %s: %d %s, want 200 from %s with the path unchanged", rt.path, r.status, r.raw, rt.app)
		}
	}
	// absolute_redirect off: the Location is a path, never built from Host.
	r := get(t, client, "GET", base+"/api", nil, map[string]string{"Host": "evil.example"})
	if r.status != 301 || r.header.Values("Location")[0] != "/api/" || len(r.header.Values("Location")) != 1 {
		t.Errorf("GET /api with Host evil.example: %d Location %q, want 301 to the path /api/", r.status, r.header.Values("Location"))
	}
	checkResponseHeaders(t, "301 /api", r)

	// Forwarded headers, request ID, no version in Server.
	r = get(t, client, "GET", base+"/", nil, map[string]string{"Host": "example.test"})
	checkResponseHeaders(t, "proxied GET /", r)
	id := r.header.Get("X-Request-ID")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) || r.body["request_id"] != id {
		t.Errorf("request ID: response %q, app saw %v; want one 32-hex ID on both", id, r.body["request_id"])
	}
	for k, want := range map[string]string{"host": "example.test", "xff": "127.0.0.1", "real_ip": "127.0.0.1", "proto": "http", "connection": ""} {
		if r.body[k] != want {
			t.Errorf("app saw %s = %v, want %q", k, r.body[k], want)
		}
	}
	if s := r.header.Get("Server"); s != "nginx" {
		t.Errorf("Server header %q, want plain \"nginx\" (server_tokens off)", s)
	}
	if r := get(t, client, "GET", base+"/", nil, map[string]string{"X-Request-ID": "lb-1234.abc"}); r.body["request_id"] != "lb-1234.abc" ||
		r.header.Get("X-Request-ID") != "lb-1234.abc" {
		t.Errorf("a caller's well-formed X-Request-ID was not kept: app %v, response %q", r.body["request_id"], r.header.Get("X-Request-ID"))
	}
	if r := get(t, client, "GET", base+"/", nil, map[string]string{"X-Request-ID": "<script>"}); r.body["request_id"] == "<script>" {
		t.Error("a malformed X-Request-ID reached the app; nginx must replace it")
	}

	// Keepalive: many requests, few connections to the app.
	before := hello.newConns()
	for i := 0; i < 30; i++ {
		get(t, client, "GET", base+"/health", nil, nil)
	}
	if n := hello.newConns() - before; n > 2 {
		t.Errorf("30 requests opened %d connections to the app, want pooled keepalive connections (at most 2)", n)
	}

	// Body limit with a JSON error: no app takes a body.
	big := strings.NewReader(strings.Repeat("x", 4<<10))
	r = get(t, client, "POST", base+"/", big, nil)
	if r.status != 413 || r.body["status"] != float64(413) {
		t.Errorf("4 KiB body: %d %s, want 413 JSON", r.status, r.raw)
	}
	checkResponseHeaders(t, "413", r)

	// The app's own error responses pass through untouched.
	swapUpstream(t, dir, addr, site, "api", api.addr, slow.addr)
	r = get(t, client, "GET", base+"/api/own-error", nil, nil)
	if r.status != 503 || r.raw != "the app's own 503" {
		t.Errorf("app's own 503: got %d %q, want it unchanged", r.status, r.raw)
	}
	checkResponseHeaders(t, "app's own 503", r)
	// A slow app: 504 with a JSON body carrying the request ID.
	r = get(t, client, "GET", base+"/api/slow", nil, nil)
	if r.status != 504 || r.header.Get("Content-Type") != "application/json" || r.body["status"] != float64(504) ||
		r.body["request_id"] != r.header.Get("X-Request-ID") {
		t.Errorf("slow app: %d %q %s, want 504 application/json with the request ID", r.status, r.header.Get("Content-Type"), r.raw)
	}
	checkResponseHeaders(t, "504", r)
	// A stopped app: 502 with a JSON body.
	hello.stop()
	r = get(t, client, "GET", base+"/", nil, nil)
	if r.status != 502 || r.header.Get("Content-Type") != "application/json" || r.body["status"] != float64(502) ||
		r.body["request_id"] != r.header.Get("X-Request-ID") || !strings.Contains(r.raw, "not running") {
		t.Errorf("stopped app: %d %q %s, want 502 application/json with the request ID", r.status, r.header.Get("Content-Type"), r.raw)
	}
	checkResponseHeaders(t, "502", r)

	// The access log: one JSON object per request, with upstream timings.
	f, err := os.Open(filepath.Join(dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last map[string]any
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("access log line %d is not JSON: %v\n%s", n, err, sc.Text())
		}
	}
	if n < 30 {
		t.Fatalf("access log has %d lines, want one per request", n)
	}
	for _, k := range []string{"request_id", "status", "request_time", "upstream", "upstream_status", "upstream_connect_time",
		"upstream_header_time", "upstream_response_time", "limit_req", "limit_conn"} {
		if _, ok := last[k]; !ok {
			t.Errorf("access log entry lacks %q: %v", k, last)
		}
	}
}

// swapUpstream points one upstream at another backend and reloads nginx.
func swapUpstream(t *testing.T, dir, addr, site, name, from, to string) {
	t.Helper()
	re := regexp.MustCompile(`(upstream\s+` + regexp.QuoteMeta(name) + `\s*\{[^}]*?server\s+)` + regexp.QuoteMeta(from))
	site = re.ReplaceAllString(site, "${1}"+to)
	conf := nginxMain(t, dir, site)
	if out, err := exec.Command("nginx", "-s", "reload", "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", conf).CombinedOutput(); err != nil {
		t.Fatalf("nginx reload: %v\n%s", err, out)
	}
	// The reload is asynchronous: wait until the new upstream answers.
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get("http://" + addr + "/api/own-error")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) == "the app's own 503" {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("nginx did not switch to the new upstream after reload")
}

// responseHeaders are what nginx sends on every response on :80, proxied or
// its own, each exactly once.
var responseHeaders = map[string]string{
	"X-Content-Type-Options":  "nosniff",
	"Cache-Control":           "no-store",
	"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
}

func checkResponseHeaders(t *testing.T, what string, r reply) {
	t.Helper()
	for k, want := range responseHeaders {
		if got := r.header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s %q, want exactly one %q", what, k, got, want)
		}
	}
	if ids := r.header.Values("X-Request-ID"); len(ids) != 1 || ids[0] == "" {
		t.Errorf("%s: X-Request-ID %q, want exactly one", what, ids)
	}
}

// clientFrom is an HTTP client whose connections leave from the loopback
// address ip. To the shipped config 127.0.0.1 is the instance itself and any
// other 127.x address is a remote client, so one machine can play both.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 128},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetchStatus is get for goroutines: no t.Fatal, the status or the error.
func fetchStatus(client *http.Client, url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// concurrently requests url n times at once from client and counts statuses.
func concurrently(t *testing.T, client *http.Client, url string, n int) map[int]int {
	t.Helper()
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		counts = map[int]int{}
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, err := fetchStatus(client, url)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			counts[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return counts
}

// The per-client limits and the loopback-only /api/: remote clients get JSON
// 403s and 429s, the instance itself (the verify script, the benchmarks) is
// neither refused nor limited.
func TestNginxLimitsRemoteClientsNotTheInstance(t *testing.T) {
	harness.Require(t, "nginx")
	const hold = time.Second
	dir := t.TempDir()
	hello := startBackend(t, "hello", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			time.Sleep(hold) // a request in progress, for limit_conn
		}
		w.Header().Set("Content-Type", "application/json")
		appHeaders(w, r)
		_, _ = io.WriteString(w, `{"app":"hello"}`)
	})
	api := startBackend(t, "api", nil)
	addr := harness.FreeAddr(t)
	runNginx(t, dir, nginxMain(t, dir, nginxSite(t, dir, addr, map[string]string{"hello": hello.addr, "api": api.addr})), addr)
	base := "http://" + addr
	local := clientFrom("127.0.0.1")

	// What scripts/verify-instance.sh requests, from the instance: all 2xx.
	verifyRequests := []struct{ method, path string }{{"GET", "/health"}, {"GET", "/api/health"}, {"HEAD", "/"}, {"GET", "/api/info"}}
	for _, v := range verifyRequests {
		if r := get(t, local, v.method, base+v.path, nil, nil); r.status != 200 {
			t.Errorf("instance: %s %s: %d %s, want 200", v.method, v.path, r.status, r.raw)
		}
	}

	t.Run("api is for the instance only", func(t *testing.T) {
		remote := clientFrom("127.0.0.2")
		for _, v := range verifyRequests[:3] {
			if r := get(t, remote, v.method, base+v.path, nil, nil); r.status != 200 {
				t.Errorf("remote: %s %s: %d, want 200 (health checks and the greeting are public)", v.method, v.path, r.status)
			}
		}
		apiHits := api.hits()
		for _, path := range []string{"/api/info", "/api/", "/api/info/", "/api//info", "/api/%69nfo", "/api/info?x=1", "/api/./info"} {
			r := get(t, remote, "GET", base+path, nil, nil)
			if r.status != 403 || r.body["status"] != float64(403) || r.body["request_id"] != r.header.Get("X-Request-ID") {
				t.Errorf("remote GET %s: %d %s, want a JSON 403", path, r.status, r.raw)
			}
			checkResponseHeaders(t, "403 "+path, r)
		}
		if n := api.hits() - apiHits; n != 0 {
			t.Errorf("%d remote requests for /api/ reached the api app", n)
		}
	})

	t.Run("a burst from one remote client gets JSON 429s", func(t *testing.T) {
		remote := clientFrom("127.0.0.3")
		before := hello.hits()
		ok, limited := 0, 0
		start := time.Now()
		for i := 0; i < 80; i++ {
			r := get(t, remote, "GET", base+"/", nil, nil)
			switch r.status {
			case 200:
				ok++
			case 429:
				limited++
				if r.header.Get("Content-Type") != "application/json" || r.body["status"] != float64(429) ||
					r.body["request_id"] != r.header.Get("X-Request-ID") {
					t.Fatalf("429: %q %s, want JSON with the request ID", r.header.Get("Content-Type"), r.raw)
				}
				checkResponseHeaders(t, "429", r)
			default:
				t.Fatalf("GET / in a burst: %d %s", r.status, r.raw)
			}
		}
		// burst=20 at once, then 10/s: at most 21 + 10 per elapsed second.
		allowed := 21 + int(10*time.Since(start).Seconds()) + 1
		if ok < 21 || ok > allowed || limited == 0 {
			t.Errorf("80 requests at once: %d answered, %d refused; want 21..%d answered, the rest 429", ok, limited, allowed)
		}
		if n := hello.hits() - before; n != ok {
			t.Errorf("the app saw %d requests, want only the %d answered ones", n, ok)
		}
	})

	t.Run("a remote client at 10 requests/s is never limited", func(t *testing.T) {
		remote := clientFrom("127.0.0.5")
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 25; i++ {
			if r := get(t, remote, "GET", base+"/", nil, nil); r.status != 200 {
				t.Fatalf("request %d at 10/s: %d %s", i, r.status, r.raw)
			}
			<-tick.C
		}
	})

	t.Run("too many requests in progress from one remote client get 429s", func(t *testing.T) {
		counts := concurrently(t, clientFrom("127.0.0.4"), base+"/hold", 15)
		if counts[200] > 10 || counts[200] == 0 || counts[429] == 0 || counts[200]+counts[429] != 15 {
			t.Errorf("15 requests in progress at once: %v, want at most 10 answered and the rest 429", counts)
		}
		if !accessLogHas(t, dir, `"remote_addr":"127.0.0.4"`, `"status":429`, `"limit_conn":"REJECTED"`) {
			t.Error("no access log entry shows limit_conn refusing 127.0.0.4")
		}
	})

	t.Run("the instance itself is not limited", func(t *testing.T) {
		// The benchmarks' shape (test/bench: wrk from 127.0.0.1, 64 connections).
		var failed sync.Map
		var wg sync.WaitGroup
		for c := 0; c < 64; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					status, err := fetchStatus(local, base+"/health")
					if err != nil || status != 200 {
						failed.Store(fmt.Sprintf("%d %v", status, err), true)
					}
				}
			}()
		}
		wg.Wait()
		failed.Range(func(k, _ any) bool { t.Errorf("loopback request at benchmark rate: %v", k); return true })
		if counts := concurrently(t, local, base+"/hold", 15); counts[200] != 15 {
			t.Errorf("15 loopback requests in progress at once: %v, want all 200", counts)
		}
	})
}

// accessLogHas reports whether one access log line contains every part.
func accessLogHas(t *testing.T, dir string, parts ...string) bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}
