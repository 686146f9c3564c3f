package node

import (
	"errors"
	"slices"

	"github.com/dhtnode/dhtnode/internal/p2pgossip"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
)

// errNotMemberStream is what a refused stream's protocol negotiation fails with.
var errNotMemberStream = errors.New("not a cluster member: only gossip is open to non-members")

// openToNonMembers are the protocols a non-member may use when gossip runs over
// libp2p: the two gossip protocols (how it becomes a member) and identify, which
// every libp2p connection runs and which only tells it our addresses and
// protocols. What identify teaches us about it enters no table: the routers
// admit members only (their IsMember seams).
var openToNonMembers = append(slices.Clone(p2pgossip.Protocols), identify.ID, identify.IDPush)

// allowStream reports whether a stream for proto to or from p may go on.
func (g *memberGate) allowStream(p peer.ID, proto protocol.ID) bool {
	if !g.streams || slices.Contains(openToNonMembers, proto) || g.isMember(p) {
		return true
	}
	g.refused.WithLabelValues("stream").Inc()
	g.logger.Debug("refused a stream of a non-member", "peer", p, "protocol", proto)
	return false
}

// wrapResourceManager puts the stream gate in front of rm when the gate works
// per stream; otherwise it returns rm. Every stream, inbound or outbound, gets its
// protocol set on its resource scope once negotiated (libp2p's host does it
// before any handler runs or NewStream returns), so refusing there refuses the
// stream on every protocol the host serves or dials, libp2p's own included.
func (g *memberGate) wrapResourceManager(rm network.ResourceManager) network.ResourceManager {
	if !g.streams {
		return rm
	}
	return &gatedResourceManager{ResourceManager: rm, gate: g}
}

// gatedResourceManager is a resource manager whose stream scopes ask the gate.
type gatedResourceManager struct {
	network.ResourceManager
	gate *memberGate
}

// OpenStream opens the inner scope and wraps it.
func (r *gatedResourceManager) OpenStream(p peer.ID, dir network.Direction) (network.StreamManagementScope, error) {
	s, err := r.ResourceManager.OpenStream(p, dir)
	if err != nil {
		return nil, err
	}
	return &gatedStreamScope{StreamManagementScope: s, peer: p, gate: r.gate}, nil
}

// gatedStreamScope refuses SetProtocol for protocols the peer may not use.
type gatedStreamScope struct {
	network.StreamManagementScope
	peer peer.ID
	gate *memberGate
}

// SetProtocol asks the gate before attaching the stream to the protocol.
func (s *gatedStreamScope) SetProtocol(proto protocol.ID) error {
	if !s.gate.allowStream(s.peer, proto) {
		return errNotMemberStream
	}
	return s.StreamManagementScope.SetProtocol(proto)
}
