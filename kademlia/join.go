package kademlia

import (
	"context"
	"errors"
	"fmt"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Join is the classic Kademlia join, for a node without gossip (compare's
// --feed none, or a node pointed at IPFS bootstrap peers): connect to peers, put
// them in the table, then look up our own ID and refresh every bucket (kad-dht's
// ForceRefresh), which fills the table from their answers. With gossip PeerUp does
// this work and Join is not needed. Errors: routing.ErrNoPeers (wrapped) when no
// peer could be reached, else ctx's or the refresh's error.
func (r *Router) Join(ctx context.Context, peers ...peer.AddrInfo) error {
	reached := 0
	var errs []error
	for _, ai := range peers {
		if ai.ID == r.h.ID() {
			continue
		}
		r.h.Peerstore().AddAddrs(ai.ID, ai.Addrs, r.cfg.PeerAddrTTL.Std())
		if err := r.h.Connect(ctx, ai); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ai.ID, err))
			continue
		}
		reached++
		// queryPeer=true: a peer we just reached counts as useful, as kad-dht does
		// for peers that answered a query.
		if _, err := r.dht.RoutingTable().TryAddPeer(ai.ID, true, false); err != nil {
			r.log.Debug("join: routing table refused peer", "peer", ai.ID, "err", err)
		}
	}
	if reached == 0 {
		return fmt.Errorf("kademlia: join: %w: %w", routing.ErrNoPeers, errors.Join(errs...))
	}
	select {
	case err := <-r.dht.ForceRefresh():
		if err != nil {
			return fmt.Errorf("kademlia: join refresh: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
