package onehop

import (
	"errors"
	"sync"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Errors from the provider store.
var (
	// ErrStoreFull means the store holds MaxKeys keys and the record's key is new.
	ErrStoreFull = errors.New("onehop: provider store full")
	// ErrPeerQuota means the providing peer already holds MaxRecordsPerPeer records here.
	ErrPeerQuota = errors.New("onehop: provider quota for peer exceeded")
)

type providerRecord struct {
	addrs   []ma.Multiaddr
	expires time.Time
}

// providerStore keeps provider records with a TTL under three bounds: distinct keys,
// providers per key (the oldest-expiring is evicted for a newer one) and records per
// providing peer. Expired records are dropped when touched and by sweep.
type providerStore struct {
	mu          sync.Mutex
	now         func() time.Time
	ttl         time.Duration
	maxKeys     int
	maxPerKey   int
	maxPerPeer  int
	records     map[routing.Key]map[peer.ID]providerRecord
	perProvider map[peer.ID]int
}

func newProviderStore(cfg Config, now func() time.Time) *providerStore {
	return &providerStore{
		now:         now,
		ttl:         cfg.ProviderTTL.Std(),
		maxKeys:     cfg.MaxKeys,
		maxPerKey:   cfg.MaxProvidersPerKey,
		maxPerPeer:  cfg.MaxRecordsPerPeer,
		records:     make(map[routing.Key]map[peer.ID]providerRecord),
		perProvider: make(map[peer.ID]int),
	}
}

// add stores or refreshes p as a provider of key.
func (s *providerStore) add(key routing.Key, p peer.AddrInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	recs := s.records[key]
	if recs == nil {
		if len(s.records) >= s.maxKeys {
			s.sweepLocked(now)
			if len(s.records) >= s.maxKeys {
				return ErrStoreFull
			}
		}
		recs = make(map[peer.ID]providerRecord)
		s.records[key] = recs
	}
	rec := providerRecord{addrs: p.Addrs, expires: now.Add(s.ttl)}
	if _, ok := recs[p.ID]; ok {
		recs[p.ID] = rec
		return nil
	}
	if s.perProvider[p.ID] >= s.maxPerPeer {
		if len(recs) == 0 {
			delete(s.records, key)
		}
		return ErrPeerQuota
	}
	if len(recs) >= s.maxPerKey {
		s.expireKeyLocked(key, recs, now)
	}
	if len(recs) >= s.maxPerKey {
		// Evict the record closest to expiry: the provider least recently heard from.
		var oldest peer.ID
		var oldestAt time.Time
		for id, r := range recs {
			if oldest == "" || r.expires.Before(oldestAt) {
				oldest, oldestAt = id, r.expires
			}
		}
		s.dropLocked(key, recs, oldest)
	}
	recs[p.ID] = rec
	s.records[key] = recs // an eviction may have emptied and unlinked it
	s.perProvider[p.ID]++
	return nil
}

// get returns up to limit unexpired providers of key (limit <= 0: all).
func (s *providerStore) get(key routing.Key, limit int) []peer.AddrInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.records[key]
	if recs == nil {
		return nil
	}
	s.expireKeyLocked(key, recs, s.now())
	var out []peer.AddrInfo
	for id, r := range recs {
		if limit > 0 && len(out) >= limit {
			break
		}
		out = append(out, peer.AddrInfo{ID: id, Addrs: r.addrs})
	}
	return out
}

// sweep drops every expired record.
func (s *providerStore) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
}

func (s *providerStore) sweepLocked(now time.Time) {
	for key, recs := range s.records {
		s.expireKeyLocked(key, recs, now)
	}
}

func (s *providerStore) expireKeyLocked(key routing.Key, recs map[peer.ID]providerRecord, now time.Time) {
	for id, r := range recs {
		if !now.Before(r.expires) {
			s.dropLocked(key, recs, id)
		}
	}
}

func (s *providerStore) dropLocked(key routing.Key, recs map[peer.ID]providerRecord, id peer.ID) {
	delete(recs, id)
	if s.perProvider[id]--; s.perProvider[id] <= 0 {
		delete(s.perProvider, id)
	}
	if len(recs) == 0 {
		delete(s.records, key)
	}
}

// counts returns the number of keys and records held, for tests and metrics.
func (s *providerStore) counts() (keys, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, recs := range s.records {
		records += len(recs)
	}
	return len(s.records), records
}
