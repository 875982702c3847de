package simhost

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The guest runs with --private-network: its nginx (:80), apps and sshd (:22)
// listen on the guest's own loopback and meet nothing on the test machine.
// Two bridges cross the boundary, each a Unix socket in a directory
// bind-mounted into the guest:
//
//   - SSH in: the test listens on 127.0.0.1:<free port> and joins each
//     connection to the guest's ssh.sock, where a socket unit in the guest
//     hands it to systemd-socket-proxyd, connected to the guest's sshd on
//     127.0.0.1:22. Users reach it as `ssh -p PORT ops@127.0.0.1`.
//   - registry out: a socket unit in the guest listens on 127.0.0.1:<the
//     registry's port> and proxies to registry.sock, where the test joins it
//     to the registry on the test machine's 127.0.0.1. The image reference is
//     the same string on both sides.
//
// Nothing listens anywhere but on loopback and in the test's directories.

// forwarder accepts on one listener and joins each connection to a new one
// from dial. It counts the bytes that flow back (from the dialled side).
type forwarder struct {
	ln       net.Listener
	dial     func() (net.Conn, error)
	down     atomic.Bool  // refuse: accept and close at once, as an unreachable peer
	received atomic.Int64 // bytes from the dialled side to the accepting side
	delay    atomic.Int64 // nanoseconds each new connection waits before it is joined
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]bool
}

func newForwarder(t testing.TB, ln net.Listener, dial func() (net.Conn, error)) *forwarder {
	f := &forwarder{ln: ln, dial: dial, conns: map[net.Conn]bool{}}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *forwarder) track(c net.Conn, add bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		f.conns[c] = true
	} else {
		delete(f.conns, c)
	}
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		if f.down.Load() {
			in.Close()
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer in.Close()
			time.Sleep(time.Duration(f.delay.Load()))
			out, err := f.dial()
			if err != nil {
				return // the other side is not there (a guest rebooting): the client sees the connection close
			}
			defer out.Close()
			f.track(in, true)
			f.track(out, true)
			defer f.track(in, false)
			defer f.track(out, false)
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(out, in)
				closeWrite(out)
				close(done)
			}()
			n, _ := io.Copy(in, out)
			f.received.Add(n)
			closeWrite(in)
			<-done
		}()
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		_ = c.Close()
	}
}

// close stops accepting, ends every open connection and waits for the copies.
func (f *forwarder) close() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
