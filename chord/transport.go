package chord

import (
	"context"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Transport is what a Chord node needs from the network: its own identity and
// addresses, an address book for the peers it hears of, and request streams speaking
// ProtocolID. The daemon uses HostTransport (libp2p streams); compare uses a
// MemNetwork, so thousands of nodes fit in one process without a libp2p host each.
// Both carry the same framed messages to the same handler, so the wire encoding and
// the request handling are exercised whichever runs.
type Transport interface {
	// ID is this node's peer ID.
	ID() peer.ID
	// Addrs are this node's own addresses, sent in referrals to it.
	Addrs() []ma.Multiaddr
	// PeerAddrs are the addresses known for p (may be empty).
	PeerAddrs(p peer.ID) []ma.Multiaddr
	// AddAddrs remembers addresses for p for ttl, so it can be dialled later.
	AddAddrs(p peer.ID, addrs []ma.Multiaddr, ttl time.Duration)
	// Connected reports whether a connection to p is open now: stabilization keeps
	// one to the successor, so a missing one hints that it died.
	Connected(p peer.ID) bool
	// NewStream opens a request stream to p.
	NewStream(ctx context.Context, p peer.ID) (Stream, error)
	// SetHandler serves incoming streams with handler until RemoveHandler.
	SetHandler(handler func(Stream))
	// RemoveHandler stops serving: later streams to this node are refused.
	RemoveHandler()
}

// Stream is one request/response exchange: the caller writes a request and closes
// its write side, the callee answers and closes.
type Stream interface {
	io.Reader
	io.Writer
	// CloseWrite ends this side's writing; the other side reads EOF after the data.
	CloseWrite() error
	// Close ends the stream gracefully.
	Close() error
	// Reset aborts the stream in both directions.
	Reset() error
	// SetDeadline bounds reads and writes where the transport supports it; callers
	// also Reset on their own timer, since not every transport does.
	SetDeadline(t time.Time) error
	// RemotePeer is the node at the other end.
	RemotePeer() peer.ID
}

// HostTransport runs Chord over a libp2p host: one stream per request on ProtocolID,
// addresses in the host's peerstore.
type HostTransport struct {
	h host.Host
}

// NewHostTransport wraps h. The caller keeps ownership of h.
func NewHostTransport(h host.Host) *HostTransport { return &HostTransport{h: h} }

// ID is the host's peer ID.
func (t *HostTransport) ID() peer.ID { return t.h.ID() }

// Addrs are the host's listen addresses.
func (t *HostTransport) Addrs() []ma.Multiaddr { return t.h.Addrs() }

// PeerAddrs reads p's addresses from the peerstore.
func (t *HostTransport) PeerAddrs(p peer.ID) []ma.Multiaddr { return t.h.Peerstore().Addrs(p) }

// AddAddrs adds p's addresses to the peerstore.
func (t *HostTransport) AddAddrs(p peer.ID, addrs []ma.Multiaddr, ttl time.Duration) {
	t.h.Peerstore().AddAddrs(p, addrs, ttl)
}

// Connected reports whether the host holds a connection to p.
func (t *HostTransport) Connected(p peer.ID) bool {
	return t.h.Network().Connectedness(p) == network.Connected
}

// NewStream opens a libp2p stream to p on ProtocolID.
func (t *HostTransport) NewStream(ctx context.Context, p peer.ID) (Stream, error) {
	s, err := t.h.NewStream(ctx, p, ProtocolID)
	if err != nil {
		return nil, err
	}
	return hostStream{s}, nil
}

// SetHandler registers handler for ProtocolID on the host.
func (t *HostTransport) SetHandler(handler func(Stream)) {
	t.h.SetStreamHandler(ProtocolID, func(s network.Stream) { handler(hostStream{s}) })
}

// RemoveHandler unregisters ProtocolID.
func (t *HostTransport) RemoveHandler() { t.h.RemoveStreamHandler(ProtocolID) }

// hostStream is a libp2p stream seen as a Stream.
type hostStream struct{ network.Stream }

func (s hostStream) RemotePeer() peer.ID { return s.Conn().RemotePeer() }
