package main

import (
	"log/slog"
	"net/http"

	"bootc-testboot/apps/internal/httpjson"
	"bootc-testboot/apps/internal/server"
)

// Greeting is the body of GET /, which anyone who reaches :80 may read. It
// names the app version and the visit count (what shows that /var survives
// upgrades and rollbacks) and nothing about the host: no hostname, which on
// EC2 is the private IP (ip-10-0-1-23), and no paths or kernel. Operators
// read those on the instance (hostnamectl, /api/info from the host itself).
type Greeting struct {
	Message string `json:"message"`
	Version string `json:"version"`
	Visits  uint64 `json:"visits"`
}

// newHandler routes hello's endpoints; every response is JSON.
//
//	GET  /        greeting with the visit count (counts one visit)
//	HEAD /        same headers, does not count a visit
//	GET  /health  {"status":"ok"}
func newHandler(counter *Counter, version string, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", httpjson.Only(func(w http.ResponseWriter, r *http.Request) {
		var visits uint64
		if r.Method == http.MethodGet {
			var err error
			if visits, err = counter.Increment(); err != nil {
				logger.Error("cannot record visit", "err", err)
				httpjson.Error(w, r, http.StatusInternalServerError, "cannot record visit")
				return
			}
		} else {
			visits = counter.Value() // HEAD: the headers GET would send, no visit
		}
		httpjson.Write(w, r, http.StatusOK, Greeting{
			Message: "Hello from bootc-testboot",
			Version: version,
			Visits:  visits,
		})
	}, http.MethodGet))
	mux.HandleFunc("/health", httpjson.Only(func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, r, http.StatusOK, map[string]string{"status": "ok"})
	}, http.MethodGet))
	mux.HandleFunc("/", httpjson.NotFound)
	return server.LogRequests(logger, mux)
}
