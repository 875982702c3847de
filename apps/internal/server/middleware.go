package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"bootc-testboot/apps/internal/httpjson"
)

// requestIDHeader carries a request's ID: nginx sets it (proxy_set_header
// X-Request-ID) so one ID follows a request through both logs. LogRequests
// echoes it for direct callers of the app; on :80 nginx drops that echo
// (proxy_hide_header) and adds its own, so a client gets the header once.
const requestIDHeader = "X-Request-ID"

// maxRequestIDLen bounds an ID taken from a client before it reaches the logs.
const maxRequestIDLen = 128

// LogRequests logs one JSON line per request (method, path, status, bytes,
// duration, request_id), echoes the request ID in the response, and turns a
// handler panic into a logged 500 instead of a dropped connection.
func LogRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(requestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(requestIDHeader, id)
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger.Error("handler panic", "request_id", id, "panic", p)
				if !rec.wroteHeader {
					httpjson.Error(rec, r, http.StatusInternalServerError, "internal error")
				}
			}
			level := slog.LevelInfo
			if r.Header.Get(watchdogProbeHeader) == probeToken {
				level = slog.LevelDebug // every few seconds: noise at info level
			}
			logger.Log(r.Context(), level, "request",
				"request_id", id,
				"method", r.Method,
				"path", r.URL.Path,
				"status", rec.statusCode(),
				"bytes", rec.bytes,
				"duration_ms", float64(time.Since(start).Microseconds())/1000,
				"remote", r.RemoteAddr,
			)
		}()
		next.ServeHTTP(rec, r)
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	bytes       int64
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) statusCode() int {
	if !r.wroteHeader {
		return http.StatusOK
	}
	return r.status
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
