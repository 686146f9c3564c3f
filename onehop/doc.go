// Package onehop is the one-hop baseline router: every node keeps the full membership
// view that gossip gives it, so a lookup needs no routing at all. The querier computes
// the key's owner from its own view and asks that node directly over the libp2p stream
// protocol /dhtnode/onehop/1.0.0 (Gupta, Liskov and Rodrigues, "One Hop Lookups for
// Peer-to-Peer Overlays", HotOS 2003, is the model).
//
// Ownership is Chord's: the owner of a key is its successor on the ring of member keys
// (routing.PeerKey), so one oracle serves both Chord and one-hop. When the view is
// current a lookup costs exactly one RPC (hops = 1; hops = 0 when the querier owns the
// key itself). When the view is stale the asked node either answers with a closer
// owner from its own view (a redirect, one more hop) or does not answer (a timeout;
// the querier tries the next member in ring order). The owner's answer carries its
// successors, so the result is the owner followed by Replicas-1 successors. A member
// that fails a request is left out of owner choices for 30 s (gossip usually declares
// it dead within that), and a joining node announces itself to its successor at once,
// so lookups for its keys are redirected to it before gossip has spread the join.
//
// Provider records are stored at the owner and its next Replicas-1 successors, each
// with a TTL; the providing node republishes its keys periodically. The store bounds
// keys, providers per key and records per providing peer, so no peer can fill another
// node's memory.
//
// The router never imports gossip: the node (or compare) translates membership events
// into PeerUp / PeerDown. Goroutines: one stream handler per inbound request (libp2p
// owns those) and one republish loop started by New and stopped by Close.
//
// Usage:
//
//	r, err := onehop.New(h, onehop.DefaultConfig())
//	if err != nil { ... }
//	defer r.Close()
//	r.PeerUp(peer.AddrInfo{ID: other, Addrs: addrs}) // fed by gossip
//	owners, trace, err := r.Lookup(ctx, routing.ContentKey(b))
package onehop
