package chord

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ErrUnreachable is what a MemNetwork stream to a node that is not attached (or that
// the network's Dial hook refuses) fails with, at once.
var ErrUnreachable = errors.New("chord: peer unreachable")

// errStreamReset is read or written on a stream after Reset.
var errStreamReset = errors.New("chord: stream reset")

// MemNetwork connects Chord nodes in one process without libp2p: a stream is a pair of
// in-memory buffers, and the request goes through the same framing, encoding and
// handler as on a libp2p stream. Messages are delivered without delay; a dial to a
// node that is not attached fails at once (as a crashed node's refused connection
// would, without waiting out a timeout). Latency and loss are for the caller to model:
// Dial can refuse streams, Count sees every write.
//
// Addresses: every attached node's addresses are known network-wide, so a node keeps
// no address book of its own (AddAddrs is a no-op) and pays nothing per peer it hears of.
type MemNetwork struct {
	// Dial, when set, is asked before each stream from one node to another; an error
	// refuses the stream (wrapped with ErrUnreachable).
	Dial func(from, to peer.ID) error
	// Count, when set, is called with the size of every write on every stream (each
	// Chord message is one write), requests and responses alike.
	Count func(bytes int)

	mu    sync.RWMutex
	nodes map[peer.ID]*MemTransport
}

// NewMemNetwork returns an empty network. Set Dial and Count before attaching nodes.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{nodes: make(map[peer.ID]*MemTransport)}
}

// Attach adds a node with the given identity and addresses and returns its transport.
// The node receives streams once its Chord is running (New sets the handler).
// Attaching an ID twice replaces the first.
func (n *MemNetwork) Attach(id peer.ID, addrs []ma.Multiaddr) *MemTransport {
	t := &MemTransport{net: n, id: id, addrs: addrs}
	n.mu.Lock()
	n.nodes[id] = t
	n.mu.Unlock()
	return t
}

// Detach removes the node: streams to it fail from now on, as if it had crashed.
// Streams already open run to their end.
func (n *MemNetwork) Detach(id peer.ID) {
	n.mu.Lock()
	delete(n.nodes, id)
	n.mu.Unlock()
}

// Len is the number of attached nodes.
func (n *MemNetwork) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.nodes)
}

func (n *MemNetwork) lookup(id peer.ID) *MemTransport {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.nodes[id]
}

// MemTransport is one node's Transport on a MemNetwork.
type MemTransport struct {
	net   *MemNetwork
	id    peer.ID
	addrs []ma.Multiaddr

	mu      sync.RWMutex
	handler func(Stream)
}

var _ Transport = (*MemTransport)(nil)

// ID is the node's peer ID.
func (t *MemTransport) ID() peer.ID { return t.id }

// Addrs are the addresses the node was attached with.
func (t *MemTransport) Addrs() []ma.Multiaddr { return t.addrs }

// PeerAddrs are p's addresses while p is attached.
func (t *MemTransport) PeerAddrs(p peer.ID) []ma.Multiaddr {
	if o := t.net.lookup(p); o != nil {
		return o.addrs
	}
	return nil
}

// AddAddrs does nothing: the network knows every attached node's addresses.
func (t *MemTransport) AddAddrs(peer.ID, []ma.Multiaddr, time.Duration) {}

// Connected reports whether p is attached and serving: there are no connections to
// keep open, so this is what an open connection would tell.
func (t *MemTransport) Connected(p peer.ID) bool {
	o := t.net.lookup(p)
	return o != nil && o.serving()
}

// SetHandler serves incoming streams with handler, each on its own goroutine.
func (t *MemTransport) SetHandler(handler func(Stream)) {
	t.mu.Lock()
	t.handler = handler
	t.mu.Unlock()
}

// RemoveHandler stops serving: later streams to this node fail with ErrUnreachable.
func (t *MemTransport) RemoveHandler() { t.SetHandler(nil) }

func (t *MemTransport) serving() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.handler != nil
}

// NewStream opens a stream to p and starts p's handler on the other end.
func (t *MemTransport) NewStream(ctx context.Context, p peer.ID) (Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d := t.net.Dial; d != nil {
		if err := d(t.id, p); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
		}
	}
	o := t.net.lookup(p)
	if o == nil {
		return nil, fmt.Errorf("%w: %s not attached", ErrUnreachable, p.ShortString())
	}
	o.mu.RLock()
	handler := o.handler
	o.mu.RUnlock()
	if handler == nil {
		return nil, fmt.Errorf("%w: %s not serving chord", ErrUnreachable, p.ShortString())
	}
	toRemote, toLocal := newMemPipe(), newMemPipe()
	local := &memStream{remote: p, in: toLocal, out: toRemote, count: t.net.Count}
	remote := &memStream{remote: t.id, in: toRemote, out: toLocal, count: t.net.Count}
	go handler(remote)
	return local, nil
}

// memPipe is one direction of a stream: writes append, reads block until data, the
// writer's close (EOF) or a reset.
type memPipe struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    bytes.Buffer
	closed bool // the writer is done: EOF after buf
	reset  bool
}

func newMemPipe() *memPipe {
	p := &memPipe{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *memPipe) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.reset:
		return 0, errStreamReset
	case p.closed:
		return 0, io.ErrClosedPipe
	}
	p.buf.Write(b)
	p.cond.Broadcast()
	return len(b), nil
}

func (p *memPipe) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.reset:
			return 0, errStreamReset
		case p.buf.Len() > 0:
			return p.buf.Read(b)
		case p.closed:
			return 0, io.EOF
		}
		p.cond.Wait()
	}
}

func (p *memPipe) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *memPipe) abort() {
	p.mu.Lock()
	p.reset = true
	p.buf.Reset()
	p.cond.Broadcast()
	p.mu.Unlock()
}

// memStream is one end of an in-memory stream.
type memStream struct {
	remote peer.ID
	in     *memPipe
	out    *memPipe
	count  func(int)
}

func (s *memStream) Read(b []byte) (int, error) { return s.in.read(b) }

func (s *memStream) Write(b []byte) (int, error) {
	n, err := s.out.write(b)
	if n > 0 && s.count != nil {
		s.count(n)
	}
	return n, err
}

func (s *memStream) CloseWrite() error { s.out.close(); return nil }

func (s *memStream) Close() error { s.out.close(); return nil }

func (s *memStream) Reset() error { s.in.abort(); s.out.abort(); return nil }

// SetDeadline is not supported: callers bound the exchange by resetting the stream.
func (s *memStream) SetDeadline(time.Time) error { return nil }

func (s *memStream) RemotePeer() peer.ID { return s.remote }
