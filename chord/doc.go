// Package chord is a Chord ring (Stoica et al., SIGCOMM 2001) over libp2p streams: it
// finds the node responsible for a key (the key's successor on a 256-bit ring) and keeps
// provider records there and on the next r-1 successors.
//
// # Model
//
// Every node sits at PeerKey(its peer ID) on the ring of routing.Key. It keeps a
// predecessor, a successor list of r entries (Config.Successors, default 8) and a finger
// table: finger i is the first node at or after self + 2^i (256 fingers, of which about
// log2 N are distinct). Periodic stabilization (ask the successor for its predecessor and
// successor list, notify it), fix-fingers and check-predecessor repair the ring after
// joins and failures. Gossip speeds this up through routing.MembershipListener: PeerDown
// removes a failed member from every table at once, PeerUp lets a lone node join through
// the new member and offers it to the successor list and fingers.
//
// Lookups are iterative: the querying node contacts each hop itself with a per-RPC
// timeout, and when a hop is dead it falls back to the next best finger or successor.
// Each referral also carries the referring node's successor list, so when the nodes
// just before a key are dead (and nobody has noticed yet) the querier steps over them
// to the owner instead of failing. Routing itself uses fingers and the first successor
// only, as in the paper, so path lengths compare with its ½·log2 N
// (Config.RouteViaSuccessors shortcuts along the whole list). Lookup then asks the owner
// it found for its neighbours (one RPC, not a hop): the node that named the owner answered
// from a view that lags behind churn, so a crashed owner is replaced by the next live
// successor and an owner whose new predecessor lies past the key by that predecessor.
// Provide and FindProviders skip the check: they contact the owners anyway.
// The routing.Trace records every request: Hops is the referral depth of the node that
// answered (0 = we knew, 1 = the first node asked knew), Path lists each node asked with
// its depth, RTT and remaining clockwise distance ("2^243.7").
//
// The ring maths (ring), the lookup state (lookupState) and the provider store
// (providerStore) are pure: no clock, no I/O. Their tests run whole rings in a loop, the
// way etcd raft tests its state machine. The Chord type is the driver: one maintenance
// goroutine per node owns the timers, libp2p owns the stream handlers.
//
// # Wire protocol
//
// ProtocolID "/dhtnode/chord/1.0.0", one request and one response per stream, each a
// uvarint-length-prefixed binary message of at most MaxMessageSize bytes (see wire.go).
// Malformed or oversized messages reset the stream; nothing a peer sends can panic a node.
//
// # Usage
//
//	c, err := chord.New(h, chord.DefaultConfig()) // h: a libp2p host, real or mocknet
//	if err != nil { ... }
//	defer c.Close()
//	err = c.Join(ctx, peer.AddrInfo{ID: bootstrapID, Addrs: addrs}) // or feed PeerUp from gossip
//	owners, trace, err := c.Lookup(ctx, routing.ContentKey([]byte("hello")))
//	_, err = c.Provide(ctx, key)
//	providers, trace, err := c.FindProviders(ctx, key, 20)
//
// Package chordtest runs N nodes on a libp2p mocknet with an oracle, for tests and for
// the compare tool.
package chord
