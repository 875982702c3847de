package harness

import (
	"fmt"
	"net"
	"testing"
)

// FreePort returns a loopback TCP port that was free a moment ago, for a
// server a test or benchmark starts itself (nginx, a registry, an app).
// Another process could take it before the server binds it; on loopback that
// is unlikely, and the server start then fails loudly.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is FreePort as "127.0.0.1:PORT", failing the test when none is free.
func FreeAddr(t testing.TB) string {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}
