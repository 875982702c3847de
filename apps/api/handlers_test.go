package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"testing"

	"bootc-testboot/apps/internal/apptest"
)

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testHandler(src Sources) http.Handler {
	return newHandler(src, "app-1", slog.New(slog.DiscardHandler))
}

func TestHealth(t *testing.T) {
	rec := apptest.Do(testHandler(fixtures()), http.MethodGet, "/api/health")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if m := apptest.DecodeJSON(t, rec); !reflect.DeepEqual(m, map[string]any{"status": "ok"}) {
		t.Fatalf("body %v", m)
	}
}

func TestInfoDocumentShape(t *testing.T) {
	rec := apptest.Do(testHandler(fixtures()), http.MethodGet, "/api/info")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	m := apptest.DecodeJSON(t, rec)
	var top []string
	for k := range m {
		top = append(top, k)
	}
	sort.Strings(top)
	// The build-info keys sit at the top level: verify-instance.sh reads .version.
	want := []string{"app_version", "base_image", "boot_id", "bootc", "created", "errors", "kernel",
		"os", "revision", "source", "title", "uptime_seconds", "version"}
	if !reflect.DeepEqual(top, want) {
		t.Fatalf("keys %v, want %v", top, want)
	}
	if m["version"] != "1.4.0" || m["revision"] != "0123456789abcdef0123456789abcdef01234567" ||
		m["created"] != "2026-01-02T03:04:05Z" || m["base_image"] != "quay.io/fedora/fedora-bootc:42" {
		t.Fatalf("build-info fields %v", m)
	}
	osInfo := m["os"].(map[string]any)
	if osInfo["name"] != "Fedora Linux" || osInfo["version_id"] != "42" {
		t.Fatalf("os %v", osInfo)
	}
	if m["bootc"] != true || m["app_version"] != "app-1" || len(m["errors"].([]any)) != 0 {
		t.Fatalf("info %v", m)
	}
}

func TestInfoWithMissingFilesIsStill200(t *testing.T) {
	src := fixtures()
	src.BuildInfo = filepath.Join(t.TempDir(), "none.json")
	rec := apptest.Do(testHandler(src), http.MethodGet, "/api/info")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, want 200 with nulls", rec.Code)
	}
	m := apptest.DecodeJSON(t, rec)
	for _, k := range []string{"version", "revision", "created"} {
		if v, present := m[k]; !present || v != nil {
			t.Fatalf("%s must be present and null: %v", k, m)
		}
	}
	if len(m["errors"].([]any)) != 1 || m["os"].(map[string]any)["id"] != "fedora" {
		t.Fatalf("info %v", m)
	}
}

func TestHeadAndMethods(t *testing.T) {
	h := testHandler(fixtures())
	for _, path := range []string{"/api/health", "/api/info"} {
		get, head := apptest.Do(h, http.MethodGet, path), apptest.Do(h, http.MethodHead, path)
		if head.Code != http.StatusOK || head.Body.Len() != 0 {
			t.Errorf("HEAD %s: %d %q", path, head.Code, head.Body)
		}
		if cl := head.Header().Get("Content-Length"); cl != strconv.Itoa(get.Body.Len()) {
			t.Errorf("HEAD %s: Content-Length %s, GET body %d", path, cl, get.Body.Len())
		}
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			rec := apptest.Do(h, method, path)
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d Allow %q", method, path, rec.Code, rec.Header().Get("Allow"))
			}
			apptest.DecodeJSON(t, rec)
		}
	}
}

func TestUnknownPathIsJSON404(t *testing.T) {
	h := testHandler(fixtures())
	for _, path := range []string{"/", "/health", "/api", "/api/", "/api/info/x"} {
		rec := apptest.Do(h, http.MethodGet, path)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d", path, rec.Code)
		}
		if m := apptest.DecodeJSON(t, rec); m["error"] != "not found: "+path {
			t.Errorf("%s: body %v", path, m)
		}
	}
}
