// Package fdconn carries one open file from a client to a server over a Unix socket,
// next to an ordinary byte stream such as HTTP, so that a local server can write
// straight into the client's output instead of copying every byte through the socket.
//
// The client's [Sender] attaches the file (SCM_RIGHTS) to the first bytes it writes;
// the server's [Listener] hands out conns whose reads collect any file that arrives
// and keep it until a handler takes it with [Take] (or the conn closes it). A conn
// keeps at most one file: every further one is closed as it arrives, so a client can
// never make a server hold more descriptors than it has conns.
package fdconn

import (
	"context"
	"net"
	"os"
	"sync"
	"syscall"
)

// Listener accepts Unix-socket conns that collect a file sent with their bytes.
type Listener struct{ *net.UnixListener }

// Listen listens on the Unix socket at path.
func Listen(path string) (*Listener, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	return &Listener{l}, nil
}

// Accept waits for the next conn; its concrete type is *Conn.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptUnix()
	if err != nil {
		return nil, err
	}
	return &Conn{UnixConn: c}, nil
}

// oobSpace fits the control message of one descriptor (and notices more: the kernel
// closes what does not fit and sets MSG_CTRUNC).
var oobSpace = syscall.CmsgSpace(4 * 4)

// Conn is a server-side conn that keeps the first file the client sent with its bytes.
type Conn struct {
	*net.UnixConn

	mu     sync.Mutex
	file   *os.File
	closed bool
}

// Read reads bytes as any conn does and keeps a file that came with them.
func (c *Conn) Read(b []byte) (int, error) {
	oob := make([]byte, oobSpace)
	n, oobn, _, _, err := c.ReadMsgUnix(b, oob)
	if oobn > 0 {
		c.keep(oob[:oobn])
	}
	return n, err
}

// keep parses the control messages of one read: the first descriptor is kept when
// the conn holds none, every other one is closed at once.
func (c *Conn) keep(oob []byte) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return
	}
	for i := range msgs {
		fds, err := syscall.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		for _, fd := range fds {
			c.mu.Lock()
			if c.file == nil && !c.closed {
				c.file = os.NewFile(uintptr(fd), "client output")
				fd = -1
			}
			c.mu.Unlock()
			if fd >= 0 {
				syscall.Close(fd)
			}
		}
	}
}

// take hands the kept file to the caller, who closes it; nil when none came.
func (c *Conn) take() *os.File {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.file
	c.file = nil
	return f
}

// Close closes the conn and a file no handler took.
func (c *Conn) Close() error {
	c.mu.Lock()
	f := c.file
	c.file, c.closed = nil, true
	c.mu.Unlock()
	if f != nil {
		f.Close()
	}
	return c.UnixConn.Close()
}

type connKey struct{}

// WithConn records c in ctx (for http.Server.ConnContext), so that a handler can
// [Take] the file that came with its request.
func WithConn(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, connKey{}, fc)
	}
	return ctx
}

// Take returns the file that came with the request whose context is ctx, and
// forgets it: the caller closes it. Nil when the request came over another kind of
// conn or brought no file.
func Take(ctx context.Context) *os.File {
	c, _ := ctx.Value(connKey{}).(*Conn)
	if c == nil {
		return nil
	}
	return c.take()
}

// Sender is a client-side Unix-socket conn that sends file with its first write.
type Sender struct {
	*net.UnixConn
	file *os.File
	sent bool
}

// NewSender wraps c so that the first Write carries file; file stays the caller's.
func NewSender(c *net.UnixConn, file *os.File) *Sender {
	return &Sender{UnixConn: c, file: file}
}

// Write writes b; the first call attaches the file to the bytes it sends.
func (s *Sender) Write(b []byte) (int, error) {
	if s.sent || len(b) == 0 {
		return s.UnixConn.Write(b)
	}
	rc, err := s.file.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	if cerr := rc.Control(func(fd uintptr) {
		n, _, werr = s.WriteMsgUnix(b, syscall.UnixRights(int(fd)), nil)
	}); cerr != nil {
		return 0, cerr
	}
	if werr != nil {
		return n, werr
	}
	s.sent = true
	if n < len(b) {
		m, err := s.UnixConn.Write(b[n:])
		return n + m, err
	}
	return n, nil
}
