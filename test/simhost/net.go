package simhost

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"path"
	"strings"
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
	rate     atomic.Int64 // bytes per second each connection may carry back; 0: no limit
	// corrupt: blob digests whose bodies a new connection serves with one
	// byte changed (the connection is then relayed request by request, as
	// HTTP/1.1); nil or empty: bytes pass unchanged.
	corrupt   atomic.Pointer[map[string]bool]
	corrupted atomic.Int64 // blob bodies served changed
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     map[net.Conn]bool
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
			if bad := f.corrupt.Load(); bad != nil && len(*bad) > 0 {
				f.relayHTTP(in, out, *bad)
				return
			}
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(out, in)
				closeWrite(out)
				close(done)
			}()
			f.copyBack(in, out)
			closeWrite(in)
			<-done
		}()
	}
}

// copyBack copies the dialled side's bytes to the accepting side, counted,
// at most rate bytes a second (a slow link: a download long enough to be
// interrupted on purpose).
func (f *forwarder) copyBack(in, out net.Conn) {
	buf := make([]byte, 16<<10)
	for {
		rate := f.rate.Load()
		chunk := buf
		if rate > 0 && int64(len(chunk)) > rate/10+1 {
			chunk = buf[:rate/10+1] // ten writes a second keep the flow even
		}
		n, err := out.Read(chunk)
		if n > 0 {
			w, werr := in.Write(chunk[:n])
			f.received.Add(int64(w))
			if werr != nil {
				return
			}
			if rate > 0 {
				time.Sleep(time.Duration(int64(n) * int64(time.Second) / rate))
			}
		}
		if err != nil {
			return
		}
	}
}

// relayHTTP carries one HTTP/1.1 connection request by request and changes
// one byte of every successful GET of a blob in bad: the registry serves
// content that does not match its digest, as a damaged disk or a faulty proxy
// would. The client must notice (containers/image verifies every blob
// against its digest while copying: "Digest did not match").
func (f *forwarder) relayHTTP(in, out net.Conn, bad map[string]bool) {
	fromClient, fromServer := bufio.NewReader(in), bufio.NewReader(out)
	for {
		req, err := http.ReadRequest(fromClient)
		if err != nil {
			return
		}
		if err := req.Write(out); err != nil {
			return
		}
		resp, err := http.ReadResponse(fromServer, req)
		if err != nil {
			return
		}
		if req.Method == http.MethodGet && resp.StatusCode == http.StatusOK &&
			strings.Contains(req.URL.Path, "/blobs/") && bad[path.Base(req.URL.Path)] {
			// The middle byte: inside the compressed data, past any header
			// a reader would check first.
			resp.Body = &flipByte{r: resp.Body, at: max(resp.ContentLength/2, 0)}
			f.corrupted.Add(1)
		}
		cw := &countingWriter{w: in}
		err = resp.Write(cw)
		resp.Body.Close()
		f.received.Add(cw.n)
		if err != nil || resp.Close {
			return
		}
	}
}

// flipByte passes a body through with the byte at offset at inverted: the
// length stays, the digest does not.
type flipByte struct {
	r        io.ReadCloser
	at, read int64
}

func (b *flipByte) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.at >= b.read && b.at < b.read+int64(n) {
		p[b.at-b.read] ^= 0xff
	}
	b.read += int64(n)
	return n, err
}

func (b *flipByte) Close() error { return b.r.Close() }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// cut ends every open connection at once, as a network that drops: both
// sides see their connection close. New connections are still accepted.
func (f *forwarder) cut() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		c.Close()
	}
	return len(f.conns) / 2
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
