package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sort"
	"strconv"
	"testing"

	"bootc-testboot/apps/internal/apptest"
)

func newTestHandler(t *testing.T) (http.Handler, *Counter, string) {
	t.Helper()
	dir := t.TempDir()
	c := openCounter(t, dir)
	return newHandler(c, "test-version", quietLogger()), c, dir
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func TestRootGreetsAndCountsVisits(t *testing.T) {
	h, c, _ := newTestHandler(t)
	for want := 1.0; want <= 2; want++ {
		rec := apptest.Do(h, http.MethodGet, "/")
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
		m := apptest.DecodeJSON(t, rec)
		// Nothing about the host: the greeting is public on :80.
		if got := keys(m); !reflect.DeepEqual(got, []string{"message", "version", "visits"}) {
			t.Fatalf("keys %v", got)
		}
		if m["visits"] != want || m["version"] != "test-version" || m["message"] == "" {
			t.Fatalf("body %v, want visits %v", m, want)
		}
	}
	if c.Value() != 2 {
		t.Fatalf("counter %d, want 2", c.Value())
	}
}

func TestHeadMatchesGetWithoutCounting(t *testing.T) {
	h, c, _ := newTestHandler(t)
	get := apptest.Do(h, http.MethodGet, "/")
	head := apptest.Do(h, http.MethodHead, "/")
	if head.Code != http.StatusOK || head.Body.Len() != 0 {
		t.Fatalf("HEAD: status %d body %q", head.Code, head.Body)
	}
	if cl := head.Header().Get("Content-Length"); cl != strconv.Itoa(get.Body.Len()) {
		t.Fatalf("HEAD Content-Length %s, GET body %d bytes", cl, get.Body.Len())
	}
	if c.Value() != 1 {
		t.Fatalf("HEAD counted a visit: %d", c.Value())
	}
	hh := apptest.Do(h, http.MethodHead, "/health")
	if hh.Code != http.StatusOK || hh.Body.Len() != 0 || hh.Header().Get("Content-Length") == "" {
		t.Fatalf("HEAD /health: %d %q %v", hh.Code, hh.Body, hh.Header())
	}
}

func TestHealth(t *testing.T) {
	h, c, _ := newTestHandler(t)
	rec := apptest.Do(h, http.MethodGet, "/health")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if m := apptest.DecodeJSON(t, rec); !reflect.DeepEqual(m, map[string]any{"status": "ok"}) {
		t.Fatalf("body %v", m)
	}
	if c.Value() != 0 {
		t.Fatal("/health counted a visit")
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h, c, _ := newTestHandler(t)
	for _, path := range []string{"/", "/health"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
			rec := apptest.Do(h, method, path)
			if rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: status %d, want 405", method, path, rec.Code)
			}
			if allow := rec.Header().Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", method, path, allow)
			}
			if m := apptest.DecodeJSON(t, rec); m["error"] == nil {
				t.Errorf("%s %s: body %v", method, path, m)
			}
		}
	}
	if c.Value() != 0 {
		t.Fatal("a refused method counted a visit")
	}
}

func TestUnknownPathIsJSON404(t *testing.T) {
	h, _, _ := newTestHandler(t)
	for _, path := range []string{"/nope", "/health/", "/index.html", "/api/info"} {
		rec := apptest.Do(h, http.MethodGet, path)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, rec.Code)
		}
		if m := apptest.DecodeJSON(t, rec); m["error"] != "not found: "+path {
			t.Errorf("%s: body %v", path, m)
		}
	}
}

func TestCounterFailureIs500(t *testing.T) {
	h, c, dir := newTestHandler(t)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	rec := apptest.Do(h, http.MethodGet, "/")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if m := apptest.DecodeJSON(t, rec); m["error"] != "cannot record visit" {
		t.Fatalf("body %v", m)
	}
	if c.Value() != 0 {
		t.Fatal("unrecorded visit counted")
	}
}

func TestResponsesCarryRequestID(t *testing.T) {
	h, _, _ := newTestHandler(t)
	req := httptest.NewRequest(http.MethodGet, "/health", nil)
	req.Header.Set("X-Request-ID", "from-nginx-1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-ID"); got != "from-nginx-1" {
		t.Fatalf("X-Request-ID %q", got)
	}
}
