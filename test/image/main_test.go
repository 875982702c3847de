// Package image builds the real Containerfile with `make build` on the local
// stand-in base and checks the result: files, units, labels, /var, secrets,
// reproducibility, layer reuse, and that adding an app cannot miss a step.
package image

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"bootc-testboot/test/harness"
)

// The image most tests inspect: the repository as it is, built once.
var shared struct {
	sync.Mutex
	img   harness.Image
	built bool
	err   string
}

const sharedVersion = "image-suite"

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.built {
		_ = exec.Command("podman", "image", "rm", shared.img.Ref, harness.TestImageRepo+":latest").Run()
	}
	os.Exit(code)
}

// sharedImage builds the repository once for the whole package.
func sharedImage(t *testing.T) harness.Image {
	t.Helper()
	harness.RequireImageTools(t)
	shared.Lock()
	defer shared.Unlock()
	if shared.err != "" {
		t.Fatalf("the shared image failed to build earlier: %s", shared.err)
	}
	if !shared.built {
		img, err := harness.BuildImageErr(t, harness.BuildOptions{Version: sharedVersion, Keep: true})
		if err != nil {
			shared.err = err.Error()
			t.Fatal(err)
		}
		shared.img, shared.built = img, true
	}
	return shared.img
}

// apps lists the apps of a source tree: every apps/<name>/main.go.
func apps(t *testing.T, dir string) []string {
	t.Helper()
	mains, err := filepath.Glob(filepath.Join(dir, "apps", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mains {
		names = append(names, filepath.Base(filepath.Dir(m)))
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("no apps/*/main.go under %s", dir)
	}
	return names
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
