package onehop

import (
	"errors"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/dhtnode/dhtnode/setting"
	"github.com/libp2p/go-libp2p/core/peer"
)

func testStore(maxKeys, perKey, perPeer int, ttl time.Duration) (*providerStore, *time.Time) {
	now := time.Unix(1000, 0)
	cfg := DefaultConfig()
	cfg.MaxKeys, cfg.MaxProvidersPerKey, cfg.MaxRecordsPerPeer, cfg.ProviderTTL = maxKeys, perKey, perPeer, setting.Duration(ttl)
	return newProviderStore(cfg, func() time.Time { return now }), &now
}

func TestStoreTTL(t *testing.T) {
	s, now := testStore(10, 10, 10, time.Minute)
	k := routing.ContentKey([]byte("x"))
	if err := s.add(k, peer.AddrInfo{ID: "p1"}); err != nil {
		t.Fatal(err)
	}
	if got := s.get(k, 0); len(got) != 1 || got[0].ID != "p1" {
		t.Fatalf("got %v", got)
	}
	*now = now.Add(30 * time.Second)
	_ = s.add(k, peer.AddrInfo{ID: "p1"}) // refresh
	*now = now.Add(45 * time.Second)
	if got := s.get(k, 0); len(got) != 1 {
		t.Fatalf("refreshed record expired: %v", got)
	}
	*now = now.Add(time.Minute)
	if got := s.get(k, 0); len(got) != 0 {
		t.Fatalf("expired record returned: %v", got)
	}
	if keys, recs := s.counts(); keys != 0 || recs != 0 {
		t.Fatalf("store holds %d keys %d records after expiry", keys, recs)
	}
}

func TestStoreBounds(t *testing.T) {
	s, now := testStore(2, 2, 3, time.Hour)
	k1, k2, k3 := routing.ContentKey([]byte("1")), routing.ContentKey([]byte("2")), routing.ContentKey([]byte("3"))
	if err := s.add(k1, peer.AddrInfo{ID: "a"}); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(time.Second)
	if err := s.add(k1, peer.AddrInfo{ID: "b"}); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(time.Second)
	// A third provider for k1 evicts the oldest (a).
	if err := s.add(k1, peer.AddrInfo{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	got := s.get(k1, 0)
	if len(got) != 2 {
		t.Fatalf("per-key bound: %d providers", len(got))
	}
	for _, p := range got {
		if p.ID == "a" {
			t.Fatal("oldest provider not evicted")
		}
	}
	if err := s.add(k2, peer.AddrInfo{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	if err := s.add(k3, peer.AddrInfo{ID: "d"}); !errors.Is(err, ErrStoreFull) {
		t.Fatalf("third key: %v, want ErrStoreFull", err)
	}
	// Per-peer quota: e holds at most 3 records.
	s2, _ := testStore(100, 100, 3, time.Hour)
	for i := range 3 {
		if err := s2.add(routing.ContentKey([]byte{byte(i)}), peer.AddrInfo{ID: "e"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s2.add(routing.ContentKey([]byte{9}), peer.AddrInfo{ID: "e"}); !errors.Is(err, ErrPeerQuota) {
		t.Fatalf("fourth record: %v, want ErrPeerQuota", err)
	}
	if keys, _ := s2.counts(); keys != 3 {
		t.Fatalf("refused record left a key behind: %d keys", keys)
	}
}
