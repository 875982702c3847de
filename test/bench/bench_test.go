package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

// TestBench measures everything `make bench` reports and writes
// results.json and results.md to $BENCH_OUT (default output/bench). Goals
// are reported, never failed on; the test fails only when a section cannot
// produce its figures.
func TestBench(t *testing.T) {
	if os.Getenv("BENCH") != "1" {
		t.Skip("the benchmarks run through test/bench/run.sh (make bench), which sets BENCH=1")
	}
	sz := benchSizes()
	only, err := selectedSections(os.Getenv("BENCH_ONLY"))
	if err != nil {
		t.Fatal(err)
	}
	outDir := os.Getenv("BENCH_OUT")
	if outDir == "" {
		outDir = harness.Path("output", "bench")
	}
	res := &Results{
		Started:  time.Now().UTC().Format(time.RFC3339),
		Quick:    sz.quick,
		Host:     hostInfo(),
		Sections: only,
	}
	work := t.TempDir()
	ctx := context.Background()
	var builds *buildSet

	section := func(name string, fn func(t *testing.T) error) {
		if !slices.Contains(only, name) {
			return
		}
		var err error
		skipped := false
		ok := t.Run(name, func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			err = fn(t)
			if err != nil {
				t.Fatal(err)
			}
		})
		switch {
		case err != nil:
			res.fail(name, err.Error())
		case skipped:
			res.fail(name, "skipped (see the log above): a benchmark that cannot run is a failure")
		case !ok:
			res.fail(name, "failed (see the log above)")
		}
	}

	section("footprint", func(t *testing.T) error {
		bins, err := appBinaries()
		if err != nil {
			return err
		}
		for _, bin := range bins {
			a, err := measureFootprint(ctx, filepath.Base(bin), bin, work, sz.requests)
			if err != nil {
				return err
			}
			res.Apps = append(res.Apps, a)
		}
		return nil
	})

	section("serving", func(t *testing.T) error {
		s, err := measureServing(ctx, t.Logf, work, sz)
		if s != nil {
			res.Serving = s
		}
		return err
	})

	// Both build sections share one set of builds. A full run builds every
	// image from scratch, as CI would; a quick run reuses podman's layer
	// cache. The no-op rebuild is always uncached.
	buildSetFor := func(t *testing.T) (*buildSet, error) {
		harness.RequireImageTools(t)
		if _, err := exec.LookPath("skopeo"); err != nil {
			return nil, fmt.Errorf("skopeo is not installed (apt-get install skopeo)")
		}
		if builds == nil {
			builds = newBuildSet(!sz.quick)
		}
		return builds, nil
	}

	section("upgrade", func(t *testing.T) error {
		b, err := buildSetFor(t)
		if err != nil {
			return err
		}
		u, err := measureUpgrade(ctx, t, b, filepath.Join(work, "oci"))
		if u != nil {
			res.Upgrade = u
			for _, l := range u.Layouts {
				t.Logf("%-5s %d new layers, %s gzip, %s uncompressed, %.2f× the %s binary (gzip)", l.Name,
					l.Download.Layers, bytesText(l.Download.GzipBytes), bytesText(l.Download.Bytes), l.RatioGzip, u.App)
			}
		}
		return err
	})

	section("rebuild", func(t *testing.T) error {
		b, err := buildSetFor(t)
		if err != nil {
			return err
		}
		rb, err := measureRebuild(ctx, t, b, filepath.Join(work, "oci"))
		if rb != nil {
			res.Rebuild = rb
			t.Logf("first %s, rebuild %s, identical %v, download %d layers", rb.First, rb.Second, rb.Identical, rb.Download.Layers)
		}
		return err
	})

	section("boot", func(t *testing.T) error {
		b, err := buildSetFor(t)
		if err != nil {
			return err
		}
		bt, err := measureBoot(t, b, sz.quick)
		if bt != nil {
			res.Boot = bt
		}
		return err
	})

	section("reboot", func(t *testing.T) error {
		rb, err := measureReboot(ctx, t, work)
		if rb != nil {
			res.Reboot = rb
		}
		return err
	})

	res.evaluateGoals()
	if _, err := res.Write(outDir); err != nil {
		t.Fatalf("write results: %v", err)
	}
	t.Logf("results: %s and %s", filepath.Join(outDir, "results.md"), filepath.Join(outDir, "results.json"))
	for _, f := range res.Failures {
		t.Errorf("section %s produced no figures (its error is above)", f.Section)
	}
}
