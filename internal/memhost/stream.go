package memhost

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

var (
	errWriteClosed = errors.New("memhost: stream closed for writing")
	errReadClosed  = errors.New("memhost: stream closed for reading")
	// ErrConnClosed is what streams of a connection get once either host closed it.
	ErrConnClosed = errors.New("memhost: connection closed")
)

// ids numbers connections and streams, unique within the process.
var ids atomic.Uint64

func nextID() uint64 { return ids.Add(1) }

// stream is one end of an in-memory stream: it reads in and writes out, which is
// the other end's in.
type stream struct {
	id      uint64
	conn    *conn
	in, out *pipe
	stat    network.Stats

	mu    sync.Mutex
	proto protocol.ID
	// closedRead and closedWrite record this end's half-closes; with both it is
	// done and leaves its connection's stream list.
	closedRead, closedWrite bool
}

var _ network.Stream = (*stream)(nil)

// newStreamPair makes a stream from c's host to its peer, negotiated to proto: the
// local end and the end the peer's handler gets.
func newStreamPair(c *conn, proto protocol.ID) (local, remote *stream, err error) {
	peerConn := c.peerConn()
	if peerConn == nil {
		return nil, nil, ErrConnClosed
	}
	ab, ba := newPipe(), newPipe()
	now := time.Now()
	local = &stream{id: nextID(), conn: c, in: ba, out: ab, proto: proto,
		stat: network.Stats{Direction: network.DirOutbound, Opened: now}}
	remote = &stream{id: nextID(), conn: peerConn, in: ab, out: ba, proto: proto,
		stat: network.Stats{Direction: network.DirInbound, Opened: now}}
	if !c.addStream(local) {
		return nil, nil, ErrConnClosed
	}
	if !peerConn.addStream(remote) {
		c.removeStream(local)
		return nil, nil, ErrConnClosed
	}
	return local, remote, nil
}

func (s *stream) Read(b []byte) (int, error)  { return s.in.read(b) }
func (s *stream) Write(b []byte) (int, error) { return s.out.write(b) }
func (s *stream) ID() string                  { return strconv.FormatUint(s.id, 10) }
func (s *stream) Stat() network.Stats         { return s.stat }
func (s *stream) Conn() network.Conn          { return s.conn }

// Scope is a null scope: memhost enforces no resource limits.
func (s *stream) Scope() network.StreamScope { return &network.NullScope{} }

func (s *stream) Protocol() protocol.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proto
}

func (s *stream) SetProtocol(id protocol.ID) error {
	s.mu.Lock()
	s.proto = id
	s.mu.Unlock()
	return nil
}

func (s *stream) CloseWrite() error {
	s.out.closeWrite()
	s.halfClosed(false, true)
	return nil
}

func (s *stream) CloseRead() error {
	s.in.closeRead()
	s.halfClosed(true, false)
	return nil
}

func (s *stream) Close() error {
	s.out.closeWrite()
	s.in.closeRead()
	s.halfClosed(true, true)
	return nil
}

func (s *stream) Reset() error { return s.ResetWithError(0) }

// ResetWithError fails both directions at both ends; the code is not carried.
func (s *stream) ResetWithError(network.StreamErrorCode) error {
	s.fail(network.ErrReset)
	return nil
}

// fail resets both directions with err and drops the stream from its connection.
func (s *stream) fail(err error) {
	s.in.fail(err)
	s.out.fail(err)
	s.halfClosed(true, true)
}

func (s *stream) halfClosed(read, write bool) {
	s.mu.Lock()
	s.closedRead = s.closedRead || read
	s.closedWrite = s.closedWrite || write
	done := s.closedRead && s.closedWrite
	s.mu.Unlock()
	if done {
		s.conn.removeStream(s)
	}
}

func (s *stream) SetDeadline(t time.Time) error {
	s.in.setReadDeadline(t)
	return nil
}

