package bench

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const wrkOutput = `Running 1s test @ http://127.0.0.1:18999/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.03ms    1.60ms  18.65ms   91.41%
    Req/Sec    42.97k     7.39k   54.83k    65.00%
  Latency Distribution
     50%  628.00us
     75%    1.09ms
     90%    2.36ms
     99%    8.61ms
  85767 requests in 1.01s, 12.27MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  85165.05
Transfer/sec:     12.18MB
`

func TestParseWrk(t *testing.T) {
	l, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := Load{Requests: 85767, Seconds: 1.01, RequestsSec: 85165.05, P50Ms: 0.628, P99Ms: 8.61, Errors: 12}
	if !near(l.P50Ms, want.P50Ms) || !near(l.P99Ms, want.P99Ms) || !near(l.Seconds, want.Seconds) ||
		l.Requests != want.Requests || l.RequestsSec != want.RequestsSec || l.Errors != want.Errors {
		t.Fatalf("parseWrk = %+v, want %+v", l, want)
	}
}

func TestParseWrkRejectsIncompleteOutput(t *testing.T) {
	for name, out := range map[string]string{
		"no latency lines": strings.ReplaceAll(wrkOutput, "99%", "98%"),
		"no rate":          strings.ReplaceAll(wrkOutput, "Requests/sec:", "Req:"),
		"zero requests":    strings.ReplaceAll(wrkOutput, "85767 requests", "0 requests"),
		"bad unit":         strings.ReplaceAll(wrkOutput, "628.00us", "628.00"),
		"empty":            "",
	} {
		if _, err := parseWrk(out); err == nil {
			t.Errorf("%s: parseWrk accepted it", name)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]float64{"628.00us": 0.628, "1.09ms": 1.09, "1.01s": 1010, "2.00m": 120000} {
		got, err := parseDuration(in)
		if err != nil || !near(got, want) {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\thello\nVmPeak:\t  1234 kB\nVmRSS:\t    5124 kB\nRssAnon:\t 100 kB\n"
	got, err := parseVmRSS(strings.NewReader(status))
	if err != nil || got != 5124 {
		t.Fatalf("parseVmRSS = %d, %v; want 5124", got, err)
	}
	if _, err := parseVmRSS(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Fatal("a status without VmRSS was accepted")
	}
	// The bench reads its own process the same way.
	if rss, err := vmRSS(os.Getpid()); err != nil || rss <= 0 {
		t.Fatalf("vmRSS(self) = %d, %v", rss, err)
	}
}

const shippedLike = `upstream hello { server 127.0.0.1:8080; keepalive 16; }
upstream api { server 127.0.0.1:8081; keepalive 16; }
log_format timing '$remote_addr $request_time $upstream_response_time';
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    access_log /var/log/nginx/bootc-testboot.access.log timing;
    error_log /var/log/nginx/bootc-testboot.error.log warn;
    location / { proxy_pass http://hello; }
}
`

func TestProxyConfig(t *testing.T) {
	got, err := proxyConfig(shippedLike, 40001, 40002, "/run/x")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"listen 127.0.0.1:40001;",
		"server 127.0.0.1:40002; keepalive 16;",
		"server 127.0.0.1:8081;",
		"access_log /run/x/bootc-testboot.access.log timing;",
		"error_log /run/x/bootc-testboot.error.log warn;",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rewritten config lacks %q:\n%s", want, got)
		}
	}
	for _, gone := range []string{"listen 80", ":80 ", "/var/log/nginx", "127.0.0.1:8080"} {
		if strings.Contains(got, gone) {
			t.Errorf("rewritten config still has %q:\n%s", gone, got)
		}
	}
	if _, err := proxyConfig(strings.ReplaceAll(shippedLike, "8080", "9090"), 1, 2, "/x"); err == nil {
		t.Error("a config without hello's upstream was accepted")
	}
	if _, err := proxyConfig(strings.ReplaceAll(shippedLike, "80 default", "8000 default"), 1, 2, "/x"); err == nil {
		t.Error("a config without listen 80 was accepted")
	}
}

// TestDownload builds two OCI layouts sharing one base layer and checks that
// only the layer v2 adds is counted, with its real gzip size.
func TestDownload(t *testing.T) {
	dir := t.TempDir()
	base := tarLayer(t, map[string]string{"usr/lib/os-release": "ID=test\n"})
	appV1 := tarLayer(t, map[string]string{"usr/bin/hello": strings.Repeat("v1", 5000)})
	appV2 := tarLayer(t, map[string]string{"usr/bin/hello": strings.Repeat("v2", 5000)})
	writeLayout(t, dir, map[string][][]byte{"v1": {base, appV1}, "v2": {base, appV2}, "v1b": {base, appV1}})

	v1, err := readOCI(dir, "v1")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := readOCI(dir, "v2")
	if err != nil {
		t.Fatal(err)
	}
	d, err := download(v1, v2)
	if err != nil {
		t.Fatal(err)
	}
	wantGz, _ := gzipSize(bytes.NewReader(appV2))
	if d.Layers != 1 || d.Bytes != int64(len(appV2)) || d.GzipBytes != wantGz {
		t.Fatalf("download v1→v2 = %+v, want 1 layer, %d bytes, %d gzip", d, len(appV2), wantGz)
	}
	if wantGz >= int64(len(appV2)) {
		t.Fatalf("gzip size %d not below raw %d for a repetitive layer", wantGz, len(appV2))
	}
	v1b, err := readOCI(dir, "v1b")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := download(v1, v1b); err != nil || d.Layers != 0 || d.Bytes != 0 || d.GzipBytes != 0 {
		t.Fatalf("download between identical images = %+v, %v; want nothing", d, err)
	}
	if v1.ID != v1b.ID || v1.ID == v2.ID {
		t.Fatalf("image IDs: v1 %s, v1b %s, v2 %s", v1.ID, v1b.ID, v2.ID)
	}
	if _, err := readOCI(dir, "v3"); err == nil {
		t.Fatal("a missing tag was accepted")
	}
}

func TestResultsMarkdownAndGoals(t *testing.T) {
	r := &Results{
		Started: "2026-01-01T00:00:00Z", Host: Host{CPUs: 2},
		Upgrade: &Upgrade{App: "hello", BinaryBytes: 6e6, BinaryGzip: 3e6, Layouts: []Layout{
			{Name: layoutOurs, Containerfile: "Containerfile", Download: Download{Layers: 1, Bytes: 6e6, GzipBytes: 3.03e6}, RatioGzip: 1.01},
			{Name: layoutNaive, Containerfile: "test/bench/Containerfile.naive", Download: Download{Layers: 1, Bytes: 12e6, GzipBytes: 6e6}, RatioGzip: 2},
		}},
		Rebuild: &Rebuild{First: "sha256:aaaa", Second: "sha256:aaaa", Identical: true},
		Serving: &Serving{SecondsPerRun: 1, Threads: 2, Runs: []Load{
			{Target: targetDirect, URL: "http://127.0.0.1:1/health", Connections: 64, RequestsSec: 1000, P99Ms: 3},
			{Target: targetNginx, URL: "http://127.0.0.1:2/health", Connections: 64, RequestsSec: 500, P99Ms: 12},
		}},
		Boot: &Boot{Boots: []BootTime{{Name: "v1", Seconds: 4.2}}},
	}
	r.fail("footprint", "no binaries")
	r.evaluateGoals()
	met := map[string]bool{}
	for _, g := range r.Goals {
		met[g.Name] = g.Met
	}
	want := map[string]bool{
		"upgrade download (gzip) ≤ 1.1× the changed binary (gzip)": true,
		"no-op rebuild: same image ID, 0 bytes to download":        true,
		"through nginx ≥ 0.6× direct (/health, 64 connections)":    false,
		"p99 through nginx < 10 ms (/health, 64 connections)":      false,
		"boot to verified < 10 s (v1)":                             true,
	}
	for name, w := range want {
		if got, ok := met[name]; !ok || got != w {
			t.Errorf("goal %q: met=%v present=%v, want met=%v (goals: %+v)", name, got, ok, w, r.Goals)
		}
	}
	dir := t.TempDir()
	md, err := r.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"| ours | `Containerfile` | 1 | 3.03 MB | 6.00 MB | 1.01× |", "| hello through nginx | `/health` | 64 | 500 |", "0.50×", "**footprint**: no binaries", "4.2"} {
		if !strings.Contains(md, s) {
			t.Errorf("Markdown lacks %q:\n%s", s, md)
		}
	}
	var back Results
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Upgrade.Layouts[1].Download.GzipBytes != 6e6 || len(back.Failures) != 1 {
		t.Fatalf("results.json round trip lost figures: %s", b)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func tarLayer(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeLayout writes an OCI layout with one image per tag; the v2 image
// stores its layers gzip-compressed, as a layout copied from a registry would.
func writeLayout(t *testing.T, dir string, images map[string][][]byte) {
	t.Helper()
	put := func(b []byte) string {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		p := blobPath(dir, d)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	var index struct {
		SchemaVersion int    `json:"schemaVersion"`
		Manifests     []desc `json:"manifests"`
	}
	index.SchemaVersion = 2
	for tag, layers := range images {
		var diffIDs []string
		var ls []desc
		for _, l := range layers {
			diffIDs = append(diffIDs, fmt.Sprintf("sha256:%x", sha256.Sum256(l)))
			blob, mt := l, "application/vnd.oci.image.layer.v1.tar"
			if tag == "v2" {
				var gz bytes.Buffer
				zw := gzip.NewWriter(&gz)
				_, _ = zw.Write(l)
				_ = zw.Close()
				blob, mt = gz.Bytes(), mt+"+gzip"
			}
			ls = append(ls, desc{MediaType: mt, Digest: put(blob), Size: int64(len(blob))})
		}
		cfg, _ := json.Marshal(map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
		man, _ := json.Marshal(map[string]any{
			"schemaVersion": 2,
			"config":        desc{MediaType: "application/vnd.oci.image.config.v1+json", Digest: put(cfg), Size: int64(len(cfg))},
			"layers":        ls,
		})
		index.Manifests = append(index.Manifests, desc{
			MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: put(man), Size: int64(len(man)),
			Annotations: map[string]string{"org.opencontainers.image.ref.name": tag},
		})
	}
	b, _ := json.Marshal(index)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestStepText(t *testing.T) {
	for in, want := range map[string]string{
		"/bin/sh -c #(nop) COPY file:c8e01523332729b523969cd72ea3b771954379b58ac5e4a1abbd343fa0345ed3 in /usr/bin/hello ": "COPY file in /usr/bin/hello",
		"|5 BASE_IMAGE=x VERSION=1.0.1 /bin/sh -c mkdir -p /usr/share/x     && jq -n":                                     "RUN mkdir -p /usr/share/x && jq -n",
		"/bin/sh -c rm -f a | b": "RUN rm -f a \\| b",
		"":                       "(unknown step)",
	} {
		if got := stepText(in); got != want {
			t.Errorf("stepText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMedianRun(t *testing.T) {
	runs := []Load{{RequestsSec: 30, P99Ms: 3}, {RequestsSec: 10, P99Ms: 1}, {RequestsSec: 20, P99Ms: 2}}
	if m := medianRun(runs); m.RequestsSec != 20 || m.P99Ms != 2 {
		t.Fatalf("medianRun = %+v, want the 20 req/s run whole", m)
	}
	if m := medianRun(runs[:1]); m.RequestsSec != 30 {
		t.Fatalf("medianRun of one = %+v", m)
	}
}

func TestParseReboot(t *testing.T) {
	rb, err := parseReboot([]byte(`{"soft_apply_seconds":1.5,"full_rollback_seconds":3,"soft_rollback_seconds":0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if rb.Ratio != 1.0/3 {
		t.Errorf("soft over full: got %v, want the soft mean (1.0) over the full (3.0)", rb.Ratio)
	}
	for _, bad := range []string{`{}`, `{"soft_apply_seconds":1,"full_rollback_seconds":0,"soft_rollback_seconds":1}`, `not json`} {
		if _, err := parseReboot([]byte(bad)); err == nil {
			t.Errorf("parseReboot(%s): want an error", bad)
		}
	}
}
