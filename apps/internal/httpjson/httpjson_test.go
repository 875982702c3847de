package httpjson

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

func TestWriteGetAndHeadSendSameHeaders(t *testing.T) {
	body := map[string]any{"a": 1, "b": "two"}
	get := httptest.NewRecorder()
	Write(get, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusCreated, body)
	head := httptest.NewRecorder()
	Write(head, httptest.NewRequest(http.MethodHead, "/", nil), http.StatusCreated, body)

	if get.Code != http.StatusCreated || head.Code != http.StatusCreated {
		t.Fatalf("status GET %d HEAD %d, want 201", get.Code, head.Code)
	}
	if ct := get.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var got map[string]any
	if err := json.Unmarshal(get.Body.Bytes(), &got); err != nil || got["b"] != "two" {
		t.Fatalf("GET body %q: %v", get.Body, err)
	}
	if cl := get.Header().Get("Content-Length"); cl != strconv.Itoa(get.Body.Len()) {
		t.Errorf("Content-Length %s, body is %d bytes", cl, get.Body.Len())
	}
	if head.Body.Len() != 0 {
		t.Errorf("HEAD sent a body: %q", head.Body)
	}
	for _, h := range []string{"Content-Type", "Content-Length", "Cache-Control"} {
		if get.Header().Get(h) != head.Header().Get(h) {
			t.Errorf("%s differs: GET %q HEAD %q", h, get.Header().Get(h), head.Header().Get(h))
		}
	}
}

func TestWriteUnencodableValueIs500(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusOK, map[string]any{"f": func() {}})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	assertError(t, rec)
}

func assertError(t *testing.T, rec *httptest.ResponseRecorder) ErrorBody {
	t.Helper()
	var e ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("body %q is not a JSON error: %v", rec.Body, err)
	}
	return e
}

func TestOnlyAllowsListedMethods(t *testing.T) {
	called := 0
	h := func(w http.ResponseWriter, r *http.Request) { called++; w.WriteHeader(http.StatusNoContent) }
	tests := []struct {
		methods   []string
		method    string
		wantCode  int
		wantAllow string
	}{
		{[]string{http.MethodGet}, http.MethodGet, http.StatusNoContent, ""},
		{[]string{http.MethodGet}, http.MethodHead, http.StatusNoContent, ""},
		{[]string{http.MethodGet}, http.MethodPost, http.StatusMethodNotAllowed, "GET, HEAD"},
		{[]string{http.MethodGet}, "BREW", http.StatusMethodNotAllowed, "GET, HEAD"},
		{[]string{http.MethodPost}, http.MethodHead, http.StatusMethodNotAllowed, "POST"},
	}
	for _, tt := range tests {
		called = 0
		rec := httptest.NewRecorder()
		Only(h, tt.methods...)(rec, httptest.NewRequest(tt.method, "/x", nil))
		if rec.Code != tt.wantCode {
			t.Errorf("%v %s: status %d, want %d", tt.methods, tt.method, rec.Code, tt.wantCode)
		}
		if got := rec.Header().Get("Allow"); got != tt.wantAllow {
			t.Errorf("%v %s: Allow %q, want %q", tt.methods, tt.method, got, tt.wantAllow)
		}
		if tt.wantCode == http.StatusMethodNotAllowed {
			if called != 0 {
				t.Errorf("%v %s: handler ran for a refused method", tt.methods, tt.method)
			}
			if tt.method != http.MethodHead {
				assertError(t, rec)
			}
		}
	}
}

func TestNotFound(t *testing.T) {
	rec := httptest.NewRecorder()
	NotFound(rec, httptest.NewRequest(http.MethodGet, "/missing", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("status %d, want 404", rec.Code)
	}
	if e := assertError(t, rec); e.Error != "not found: /missing" {
		t.Errorf("error %q", e.Error)
	}
}
