package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"bootc-testboot/test/harness"
)

// appLoad says how to start an app on a free port and which endpoint its
// load hits: the one that does the app's real work.
type appLoad struct {
	args func(addr, scratch string) []string
	path string
}

// footprintApps are the apps whose memory the bench measures. An app in
// output/bin/ without an entry here still gets its binary size reported.
var footprintApps = map[string]appLoad{
	"hello": {
		args: func(addr, scratch string) []string { return []string{"-addr", addr, "-state-dir", scratch} },
		path: pathRoot,
	},
	"api": {
		// No build-info file outside an image: the app reports what it can,
		// which is the path a host without one takes too.
		args: func(addr, scratch string) []string {
			return []string{"-addr", addr, "-build-info", filepath.Join(scratch, "build-info.json")}
		},
		path: "/api/info",
	},
}

// appHealth is the endpoint polled until an app is ready.
var appHealth = map[string]string{"hello": "/health", "api": "/api/health"}

// measureFootprint starts one app, reads its RSS once idle and again after
// `requests` GETs on its main endpoint.
func measureFootprint(ctx context.Context, app, bin, logDir string, requests int) (AppSize, error) {
	a := AppSize{App: app, Requests: requests}
	st, err := os.Stat(bin)
	if err != nil {
		return a, err
	}
	a.BinaryBytes = st.Size()
	if a.BinaryGzip, err = gzipFileSize(bin); err != nil {
		return a, err
	}
	load, ok := footprintApps[app]
	if !ok {
		return a, nil
	}
	a.Path = load.path
	port, err := harness.FreePort()
	if err != nil {
		return a, err
	}
	scratch, err := os.MkdirTemp("/var/tmp", "bench-"+app+"-")
	if err != nil {
		return a, err
	}
	defer os.RemoveAll(scratch)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := startProcess(app, filepath.Join(logDir, app+"-footprint.log"), nil,
		append([]string{bin}, load.args(addr, scratch)...)...)
	if err != nil {
		return a, err
	}
	defer p.stop()
	base := "http://" + addr
	if err := waitHTTP(ctx, p, base+appHealth[app], 10*time.Second); err != nil {
		return a, err
	}
	// Let start-up allocations settle before calling the process idle.
	time.Sleep(time.Second)
	if a.RSSIdleKiB, err = vmRSS(p.pid()); err != nil {
		return a, err
	}
	if err := drive(ctx, base+load.path, requests, 8); err != nil {
		return a, fmt.Errorf("%s: %w", app, err)
	}
	if a.RSSAfterKiB, err = vmRSS(p.pid()); err != nil {
		return a, err
	}
	return a, nil
}
