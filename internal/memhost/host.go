package memhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/libp2p/go-libp2p/core/connmgr"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"
	mstream "github.com/multiformats/go-multistream"
)

var (
	// ErrNoHost is what a dial to a peer that has no open host on the network gets.
	ErrNoHost = errors.New("memhost: no such host")
	// ErrHostClosed is what a closed host's dials and streams get.
	ErrHostClosed = errors.New("memhost: host closed")
)

// Network is a set of in-memory hosts that reach each other by peer ID. It is also
// the directory every host's peerstore reads: the addresses and protocols of every
// host ever added.
type Network struct {
	// Dial, when set, is asked before each new connection from one host to
	// another; an error refuses the dial. Set it before adding hosts.
	Dial func(from, to peer.ID) error

	mu    sync.RWMutex
	hosts map[peer.ID]*Host
	// gone remembers closed hosts as a peerstore would: a departed peer's addresses
	// and protocols stay known, and dials to it fail.
	gone map[peer.ID]departed
}

type departed struct {
	addrs  []ma.Multiaddr
	protos []protocol.ID
}

// NewNetwork returns an empty network.
func NewNetwork() *Network {
	return &Network{hosts: make(map[peer.ID]*Host), gone: make(map[peer.ID]departed)}
}

// AddHost adds a host with the given key, reachable at addrs (which only name it:
// nothing listens on them).
func (n *Network) AddHost(priv ic.PrivKey, addrs ...ma.Multiaddr) (*Host, error) {
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("memhost: peer ID: %w", err)
	}
	h := &Host{net: n, id: id, priv: priv, addrs: slices.Clone(addrs),
		bus: eventbus.NewBus(), mux: mstream.NewMultistreamMuxer[protocol.ID](),
		handlers: make(map[protocol.ID]network.StreamHandler)}
	h.ps = &peerstoreView{h: h}
	for _, e := range []struct {
		evt any
		out *event.Emitter
	}{
		{new(event.EvtPeerConnectednessChanged), &h.emitConnectedness},
		{new(event.EvtPeerIdentificationCompleted), &h.emitIdentified},
		{new(event.EvtPeerProtocolsUpdated), &h.emitPeerProtocols},
		{new(event.EvtLocalProtocolsUpdated), &h.emitLocalProtocols},
	} {
		if *e.out, err = h.bus.Emitter(e.evt); err != nil {
			return nil, fmt.Errorf("memhost: event emitter: %w", err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, dup := n.hosts[id]; dup {
		return nil, fmt.Errorf("memhost: host %s already on the network", id)
	}
	delete(n.gone, id)
	n.hosts[id] = h
	return h, nil
}

// Close closes every host.
func (n *Network) Close() error {
	n.mu.RLock()
	hosts := make([]*Host, 0, len(n.hosts))
	for _, h := range n.hosts {
		hosts = append(hosts, h)
	}
	n.mu.RUnlock()
	for _, h := range hosts {
		_ = h.Close()
	}
	return nil
}

func (n *Network) host(id peer.ID) *Host {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.hosts[id]
}

func (n *Network) remove(h *Host, protos []protocol.ID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.hosts[h.id] == h {
		delete(n.hosts, h.id)
		n.gone[h.id] = departed{addrs: h.Addrs(), protos: protos}
	}
}

// addrsOf and protocolsOf answer for the peerstores: the host's own, while open.
func (n *Network) addrsOf(id peer.ID) []ma.Multiaddr {
	h, d := n.entry(id)
	if h != nil {
		return h.Addrs()
	}
	return slices.Clone(d.addrs)
}

func (n *Network) protocolsOf(id peer.ID) []protocol.ID {
	h, d := n.entry(id)
	if h != nil {
		return h.protocols()
	}
	return d.protos
}

// entry returns id's open host, or else what is remembered of it.
func (n *Network) entry(id peer.ID) (*Host, departed) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.hosts[id], n.gone[id]
}

func (n *Network) known(id peer.ID) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	_, open := n.hosts[id]
	_, gone := n.gone[id]
	return open || gone
}

func (n *Network) peers() peer.IDSlice {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make(peer.IDSlice, 0, len(n.hosts)+len(n.gone))
	for id := range n.hosts {
		out = append(out, id)
	}
	for id := range n.gone {
		out = append(out, id)
	}
	return out
}

// Host is one in-memory libp2p host. It implements [host.Host]; its Network method
// returns the same host seen as a [network.Network].
type Host struct {
	net  *Network
	id   peer.ID
	priv ic.PrivKey
	ps   *peerstoreView
	bus  event.Bus
	// mux mirrors the handlers for Mux's callers; streams are dispatched from
	// handlers and matchers without negotiation.
	mux *mstream.MultistreamMuxer[protocol.ID]

	emitConnectedness, emitIdentified, emitPeerProtocols, emitLocalProtocols event.Emitter

	mu         sync.RWMutex
	addrs      []ma.Multiaddr
	handlers   map[protocol.ID]network.StreamHandler
	matchers   []matcher
	protos     []protocol.ID // sorted IDs of handlers and matchers, replaced on change
	rawHandler network.StreamHandler
	conns      map[peer.ID]*conn
	notifiees  map[network.Notifiee]struct{}
	closed     bool
}

