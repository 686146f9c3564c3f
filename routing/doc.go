// Package routing is the small vocabulary that every lookup protocol in dhtnode shares:
// the 256-bit Key space, the Router interface that Chord, Kademlia and the one-hop
// baseline implement, the Trace a lookup leaves behind, and the MembershipListener seam
// through which gossip feeds the routers.
//
// Keys live in one space for all routers: PeerKey(id) = SHA-256(peer ID bytes) for
// nodes and ContentKey(b) = SHA-256(b) for content. Chord measures clockwise ring
// distance (RingDistance), Kademlia XOR distance (Key.XOR, CommonPrefixLen).
//
// Chord and Kademlia import this package and never each other; keep it tiny.
package routing
