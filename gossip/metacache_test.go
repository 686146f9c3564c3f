package gossip

import (
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestMetaCacheVetsOnceAndStillRefusesForgeries(t *testing.T) {
	c := NewMetaCache()
	key := newKey(t)
	id, _ := peer.IDFromPrivateKey(key)
	good, err := SignMeta("a", key, testGossipAddr, 1, testAddrs(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	m1, err := c.Vet("a", good)
	if err != nil || m1.PeerID != id {
		t.Fatalf("first vet: %+v, %v", m1, err)
	}
	// A repeat of the same bytes is answered from the cache: the same decoded value,
	// down to the shared address slice.
	m2, err := c.Vet("a", append([]byte(nil), good...))
	if err != nil || &m2.Addrs[0] != &m1.Addrs[0] {
		t.Fatalf("repeat not served from the cache: %v", err)
	}
	// Other bytes under a cached name are checked, not trusted: our peer ID with other
	// addresses, signed by another key; and the same metadata claimed by another name.
	impostor := NodeMeta{PeerID: id, GossipAddr: testGossipAddr, Issued: 1, Addrs: testAddrs(t, 2)}
	impostor.Signature, _ = newKey(t).Sign(signingInput("a", impostor.body()))
	if _, err := c.Vet("a", impostor.Marshal()); !errors.Is(err, ErrMetaSignature) {
		t.Fatalf("forgery under a cached name: %v", err)
	}
	// A forgery is not cached either: the genuine metadata still matches.
	if m, err := c.Vet("a", good); err != nil || m.PeerID != id {
		t.Fatalf("after forgery: %+v, %v", m, err)
	}
	if _, err := c.Vet("b", good); !errors.Is(err, ErrMetaSignature) {
		t.Fatalf("metadata replayed under another name: %v", err)
	}
	// After Forget the next vet decodes again (new value, not the cached one).
	c.Forget("a")
	m3, err := c.Vet("a", good)
	if err != nil || &m3.Addrs[0] == &m1.Addrs[0] {
		t.Fatalf("after Forget: served from cache or failed: %v", err)
	}
}
