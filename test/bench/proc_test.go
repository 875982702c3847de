package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bootc-testboot/test/harness"
)

func TestDriveSendsExactlyN(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) }))
	defer srv.Close()
	if err := drive(context.Background(), srv.URL, 1234, 8); err != nil {
		t.Fatal(err)
	}
	if got.Load() != 1234 {
		t.Fatalf("server saw %d requests, want 1234", got.Load())
	}
}

func TestDriveFailsOnErrorStatus(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got.Add(1) == 10 {
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	err := drive(context.Background(), srv.URL, 1000, 4)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("drive = %v, want an error naming the 500", err)
	}
}

func TestWaitHTTPReportsAnExitedServer(t *testing.T) {
	p, err := startProcess("broken", filepath.Join(t.TempDir(), "log"), nil, "sh", "-c", "echo 'cannot bind' >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	err = waitHTTP(context.Background(), p, "http://127.0.0.1:"+itoa(port)+"/", 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "cannot bind") {
		t.Fatalf("waitHTTP = %v, want an error saying it exited, with its log", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
