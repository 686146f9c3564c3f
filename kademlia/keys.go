package kademlia

import (
	"crypto/sha256"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// The key mapping. kad-dht's wire protocol carries a key's pre-image: every server
// places the key it receives at SHA-256(key) (kbucket.ConvertKey) before looking
// in its buckets, and so does the querier's own lookup state (qpeerset). There is
// no way to ask kad-dht for "the peers closest to this raw 256-bit point", and a
// routing.Key is already a hash, so its pre-image is unknown. Kademlia therefore
// names routing key K on the wire by a fixed pre-image, DHTKey(K), and the point it
// routes to is Target(K) = SHA-256(DHTKey(K)), in the same 256-bit space where
// nodes sit at routing.PeerKey(id) = kbucket.ConvertPeerID(id).

// DHTKey is the kad-dht key (pre-image) for routing key k: the sha2-256 multihash
// whose digest is k (0x12 0x20 followed by k's 32 bytes). Provide, FindProviders
// and Lookup all use it, so a Lookup returns the very peers that hold k's provider
// records. When k is the SHA-256 of some content, DHTKey(k) is the multihash of
// every IPFS CID of that content, so on the /ipfs prefix the records are the ones
// IPFS nodes look for.
func DHTKey(k routing.Key) string {
	return string(multihashOf(k))
}

// Target is where Kademlia routes key k: SHA-256(DHTKey(k)). An oracle for this
// router ranks live nodes by routing.PeerKey(id) XOR Target(k).
func Target(k routing.Key) routing.Key {
	return sha256.Sum256(multihashOf(k))
}

func multihashOf(k routing.Key) mh.Multihash {
	b := make([]byte, 0, 2+routing.KeyLen)
	b = append(b, mh.SHA2_256, routing.KeyLen)
	return append(b, k[:]...)
}

// cidOf wraps DHTKey(k) as a CID, the type kad-dht's provider API takes; kad-dht
// only ever uses its multihash, so the codec (raw) does not matter.
func cidOf(k routing.Key) cid.Cid {
	return cid.NewCidV1(cid.Raw, multihashOf(k))
}