// muxHandler adapts a stream handler to the muxer, as a basic host does.
func muxHandler(handler network.StreamHandler) mstream.HandlerFunc[protocol.ID] {
	return func(_ protocol.ID, rwc io.ReadWriteCloser) error {
		if s, ok := rwc.(network.Stream); ok {
			handler(s)
			return nil
		}
		return errors.New("memhost: not a stream")
	}
}

type matcher struct {
	pid     protocol.ID
	match   func(protocol.ID) bool
	handler network.StreamHandler
}

var _ host.Host = (*Host)(nil)

// ID returns the host's peer ID.
func (h *Host) ID() peer.ID { return h.id }

// Peerstore returns the host's view of the network's directory.
func (h *Host) Peerstore() peerstore.Peerstore { return h.ps }

// Network returns the host as a network.Network.
func (h *Host) Network() network.Network { return (*hostNetwork)(h) }

// Mux returns a multistream muxer holding the host's handlers.
func (h *Host) Mux() protocol.Switch { return h.mux }

// EventBus returns the host's event bus, on which connections, identifications and
// protocol changes are announced as a libp2p host announces them.
func (h *Host) EventBus() event.Bus { return h.bus }

// ConnManager returns a connection manager that manages nothing: connections here
// cost a few hundred bytes and are never trimmed.
func (h *Host) ConnManager() connmgr.ConnManager { return &connmgr.NullConnMgr{} }

// Addrs returns the addresses the host was added with.
func (h *Host) Addrs() []ma.Multiaddr {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Clone(h.addrs)
}

// Connect connects to pi.ID if not connected yet; pi's addresses are not needed.
func (h *Host) Connect(ctx context.Context, pi peer.AddrInfo) error {
	_, err := h.dial(ctx, pi.ID)
	return err
}

// NewStream opens a stream to p for the first of pids p handles, connecting first
// if needed. Without pids it opens a raw stream for p's network handler.
func (h *Host) NewStream(ctx context.Context, p peer.ID, pids ...protocol.ID) (network.Stream, error) {
	c, err := h.dial(ctx, p)
	if err != nil {
		return nil, err
	}
	if len(pids) == 0 {
		return c.NewStream(ctx)
	}
	handler, proto, ok := c.remote.handlerFor(pids)
	if !ok {
		return nil, mstream.ErrNotSupported[protocol.ID]{Protos: pids}
	}
	local, remote, err := newStreamPair(c, proto)
	if err != nil {
		return nil, err
	}
	go handler(remote)
	return local, nil
}

// SetStreamHandler handles streams for pid.
func (h *Host) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	h.mu.Lock()
	h.handlers[pid] = handler
	h.mu.Unlock()
	h.mux.AddHandler(pid, muxHandler(handler))
	h.protocolsChanged()
}

// SetStreamHandlerMatch handles streams for every protocol match accepts.
func (h *Host) SetStreamHandlerMatch(pid protocol.ID, match func(protocol.ID) bool, handler network.StreamHandler) {
	h.mu.Lock()
	h.matchers = append(h.matchers, matcher{pid: pid, match: match, handler: handler})
	h.mu.Unlock()
	h.mux.AddHandlerWithFunc(pid, match, muxHandler(handler))
	h.protocolsChanged()
}

// RemoveStreamHandler removes pid's handler and matchers.
func (h *Host) RemoveStreamHandler(pid protocol.ID) {
	h.mu.Lock()
	delete(h.handlers, pid)
	h.matchers = slices.DeleteFunc(h.matchers, func(m matcher) bool { return m.pid == pid })
	h.mu.Unlock()
	h.mux.RemoveHandler(pid)
	h.protocolsChanged()
}

// Close closes every connection (their streams fail at both ends) and takes the
// host off the network; its addresses and protocols stay in the directory.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	conns := h.conns
	h.conns = nil
	protos := h.protos
	h.mu.Unlock()
	h.net.remove(h, protos)
	for _, c := range conns {
		h.hangUp(c)
	}
	return nil
}

// handlerFor picks the handler multistream-select would: the first of pids with
// an exact handler or an accepting matcher.
func (h *Host) handlerFor(pids []protocol.ID) (network.StreamHandler, protocol.ID, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, pid := range pids {
		if handler, ok := h.handlers[pid]; ok {
			return handler, pid, true
		}
		for _, m := range h.matchers {
			if m.match(pid) {
				return m.handler, pid, true
			}
		}
	}
	return nil, "", false
}

