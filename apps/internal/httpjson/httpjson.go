// Package httpjson writes the JSON responses every app shares: bodies with an
// exact Content-Length (so HEAD answers like GET), JSON errors, 404 and 405.
package httpjson

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Write sends v as JSON with status. For HEAD it sends the same headers,
// Content-Length included, and no body.
func Write(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		slog.Error("cannot encode response", "err", err)
		status = http.StatusInternalServerError
		body = []byte(`{"error":"internal error"}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// ErrorBody is the shape of every error response.
type ErrorBody struct {
	Error string `json:"error"`
}

// Error sends {"error": msg} with status.
func Error(w http.ResponseWriter, r *http.Request, status int, msg string) {
	Write(w, r, status, ErrorBody{Error: msg})
}

// NotFound is the JSON 404 handler for every path no route claims.
func NotFound(w http.ResponseWriter, r *http.Request) {
	Error(w, r, http.StatusNotFound, "not found: "+r.URL.Path)
}

// Only wraps h so that it serves only the given methods (GET implies HEAD);
// any other method gets 405 with an Allow header listing the allowed ones.
func Only(h http.HandlerFunc, methods ...string) http.HandlerFunc {
	allowed := slices.Clone(methods)
	if slices.Contains(allowed, http.MethodGet) && !slices.Contains(allowed, http.MethodHead) {
		allowed = append(allowed, http.MethodHead)
	}
	allow := strings.Join(allowed, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(allowed, r.Method) {
			w.Header().Set("Allow", allow)
			Error(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; allowed: "+allow)
			return
		}
		h(w, r)
	}
}
