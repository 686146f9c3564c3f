package memhost

import (
	"context"
	"maps"
	"slices"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
)

// hostNetwork is a Host seen as its network.Network (a swarm, in a real host).
type hostNetwork Host

var _ network.Network = (*hostNetwork)(nil)

func (n *hostNetwork) host() *Host { return (*Host)(n) }

func (n *hostNetwork) Peerstore() peerstore.Peerstore { return n.ps }
func (n *hostNetwork) LocalPeer() peer.ID             { return n.id }
func (n *hostNetwork) Close() error                   { return n.host().Close() }

// ResourceManager limits nothing.
func (n *hostNetwork) ResourceManager() network.ResourceManager {
	return &network.NullResourceManager{}
}

func (n *hostNetwork) DialPeer(ctx context.Context, p peer.ID) (network.Conn, error) {
	c, err := n.host().dial(ctx, p)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (n *hostNetwork) ClosePeer(p peer.ID) error {
	n.host().closePeer(p)
	return nil
}

func (n *hostNetwork) Connectedness(p peer.ID) network.Connectedness {
	if n.host().connTo(p) != nil {
		return network.Connected
	}
	return network.NotConnected
}

func (n *hostNetwork) Peers() []peer.ID {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return slices.Collect(maps.Keys(n.conns))
}

func (n *hostNetwork) Conns() []network.Conn {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]network.Conn, 0, len(n.conns))
	for _, c := range n.conns {
		out = append(out, c)
	}
	return out
}

func (n *hostNetwork) ConnsToPeer(p peer.ID) []network.Conn {
	if c := n.host().connTo(p); c != nil {
		return []network.Conn{c}
	}
	return nil
}

func (n *hostNetwork) Notify(f network.Notifiee) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.notifiees == nil {
		n.notifiees = make(map[network.Notifiee]struct{})
	}
	n.notifiees[f] = struct{}{}
}

func (n *hostNetwork) StopNotify(f network.Notifiee) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.notifiees, f)
}

// CanDial reports whether p is a host of this network, open or departed; the
// address does not matter.
func (n *hostNetwork) CanDial(p peer.ID, _ ma.Multiaddr) bool { return n.net.known(p) }

// SetStreamHandler handles streams opened without a protocol (Conn.NewStream).
func (n *hostNetwork) SetStreamHandler(handler network.StreamHandler) {
	n.mu.Lock()
	n.rawHandler = handler
	n.mu.Unlock()
}

// NewStream opens a stream without a protocol to p's network handler.
func (n *hostNetwork) NewStream(ctx context.Context, p peer.ID) (network.Stream, error) {
	c, err := n.host().dial(ctx, p)
	if err != nil {
		return nil, err
	}
	return c.NewStream(ctx)
}

// Listen adds addresses to the host's (they only name it).
func (n *hostNetwork) Listen(addrs ...ma.Multiaddr) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range addrs {
		if !slices.ContainsFunc(n.addrs, a.Equal) {
			n.addrs = append(n.addrs, a)
		}
	}
	return nil
}

func (n *hostNetwork) ListenAddresses() []ma.Multiaddr { return n.host().Addrs() }

func (n *hostNetwork) InterfaceListenAddresses() ([]ma.Multiaddr, error) {
	return n.host().Addrs(), nil
}