func (h *Host) protocols() []protocol.ID {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.protos
}

// protocolsChanged recomputes the protocol list and announces the change, locally
// and to every connected peer (as identify's push does).
func (h *Host) protocolsChanged() {
	h.mu.Lock()
	next := make([]protocol.ID, 0, len(h.handlers)+len(h.matchers))
	for pid := range h.handlers {
		next = append(next, pid)
	}
	for _, m := range h.matchers {
		next = append(next, m.pid)
	}
	slices.Sort(next)
	next = slices.Compact(next)
	prev := h.protos
	h.protos = next
	peers := make([]*Host, 0, len(h.conns))
	for _, c := range h.conns {
		peers = append(peers, c.remote)
	}
	h.mu.Unlock()

	added, removed := diff(prev, next), diff(next, prev)
	if len(added) == 0 && len(removed) == 0 {
		return
	}
	_ = h.emitLocalProtocols.Emit(event.EvtLocalProtocolsUpdated{Added: added, Removed: removed})
	for _, p := range peers {
		_ = p.emitPeerProtocols.Emit(event.EvtPeerProtocolsUpdated{Peer: h.id, Added: added, Removed: removed})
	}
}

// diff returns the IDs of b not in a (both sorted).
func diff(a, b []protocol.ID) []protocol.ID {
	var out []protocol.ID
	for _, pid := range b {
		if _, found := slices.BinarySearch(a, pid); !found {
			out = append(out, pid)
		}
	}
	return out
}

func (h *Host) connTo(p peer.ID) *conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.conns[p]
}

func (h *Host) dropConn(p peer.ID) *conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.conns[p]
	delete(h.conns, p)
	return c
}

func (h *Host) netHandler() network.StreamHandler {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.rawHandler
}

// dial returns the connection to p, making both of its ends on first use.
func (h *Host) dial(ctx context.Context, p peer.ID) (*conn, error) {
	if p == h.id {
		return nil, errors.New("memhost: dial to self")
	}
	if c := h.connTo(p); c != nil {
		return c, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h.net.Dial != nil {
		if err := h.net.Dial(h.id, p); err != nil {
			return nil, err
		}
	}
	remote := h.net.host(p)
	if remote == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoHost, p)
	}
	// Both ends change together; locking in ID order keeps two crossing dials
	// from deadlocking.
	a, b := h, remote
	if b.id < a.id {
		a, b = b, a
	}
	a.mu.Lock()
	b.mu.Lock()
	unlock := func() { b.mu.Unlock(); a.mu.Unlock() }
	switch {
	case h.closed:
		unlock()
		return nil, ErrHostClosed
	case remote.closed:
		unlock()
		return nil, fmt.Errorf("%w: %s", ErrNoHost, p)
	}
	if c := h.conns[p]; c != nil {
		unlock()
		return c, nil
	}
	c, rc := newConn(h, remote, network.DirOutbound), newConn(remote, h, network.DirInbound)
	if h.conns == nil {
		h.conns = make(map[peer.ID]*conn)
	}
	if remote.conns == nil {
		remote.conns = make(map[peer.ID]*conn)
	}
	h.conns[p], remote.conns[h.id] = c, rc
	unlock()
	h.connected(c)
	remote.connected(rc)
	return c, nil
}

// connected announces a new connection as a libp2p host does: notifiees, then the
// connectedness event, then identify's completion with the peer's protocols.
func (h *Host) connected(c *conn) {
	for _, n := range h.notifieeList() {
		n.Connected(h.Network(), c)
	}
	_ = h.emitConnectedness.Emit(event.EvtPeerConnectednessChanged{Peer: c.remote.id, Connectedness: network.Connected})
	_ = h.emitIdentified.Emit(event.EvtPeerIdentificationCompleted{
		Peer: c.remote.id, Conn: c, ListenAddrs: c.remote.Addrs(),
		Protocols: slices.Clone(c.remote.protocols()), ProtocolVersion: "memhost",
	})
}

func (h *Host) disconnected(c *conn) {
	for _, n := range h.notifieeList() {
		n.Disconnected(h.Network(), c)
	}
	_ = h.emitConnectedness.Emit(event.EvtPeerConnectednessChanged{Peer: c.remote.id, Connectedness: network.NotConnected})
}

func (h *Host) notifieeList() []network.Notifiee {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return slices.Collect(maps.Keys(h.notifiees))
}

// closePeer closes the connection to p at both ends.
func (h *Host) closePeer(p peer.ID) {
	if c := h.dropConn(p); c != nil {
		h.hangUp(c)
	}
}

// hangUp ends c, already dropped from h's connections, at both ends.
func (h *Host) hangUp(c *conn) {
	c.shut()
	h.disconnected(c)
	if rc := c.remote.dropConn(h.id); rc != nil {
		rc.shut()
		c.remote.disconnected(rc)
	}
}
