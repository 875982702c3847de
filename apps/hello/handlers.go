package main

import (
	"log/slog"
	"net/http"
	"os"

	"bootc-testboot/apps/internal/httpjson"
	"bootc-testboot/apps/internal/server"
)

// Greeting is the body of GET /.
type Greeting struct {
	Message  string `json:"message"`
	Hostname string `json:"hostname"`
	Version  string `json:"version"`
	Visits   uint64 `json:"visits"`
}

// newHandler routes hello's endpoints; every response is JSON.
//
//	GET  /        greeting with the visit count (counts one visit)
//	HEAD /        same headers, does not count a visit
//	GET  /health  {"status":"ok"}
func newHandler(counter *Counter, version string, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", httpjson.Only(func(w http.ResponseWriter, r *http.Request) {
		visits := counter.Value()
		if r.Method == http.MethodGet {
			var err error
			if visits, err = counter.Increment(); err != nil {
				logger.Error("cannot record visit", "err", err)
				httpjson.Error(w, r, http.StatusInternalServerError, "cannot record visit")
				return
			}
		}
		host, err := os.Hostname()
		if err != nil {
			host = "unknown"
		}
		httpjson.Write(w, r, http.StatusOK, Greeting{
			Message:  "Hello from bootc-testboot",
			Hostname: host,
			Version:  version,
			Visits:   visits,
		})
	}, http.MethodGet))
	mux.HandleFunc("/health", httpjson.Only(func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, r, http.StatusOK, map[string]string{"status": "ok"})
	}, http.MethodGet))
	mux.HandleFunc("/", httpjson.NotFound)
	return server.LogRequests(logger, mux)
}
