package main

import (
	"log/slog"
	"net/http"

	"bootc-testboot/apps/internal/httpjson"
	"bootc-testboot/apps/internal/server"
)

// newHandler routes the api's endpoints; every response is JSON.
//
//	GET /api/health  {"status":"ok"}
//	GET /api/info    Info (always 200; unreadable values are null + errors)
func newHandler(src Sources, version string, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/health", httpjson.Only(func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, r, http.StatusOK, map[string]string{"status": "ok"})
	}, http.MethodGet))
	mux.HandleFunc("/api/info", httpjson.Only(func(w http.ResponseWriter, r *http.Request) {
		info := ReadInfo(src, version)
		if len(info.Errors) > 0 {
			logger.Warn("info incomplete", "errors", info.Errors)
		}
		httpjson.Write(w, r, http.StatusOK, info)
	}, http.MethodGet))
	mux.HandleFunc("/", httpjson.NotFound)
	return server.LogRequests(logger, mux)
}
