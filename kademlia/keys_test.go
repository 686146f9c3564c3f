package kademlia

import (
	"testing"

	"github.com/dhtnode/dhtnode/routing"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// The key spaces must agree with kad-dht's own conversions, or the oracle and the
// routing tables would disagree about who is closest.
func TestKeyMappingMatchesKbucket(t *testing.T) {
	k := routing.ContentKey([]byte("hello"))
	if got, want := Target(k), routing.Key(kb.ConvertKey(DHTKey(k))); got != want {
		t.Fatalf("Target = %s, kbucket says %s", got, want)
	}
	id := peer.ID("some peer id bytes")
	if got, want := routing.PeerKey(id), routing.Key(kb.ConvertPeerID(id)); got != want {
		t.Fatalf("PeerKey = %s, kbucket says %s", got, want)
	}
	dec, err := mh.Decode([]byte(DHTKey(k)))
	if err != nil || dec.Code != mh.SHA2_256 || routing.Key(dec.Digest) != k {
		t.Fatalf("DHTKey is not the sha2-256 multihash of k: %+v %v", dec, err)
	}
	if c := cidOf(k); string(c.Hash()) != DHTKey(k) {
		t.Fatalf("cidOf(k).Hash() = %x, want %x", c.Hash(), DHTKey(k))
	}
}

// IPFS interoperability: for content whose SHA-256 is k, DHTKey(k) is the multihash
// every sha2-256 IPFS CID of that content carries.
func TestDHTKeyIsIPFSMultihash(t *testing.T) {
	data := []byte("some content")
	sum, err := mh.Sum(data, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	if DHTKey(routing.ContentKey(data)) != string(sum) {
		t.Fatalf("DHTKey(ContentKey(data)) = %x, IPFS multihash %x", DHTKey(routing.ContentKey(data)), []byte(sum))
	}
}
