// Package kademlia is dhtnode's Kademlia router (Maymounkov & Mazières 2002), built on
// go-libp2p-kad-dht v0.42 — the implementation the IPFS network runs — in server mode,
// with its routing table fed by gossip and every lookup traced hop by hop.
//
// # Model
//
// A Router wraps one kad-dht instance on a libp2p host. Nodes sit at
// routing.PeerKey(id) = SHA-256(peer ID bytes), which is exactly kad-dht's
// kbucket.ConvertPeerID, so its k-buckets and our key space agree. The protocol is
// /dhtnode/kad/1.0.0 by default (Config.ProtocolPrefix), bucket size k = 20,
// concurrency α = 10 and resiliency β = 3 (kad-dht's defaults; configurable).
//
// Gossip feeds the table (routing.MembershipListener): PeerUp puts the member's
// addresses in the peerstore with a TTL and offers it to its k-bucket at once
// (RoutingTable().TryAddPeer), so a new node routes as soon as gossip has told it
// about the cluster, without waiting for a bucket refresh; PeerDown removes it.
// kad-dht itself drops a peer after one failed request; the router offers members
// gossip still reports alive again every Config.ReofferInterval, so gossip, not a
// single timeout, decides who is in the table.
// Only Config.BootstrapPeers are dialled on start: never the public IPFS
// bootstrappers unless they are listed there. Without gossip, Join does the classic
// Kademlia join instead (contact known peers, look up our own ID, refresh every
// bucket).
//
// Provide stores our record locally and on the k closest peers; the router keeps the
// key and re-announces it every Config.ReprovideInterval (22 h) so the records, which
// live Config.ProviderTTL (48 h) where they are stored, outlast churn and reach peers
// that joined near the key since.
//
// # Keys: why Kademlia routes key K to Target(K), not to K
//
// kad-dht's wire protocol carries a key's pre-image. Every server places the key it
// receives at SHA-256(key) before consulting its buckets, and the querier orders its
// own lookup state the same way; there is no request for "the peers closest to this
// raw 256-bit point". A routing.Key is already a hash (its pre-image is unknown), so
// no lookup through kad-dht can aim at K itself. The router therefore names K on the
// wire by a fixed pre-image, DHTKey(K) — the sha2-256 multihash whose digest is K —
// and routes to Target(K) = SHA-256(DHTKey(K)) in the same 256-bit space. Lookup,
// Provide and FindProviders all use it, so a Lookup of K returns exactly the peers
// that hold K's provider records, and an oracle for this router ranks live nodes by
// PeerKey XOR Target(K). Target(K) is as uniform as K, so hop and RPC statistics
// are unaffected. Chord routes K to K; each protocol is checked against its own
// oracle.
//
// Content: kad-dht keys a provider record for CID c by c's multihash. DHTKey(K) is
// the multihash of every sha2-256 CID whose digest is K, so for K = SHA-256 of a
// block, our records for K are exactly the records IPFS keeps for that block's CIDs.
// dhtnode's content IDs use K = the CID's sha2-256 digest (content.ID.Key), so
// DHTKey(K) is the content ID's own multihash and, on the /ipfs prefix, the records
// are exactly the ones IPFS keeps for that CID.
//
// # Traces
//
// Each operation subscribes to kad-dht's query events (RegisterForQueryEvents) and
// builds a routing.Trace: a peer from our own table (a lookup seed, or first seen in
// a SendingQuery event) has depth 1; a peer first named in a PeerResponse from X has
// depth depth(X)+1. Hops is the depth of the closest peer found (0 when this node is
// itself closest), Path the chain of referrers that led to it, RPCs every request
// sent (a failed dial counts), Timeouts the QueryError events. Hop.Distance reads
// "cpl N": the bits the hop's key shares with Target(K). Dials that kad-dht abandons
// when a lookup ends are neither RPCs nor timeouts.
//
// # Joining the IPFS DHT
//
// Set ProtocolPrefix to IPFSProtocolPrefix ("/ipfs", which requires k = 20) and put
// IPFS bootstrap peers in BootstrapPeers, and the node speaks /ipfs/kad/1.0.0: it
// joins the public Amino DHT, answers its queries, and its lookups run there. Leave
// AutoRefresh on and IPDiversity at DiversityPublic (or DiversityStrict) there. With
// a private prefix the node never dials beyond the configured peers and gossip members.
//
// # IP diversity
//
// kad-dht can refuse peers from an over-represented IP group (an eclipse defence).
// Every loopback peer is one group, and so is every mocknet host, so Config.IPDiversity
// defaults to DiversityPublic: the limits apply to peers reached over public
// addresses, not to loopback, private or link-local ones. TestConfig turns it off.
//
// # Goroutines
//
// kad-dht owns its goroutines; Close stops them. PeerUp may start one bounded
// background dial per peer (only when the diversity filter needs a live connection);
// PeerDown and Close cancel it. Lookup, Provide and FindProviders run on the caller's
// goroutine plus one event reader each.
//
// # Usage
//
//	r, err := kademlia.New(h, kademlia.DefaultConfig())
//	if err != nil { ... }
//	defer r.Close()
//	for _, m := range members { r.PeerUp(m) } // from gossip
//	owners, trace, err := r.Lookup(ctx, routing.ContentKey([]byte("hello")))
//	fmt.Println(owners[0].ID, trace.Hops, trace.RPCs)
package kademlia
