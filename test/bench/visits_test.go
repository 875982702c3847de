package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFlushCounterCountsEveryFlush drives the inotify counter with flushes
// as the two designs make them, back to back and unread, which inotify would
// merge if they looked alike: a fresh temp file renamed over the counter (the
// per-visit baseline, hello's first flush) and a spare exchanged with it
// (hello's later flushes). Other files and moves are not flushes.
func TestFlushCounterCountsEveryFlush(t *testing.T) {
	dir := t.TempDir()
	fc, err := watchFlushes(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 7; i++ {
		f, err := os.CreateTemp(dir, visitsTmpPrefix+"*")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.WriteString(fmt.Sprintf("%d\n", i+1))
		f.Close()
		if err := os.Rename(f.Name(), filepath.Join(dir, visitsFile)); err != nil {
			t.Fatal(err)
		}
	}
	spare := filepath.Join(dir, visitsTmpPrefix+"spare")
	for i := 7; i < 12; i++ {
		if err := os.WriteFile(spare, []byte(fmt.Sprintf("%d\n", i+1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := unix.Renameat2(unix.AT_FDCWD, spare, unix.AT_FDCWD, filepath.Join(dir, visitsFile), unix.RENAME_EXCHANGE); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "other"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "other"), filepath.Join(dir, "other2")); err != nil {
		t.Fatal(err)
	}
	got, err := fc.stop()
	if err != nil || got != 12 {
		t.Fatalf("flushes = %d, %v; want 12", got, err)
	}
	if n, err := storedVisits(dir); err != nil || n != 12 {
		t.Fatalf("storedVisits = %d, %v; want 12", n, err)
	}
}

func TestStoredVisits(t *testing.T) {
	dir := t.TempDir()
	if n, err := storedVisits(dir); err != nil || n != 0 {
		t.Fatalf("no file: %d, %v; want 0", n, err)
	}
	if err := os.WriteFile(filepath.Join(dir, visitsFile), []byte("12"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := storedVisits(dir); err != nil || n != 12 {
		t.Fatalf("%d, %v; want 12", n, err)
	}
	if err := os.WriteFile(filepath.Join(dir, visitsFile), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := storedVisits(dir); err == nil {
		t.Fatal("a garbage count was accepted")
	}
}

func TestServingCellsCoverEveryVisitDesign(t *testing.T) {
	cells := servingCells([]int{1, 16, 64})
	for _, c := range []int{1, 16, 64} {
		for _, want := range []servingCell{{targetDirect, pathRoot, c}, {targetPerVisit, pathRoot, c}, {targetDirect, pathHealth, c}} {
			if !slices.Contains(cells, want) {
				t.Errorf("no cell %+v", want)
			}
		}
	}
	if !slices.Contains(cells, servingCell{targetNginx, pathRoot, 64}) {
		t.Error("no cell for / through nginx at the top level")
	}
}

func TestVisitGoalsAndTable(t *testing.T) {
	visits := func(perSec, perFlush float64) *VisitStats {
		return &VisitStats{Visits: 100, Flushes: 10, FlushesPerSec: perSec, VisitsPerFlush: perFlush}
	}
	s := &Serving{Runs: []Load{
		{Target: targetDirect, URL: "http://127.0.0.1:1/health", Connections: 64, RequestsSec: 20000, P99Ms: 2},
		{Target: targetDirect, URL: "http://127.0.0.1:1/", Connections: 64, RequestsSec: 12000, P99Ms: 6, Visits: visits(800, 15)},
		{Target: targetPerVisit, URL: "http://127.0.0.1:2/", Connections: 64, RequestsSec: 800, P99Ms: 85, Visits: visits(800, 1)},
	}}
	goals := s.visitGoals()
	if len(goals) != 2 {
		t.Fatalf("goals %+v, want rate and p99", goals)
	}
	if !goals[0].Met || goals[0].Measured != "0.60× (per-visit baseline: 0.04×)" {
		t.Errorf("rate goal %+v, want met at 0.60×", goals[0])
	}
	if !goals[1].Met || !strings.Contains(goals[1].Measured, "85.00 ms") {
		t.Errorf("p99 goal %+v", goals[1])
	}
	s.Runs[1].P99Ms, s.Runs[1].RequestsSec = 12, 5000
	if g := s.visitGoals(); g[0].Met || g[1].Met {
		t.Errorf("goals met at 0.25× and 12 ms: %+v", g)
	}
	var b strings.Builder
	s.visitsMarkdown(func(f string, a ...any) { b.WriteString(fmt.Sprintf(f, a...)) })
	for _, want := range []string{"| hello per-visit (baseline) | 64 | 800 |", "| 800 | 1.0 |", "| 800 | 15.0 |", "0.04×"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

func TestDownloadStoredCountsOnlyNewLayersInTheirCompression(t *testing.T) {
	v1 := ociImage{Layers: []ociLayer{{DiffID: "a"}, {DiffID: "b"}}}
	v2 := ociImage{Layers: []ociLayer{
		{DiffID: "a", MediaType: "application/vnd.oci.image.layer.v1.tar+zstd", Size: 100},
		{DiffID: "c", MediaType: "application/vnd.oci.image.layer.v1.tar+zstd", Size: 7},
		{DiffID: "c", MediaType: "application/vnd.oci.image.layer.v1.tar+zstd", Size: 7},
	}}
	if n, size, err := downloadStored(v1, v2, "zstd"); err != nil || n != 1 || size != 7 {
		t.Fatalf("downloadStored = %d, %d, %v; want 1 layer, 7 bytes", n, size, err)
	}
	v2.Layers[0].MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
	if _, _, err := downloadStored(v1, v2, "zstd"); err == nil {
		t.Fatal("a gzip layer passed for zstd")
	}
}

func TestZstdRecommendationFollowsTheSaving(t *testing.T) {
	if r := zstdRecommendation(0.98); !strings.Contains(r, "Keep gzip: zstd saves 2%") {
		t.Errorf("2%% saving: %s", r)
	}
	if r := zstdRecommendation(0.7); !strings.Contains(r, "zstd saves 30%") || strings.Contains(r, "Keep gzip") {
		t.Errorf("30%% saving: %s", r)
	}
}
