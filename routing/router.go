package routing

import (
	"context"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Errors shared by routers. Routers wrap them with %w and add the detail.
var (
	// ErrNoPeers means the router knows no other live node to ask.
	ErrNoPeers = errors.New("routing: no peers to ask")
	// ErrLookupFailed means every path tried for a lookup timed out or failed.
	ErrLookupFailed = errors.New("routing: lookup failed")
)

// Router finds the node responsible for a key and keeps provider records.
// Chord, Kademlia and the one-hop baseline implement it. All methods are safe for
// concurrent use and honour ctx cancellation.
type Router interface {
	// Name is the protocol's short name: "chord", "kademlia" or "onehop".
	Name() string
	// Lookup returns the node(s) responsible for key under the protocol's own metric,
	// closest first (Chord: the key's successor and its successors; Kademlia: the
	// closest peers by XOR distance), and the trace of the lookup.
	Lookup(ctx context.Context, key Key) ([]peer.AddrInfo, Trace, error)
	// Provide announces that this node can serve the content at key.
	Provide(ctx context.Context, key Key) (Trace, error)
	// FindProviders returns up to limit peers that announced key (limit <= 0: no limit).
	FindProviders(ctx context.Context, key Key, limit int) ([]peer.AddrInfo, Trace, error)
}

// MembershipListener is how gossip feeds a router. The node calls these from one
// goroutine, in the order gossip saw the events; implementations must not block for long.
type MembershipListener interface {
	// PeerUp says a member is alive (joined, or updated its addresses).
	PeerUp(info peer.AddrInfo)
	// PeerDown says a member failed or left; the router should forget it at once
	// rather than wait for its own timeouts.
	PeerDown(id peer.ID)
}

// ProvideStopper is implemented by routers that re-announce the keys they provided
// (republish, reprovide): StopProviding drops key from that set, for content that has
// left the store. Records already stored on other nodes expire on their own.
type ProvideStopper interface {
	StopProviding(key Key)
}

// TableReporter is implemented by routers that can show their routing state.
type TableReporter interface {
	RoutingTable() Table
}

// Trace is what one lookup did: how deep the answer was, how many requests it cost,
// how long it took and which nodes were on the way.
type Trace struct {
	// Algo is the router's Name.
	Algo string `json:"algo"`
	// Key is what was looked up.
	Key Key `json:"key"`
	// Hops is the referral depth of the node that gave the final answer:
	// 1 means a node from the querier's own table knew; 0 means the querier answered from
	// its own state (it owns the key, or, in Chord, the key lies between it and its successor).
	Hops int `json:"hops"`
	// RPCs counts every request sent for this lookup, including failed ones.
	RPCs int `json:"rpcs"`
	// Timeouts counts requests that timed out or failed to connect.
	Timeouts int `json:"timeouts"`
	// Latency is the time from start to answer.
	Latency time.Duration `json:"latency"`
	// Path is the referral chain that led to the answer, in order, first hop first.
	Path []Hop `json:"path"`
}

// Hop is one node on a lookup's referral chain.
type Hop struct {
	Peer peer.ID `json:"peer"`
	Key  Key     `json:"key"`
	// Depth is the referral depth at which this node was learned (1 = from the querier's table).
	Depth int `json:"depth"`
	// RTT is how long the request to this node took.
	RTT time.Duration `json:"rtt"`
	// Distance is the remaining distance to the key under the router's metric, for display:
	// "2^243.7" for Chord's clockwise distance, "cpl 12" for Kademlia's common prefix length.
	Distance string `json:"distance"`
	// Error is set when the request to this node failed or timed out.
	Error string `json:"error,omitempty"`
}

// Table is a router's state in a shape the CLI and API can print without knowing the
// protocol: named sections (predecessor, successors, fingers; or one per k-bucket).
type Table struct {
	Algo     string         `json:"algo"`
	Self     TableEntry     `json:"self"`
	Sections []TableSection `json:"sections"`
}

// TableSection is one named part of a routing table.
type TableSection struct {
	Name    string       `json:"name"`
	Entries []TableEntry `json:"entries"`
}

// TableEntry is one peer in a routing table.
type TableEntry struct {
	// Index is the entry's position: a finger or bucket number, or a successor's rank.
	Index int     `json:"index"`
	Peer  peer.ID `json:"peer"`
	Key   Key     `json:"key"`
	// Start is the key a Chord finger points at (self + 2^i); zero for other entries.
	Start *Key `json:"start,omitempty"`
	// LastSeen is when the router last heard from the peer, when it tracks that.
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Entries counts the peers across all sections; compare reports it as routing state per node.
func (t Table) Entries() int {
	n := 0
	for _, s := range t.Sections {
		n += len(s.Entries)
	}
	return n
}
