package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// FuzzHandler feeds raw HTTP requests to hello's handler. Whatever arrives,
// the answer is one of the documented statuses with a JSON body whose
// Content-Length is exact, and a 405 always names the allowed methods. The
// seeds below run in every plain `go test`.
func FuzzHandler(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: abc\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET //health HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n",
		"GET /?" + strings.Repeat("a=1&", 50) + " HTTP/1.0\r\n\r\n",
	} {
		f.Add(seed)
	}
	dir := f.TempDir()
	c, err := OpenCounter(dir, quietLogger())
	if err != nil {
		f.Fatal(err)
	}
	h := newHandler(c, "fuzz", quietLogger())
	f.Fuzz(func(t *testing.T, raw string) {
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Skip("not a parsable request")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusNotFound, http.StatusMethodNotAllowed,
			http.StatusMovedPermanently, http.StatusBadRequest, http.StatusTemporaryRedirect:
		default:
			t.Fatalf("%q: unexpected status %d", raw, rec.Code)
		}
		if rec.Code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Fatalf("%q: 405 without Allow", raw)
		}
		if rec.Header().Get("X-Request-ID") == "" {
			t.Fatalf("%q: no request ID", raw)
		}
		if rec.Header().Get("Content-Type") != "application/json" {
			return // the mux's own redirects and 400s are plain text
		}
		cl, err := strconv.Atoi(rec.Header().Get("Content-Length"))
		if err != nil {
			t.Fatalf("%q: JSON response without Content-Length", raw)
		}
		if req.Method == http.MethodHead {
			if rec.Body.Len() != 0 {
				t.Fatalf("%q: HEAD answered with a body", raw)
			}
			return
		}
		if cl != rec.Body.Len() || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%q: body %q (Content-Length %d) is not exact JSON", raw, rec.Body, cl)
		}
	})
}
