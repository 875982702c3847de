package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"bootc-testboot/test/harness"
)

// Sections, in the order they run. BENCH_ONLY=a,b runs a subset.
var sectionNames = []string{"footprint", "serving", "upgrade", "rebuild", "boot", "reboot"}

// sizes are the knobs BENCH_QUICK turns down to a smoke run.
type sizes struct {
	quick       bool
	connections []int
	seconds     int // per wrk run
	rounds      int // runs per cell; the median one is reported
	requests    int
}

func benchSizes() sizes {
	if os.Getenv("BENCH_QUICK") == "1" {
		return sizes{quick: true, connections: []int{64}, seconds: 1, rounds: 1, requests: 1000}
	}
	return sizes{connections: []int{1, 16, 64}, seconds: 3, rounds: 3, requests: 10000}
}

func selectedSections(spec string) ([]string, error) {
	if strings.TrimSpace(spec) == "" {
		return sectionNames, nil
	}
	var out []string
	for _, s := range strings.Split(spec, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(sectionNames, s) {
			return nil, fmt.Errorf("BENCH_ONLY: unknown section %q (sections: %s)", s, strings.Join(sectionNames, ","))
		}
		out = append(out, s)
	}
	return out, nil
}

// appBinaries lists output/bin/<app> for every app under apps/ (what `make apps` builds).
func appBinaries() ([]string, error) {
	mains, err := filepath.Glob(harness.Path("apps", "*", "main.go"))
	if err != nil {
		return nil, err
	}
	var bins []string
	for _, m := range mains {
		bin := harness.Path("output", "bin", filepath.Base(filepath.Dir(m)))
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("%s is missing: run `make apps` first (test/bench/run.sh does)", bin)
		}
		bins = append(bins, bin)
	}
	if len(bins) == 0 {
		return nil, fmt.Errorf("no app under apps/*/main.go")
	}
	return bins, nil
}

func hostInfo() Host {
	h := Host{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	// wrk -v exits 1 after printing "wrk debian/4.1.0-3+b2 [epoll] ...".
	out, _ := exec.Command("wrk", "-v").CombinedOutput()
	if f := strings.Fields(string(out)); len(f) >= 2 && f[0] == "wrk" {
		h.Wrk = "wrk " + f[1]
	}
	if out, err := exec.Command("nginx", "-v").CombinedOutput(); err == nil {
		h.Nginx = strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: ")
	}
	return h
}
