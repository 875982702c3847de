package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestLogRequestsLogsAndEchoesRequestID(t *testing.T) {
	var buf bytes.Buffer
	h := LogRequests(newLogger(&buf, "demo", "v1"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("short"))
	}))
	req := httptest.NewRequest(http.MethodPost, "/brew?x=1", nil)
	req.Header.Set(requestIDHeader, "nginx-abc123")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	if got := rec.Header().Get(requestIDHeader); got != "nginx-abc123" {
		t.Fatalf("response request ID %q, want the one nginx sent", got)
	}
	l := logLines(t, &buf)[0]
	want := map[string]any{"msg": "request", "request_id": "nginx-abc123", "method": "POST",
		"path": "/brew", "status": float64(418), "bytes": float64(5)}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("log %s = %v, want %v", k, l[k], v)
		}
	}
	if _, ok := l["duration_ms"].(float64); !ok {
		t.Errorf("log lacks duration_ms: %v", l)
	}
}

func TestLogRequestsReplacesMissingOrUnsafeRequestID(t *testing.T) {
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, sent := range []string{"", "has space", "new\nline", strings.Repeat("x", 200)} {
		var buf bytes.Buffer
		h := LogRequests(newLogger(&buf, "demo", "v1"), http.NotFoundHandler())
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if sent != "" {
			req.Header[requestIDHeader] = []string{sent}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get(requestIDHeader)
		if !hexID.MatchString(got) {
			t.Errorf("sent %q: request ID %q, want a fresh 32-hex ID", sent, got)
		}
		if l := logLines(t, &buf)[0]; l["request_id"] != got || l["status"] != float64(404) {
			t.Errorf("sent %q: log %v", sent, l)
		}
	}
}

func TestLogRequestsTurnsPanicInto500(t *testing.T) {
	var buf bytes.Buffer
	h := LogRequests(newLogger(&buf, "demo", "v1"), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] == "" {
		t.Fatalf("body %q is not a JSON error", rec.Body)
	}
	lines := logLines(t, &buf)
	if len(lines) != 2 || lines[0]["msg"] != "handler panic" || lines[0]["panic"] != "boom" || lines[1]["status"] != float64(500) {
		t.Fatalf("log lines %v", lines)
	}
}
