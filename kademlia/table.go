package kademlia

import (
	"fmt"
	"slices"

	"github.com/dhtnode/dhtnode/routing"
)

// RoutingTable shows the k-buckets: one section per non-empty bucket, named by its
// index i (the common prefix length of the peers' keys with ours: bucket i holds
// peers at XOR distance in [2^(255-i), 2^(256-i))), entries sorted by distance to
// this node. LastSeen is kad-dht's last successful query to the peer (set when it
// joined the table).
func (r *Router) RoutingTable() routing.Table {
	self := r.h.ID()
	selfKey := routing.PeerKey(self)
	t := routing.Table{
		Algo: Name,
		Self: routing.TableEntry{Peer: self, Key: selfKey},
	}
	buckets := make(map[int][]routing.TableEntry)
	for _, info := range r.dht.RoutingTable().GetPeerInfos() {
		k := routing.PeerKey(info.Id)
		cpl := routing.CommonPrefixLen(selfKey, k)
		buckets[cpl] = append(buckets[cpl], routing.TableEntry{
			Index:    cpl,
			Peer:     info.Id,
			Key:      k,
			LastSeen: info.LastSuccessfulOutboundQueryAt,
		})
	}
	indexes := make([]int, 0, len(buckets))
	for i := range buckets {
		indexes = append(indexes, i)
	}
	slices.Sort(indexes)
	for _, i := range indexes {
		entries := buckets[i]
		slices.SortFunc(entries, func(a, b routing.TableEntry) int {
			return a.Key.XOR(selfKey).Cmp(b.Key.XOR(selfKey))
		})
		t.Sections = append(t.Sections, routing.TableSection{
			Name:    fmt.Sprintf("bucket %d", i),
			Entries: entries,
		})
	}
	return t
}
