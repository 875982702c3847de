package harness

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// DockerRegistry is Debian's docker-registry (distribution) serving plain HTTP
// on a free loopback port, storing into a temp dir, stopped when the test ends.
type DockerRegistry struct {
	Addr string // 127.0.0.1:PORT
	log  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Log is what the registry printed so far.
func (r *DockerRegistry) Log() string { return r.log.String() }

// StartDockerRegistry starts the registry and waits until GET /v2/ answers.
// Its log is shown when the test failed.
func StartDockerRegistry(t testing.TB) *DockerRegistry {
	t.Helper()
	Require(t, "docker-registry")
	r := &DockerRegistry{Addr: FreeAddr(t), log: &syncBuffer{}}
	dir := t.TempDir()
	config := filepath.Join(dir, "config.yml")
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "storage"), r.Addr)
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-registry", "serve", config)
	cmd.Stdout, cmd.Stderr = r.log, r.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("registry log (last 40 lines):\n%s", Tail(r.Log(), 40))
		}
	})
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		select {
		case <-exited:
			t.Fatalf("docker-registry exited early:\n%s", r.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry on %s not ready: %v", r.Addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
