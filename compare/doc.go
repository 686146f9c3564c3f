// Package compare runs Chord, Kademlia and the one-hop baseline side by side on the
// same simulated network, the same workload and the same failures, and reports how
// they route: success against an oracle, hops, RPCs, timeouts, modelled latency,
// maintenance traffic and routing state, as a table, CSV, JSON and plots.
//
// # Model
//
// For each network size N and churn setting, compare builds N nodes in one process.
// Each node carries one router of every compared protocol (so all protocols see the
// same nodes, and the same churn at the same instants): Chord on chord.MemNetwork,
// Kademlia and one-hop on an in-memory libp2p host (internal/memhost: no identify, no
// per-pair link, a peerstore read from the network's directory), and, when needed, a
// gossip member on a gossip.MemNetwork. With --feed gossip the node
// forwards gossip's join/update/leave/failed events to every router as PeerUp/PeerDown,
// exactly as the daemon does; with --feed none only one-hop gets them, and Chord and
// Kademlia join through up to three live nodes and maintain their tables with their
// own traffic (stabilization, fix-fingers; Kademlia's self-lookup and bucket refresh).
//
// Determinism: the seed fixes each node's Ed25519 identity (slot s, incarnation i →
// SHA-256 of seed, s, i as the key seed), its place in the latency model, the lookup
// keys and originators (slots), and the churn schedule (per slot, exponential
// session times with the given mean; a departed node is replaced at once by the
// slot's next incarnation, so N stays constant). Timing on the machine does not
// change what is asked, only how the protocols' background work interleaves.
//
// Latency: the network carries messages with no delay, and each lookup's latency is
// computed afterwards from a latency model over its Trace.Path: the sum of the
// modelled RTT from the querier to every node on the referral chain that answered,
// plus TimeoutPenalty per request on the chain that timed out or failed (Chord and
// one-hop list those in the path; Kademlia's parallel requests that time out off the
// chain overlap with useful ones and are not charged). CPU load on this machine does
// not distort it. The "king" model places nodes on a 2-D plane in four weighted
// regions with log-normal access delays, calibrated so the median pairwise RTT is
// 150 ms like the King data set (see LatencyModel).
//
// Oracle: every lookup is checked at the moment it is issued against the live set:
// Chord and one-hop must return the key's successor first, Kademlia the live node
// XOR-closest to its target. A node is live from the end of its join until it is
// killed; dials to a killed node fail at once (and cost a timeout penalty).
//
// Timing: the simulated network has no delay and a request to a departed node is
// refused at once, so the routers' request timeouts are raised to 10 s (they then only
// guard against this machine being too busy), and the simulated gossip uses
// memberlist's WAN timing by default (see Config.GossipProfile). The in-memory
// network has no MTU, so simulated gossip packets carry up to 64 KiB instead of
// memberlist's 1400 B: the join storm of starting N nodes at once (every member
// re-broadcasts every other's alive message) then drains in seconds instead of
// lasting the whole run (see simGossipPacketSize). Start-up admits the next node only
// while goroutines wake on time (see maxStartLag): on an overloaded machine members
// would suspect live nodes and gossip the refutations. All members share one cache
// of verified metadata (gossip.MetaCache).
//
// Traffic: every Write on a router's streams (both directions) is counted per
// protocol; gossip's packets and stream bytes come from the MemNetwork's counters and
// are charged to one-hop, whose membership view gossip maintains (its messages are
// packets of up to 64 KiB: compare them with a daemon's by bytes). Maintenance traffic
// is measured over a quiet window (churn running, no lookups) before the lookups.
//
// # Usage
//
//	cfg := compare.DefaultConfig()
//	cfg.Nodes = []int{64, 256}
//	cfg.Out = "out"
//	rep, err := compare.Run(ctx, cfg)
//	if err != nil { ... }
//	rep.WriteTable(os.Stdout)
//
// Goroutines: Run owns all of them; every node's routers, gossip member and feed
// goroutine are stopped before Run returns.
package compare
