// Package memhost is an in-memory libp2p host for simulating thousands of nodes in
// one process: a [host.Host] whose streams are byte pipes to another host of the same
// [Network], with none of a real host's per-connection machinery.
//
// libp2p's own mocknet simulates a network faithfully: links, rate limiters, a
// muxed connection per pair, identify exchanging signed records over every new
// connection, and a peerstore per host that fills with every peer's addresses,
// keys, protocols and agent strings. For a simulation of N nodes that each talk to
// hundreds of others this is per-pair state, and at N = 512 it was more than half
// of the heap. memhost keeps what a protocol can observe and drops the rest:
//
//   - A connection is a pair of small records, one at each end, made on the first
//     dial and announced as libp2p announces it (network notifiees, the
//     EvtPeerConnectednessChanged event and, since identify would have run,
//     EvtPeerIdentificationCompleted with the peer's protocols). Nothing runs per
//     connection.
//   - A stream is two in-memory pipes with half-close, reset and deadlines. The
//     protocol is chosen as multistream-select would choose it (the first of the
//     caller's protocols the remote handles) without a round trip.
//   - Every host's peerstore is a view of the network's directory: each peer's
//     addresses and protocols are those it registered, its public key is in its
//     ID. What peers say about each other's addresses is not kept, because every
//     host's addresses are already known; so a peerstore costs nothing per peer.
//
// What it leaves out: transports, security, multiplexing, resource limits (a
// [network.NullResourceManager]), connection management (a [connmgr.NullConnMgr]),
// NAT and latency (a simulation models latency itself). Its hosts trust each other:
// it is for simulations, not for untrusted input.
package memhost