func (s *stream) SetReadDeadline(t time.Time) error {
	s.in.setReadDeadline(t)
	return nil
}

// SetWriteDeadline has nothing to bound: writes never block.
func (s *stream) SetWriteDeadline(time.Time) error { return nil }

// conn is one end of a connection between two hosts of a Network.
type conn struct {
	id            uint64 // formatted only when asked: most never are
	local, remote *Host
	stat          network.ConnStats

	mu sync.Mutex
	// streams are the open ones, usually none or one: a slice, dropped when empty,
	// since a simulated node keeps hundreds of idle connections.
	streams []*stream
	closed  bool
}

var _ network.Conn = (*conn)(nil)

func newConn(local, remote *Host, dir network.Direction) *conn {
	return &conn{id: nextID(), local: local, remote: remote,
		stat: network.ConnStats{Stats: network.Stats{Direction: dir, Opened: time.Now()}}}
}

// peerConn is the other end of c, nil once it is gone.
func (c *conn) peerConn() *conn { return c.remote.connTo(c.local.id) }

func (c *conn) addStream(s *stream) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.streams = append(c.streams, s)
	return true
}

func (c *conn) removeStream(s *stream) {
	c.mu.Lock()
	if i := slices.Index(c.streams, s); i >= 0 {
		last := len(c.streams) - 1
		c.streams[i] = c.streams[last]
		c.streams[last] = nil
		c.streams = c.streams[:last]
		if last == 0 {
			c.streams = nil
		}
	}
	c.mu.Unlock()
}

// shut marks c closed and resets its streams (whose other ends then fail too).
func (c *conn) shut() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	streams := c.streams
	c.streams = nil
	c.mu.Unlock()
	for _, s := range streams {
		s.in.fail(ErrConnClosed)
		s.out.fail(ErrConnClosed)
	}
}

// Close closes the connection at both ends, as ClosePeer does.
func (c *conn) Close() error {
	c.local.closePeer(c.remote.id)
	return nil
}

func (c *conn) CloseWithError(network.ConnErrorCode) error { return c.Close() }
func (c *conn) ID() string                                 { return strconv.FormatUint(c.id, 10) }
func (c *conn) LocalPeer() peer.ID                         { return c.local.id }
func (c *conn) RemotePeer() peer.ID                        { return c.remote.id }
func (c *conn) LocalMultiaddr() ma.Multiaddr               { return first(c.local.Addrs()) }
func (c *conn) RemoteMultiaddr() ma.Multiaddr              { return first(c.remote.Addrs()) }
func (c *conn) Scope() network.ConnScope                   { return &network.NullScope{} }
func (c *conn) As(any) bool                                { return false }

func (c *conn) RemotePublicKey() ic.PubKey {
	k, _ := c.remote.id.ExtractPublicKey()
	return k
}

// ConnState names the transport; there is no security or muxer to name.
func (c *conn) ConnState() network.ConnectionState {
	return network.ConnectionState{Transport: "memory"}
}

func (c *conn) Stat() network.ConnStats {
	st := c.stat
	c.mu.Lock()
	st.NumStreams = len(c.streams)
	c.mu.Unlock()
	return st
}

func (c *conn) IsClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *conn) GetStreams() []network.Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]network.Stream, 0, len(c.streams))
	for _, s := range c.streams {
		out = append(out, s)
	}
	return out
}

// NewStream opens a stream without a protocol, for the remote network's own stream
// handler (Network.SetStreamHandler), as a swarm's NewStream does.
func (c *conn) NewStream(ctx context.Context) (network.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	handler := c.remote.netHandler()
	if handler == nil {
		return nil, errors.New("memhost: the remote network takes no raw streams")
	}
	local, remote, err := newStreamPair(c, "")
	if err != nil {
		return nil, err
	}
	go handler(remote)
	return local, nil
}

func first(addrs []ma.Multiaddr) ma.Multiaddr {
	if len(addrs) == 0 {
		return nil
	}
	return addrs[0]
}
