package fdconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pair connects a Sender carrying file to a server-side *Conn through a socket in a
// fresh directory.
func pair(t *testing.T, file *os.File) (*Sender, *Conn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "fdconn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := Listen(filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c, err := net.DialUnix("unix", nil, l.Addr().(*net.UnixAddr))
	if err != nil {
		t.Fatal(err)
	}
	s := NewSender(c, file)
	t.Cleanup(func() { s.Close() })
	sc, ok := (<-accepted).(*Conn)
	if !ok {
		t.Fatal("Accept did not return a *Conn")
	}
	t.Cleanup(func() { sc.Close() })
	return s, sc
}

// readN reads the first n bytes the server side got.
func readN(t *testing.T, c *Conn, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

// expectEOF waits (bounded) for r to report EOF: every copy of the pipe's write end
// is closed.
func expectEOF(t *testing.T, r *os.File, what string) {
	t.Helper()
	_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 1)
	for {
		_, err := r.Read(b)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: the pipe's write end is still open somewhere: %v", what, err)
		}
	}
}

// TestFileArrivesWithBytes: the bytes arrive as written, the file with them, and what
// the server writes into the file reaches the client's side of it.
func TestFileArrivesWithBytes(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, c := pair(t, w)
	if _, err := s.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, c, 20); string(got) != "GET / HTTP/1.1\r\nmore" {
		t.Fatalf("server read %q", got)
	}
	w.Close() // the server's copy is now the only write end
	f := c.take()
	if f == nil {
		t.Fatal("no file arrived with the bytes")
	}
	if c.take() != nil {
		t.Fatal("take handed the same file out twice")
	}
	if _, err := f.Write([]byte("written by the server")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "written by the server" {
		t.Fatalf("client read %q, %v", got, err)
	}
}

// TestOnlyOneFilePerConn: a second file on the same conn is closed on arrival, and a
// file no handler took is closed with the conn: a client cannot make the server hold
// descriptors.
func TestOnlyOneFilePerConn(t *testing.T) {
	r1, w1, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	s, c := pair(t, w1)
	if _, err := s.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	// A second file, sent by hand on the same conn.
	second := NewSender(s.UnixConn, w2)
	if _, err := second.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, c, 2); !bytes.Equal(got, []byte("ab")) {
		t.Fatalf("server read %q", got)
	}
	w1.Close()
	w2.Close()
	expectEOF(t, r2, "second file")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, r1, "untaken file after Close")
}

// TestPlainConnHasNoFile: a request without a file, or a context without a conn, gives
// Take nothing.
func TestPlainConnHasNoFile(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	s, c := pair(t, w)
	if _, err := s.UnixConn.Write([]byte("plain")); err != nil {
		t.Fatal(err)
	}
	readN(t, c, 5)
	if f := Take(WithConn(t.Context(), c)); f != nil {
		t.Fatal("a conn that got no file handed one out")
	}
	if f := Take(t.Context()); f != nil {
		t.Fatal("a context without a conn handed a file out")
	}
}
