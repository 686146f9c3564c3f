package chord

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Errors from the provider store, sent back to the announcing peer as an error reply.
var (
	// ErrKeyFull means the key already has MaxProvidersPerKey providers.
	ErrKeyFull = errors.New("chord: too many providers for this key")
	// ErrPeerFull means the announcing peer already has MaxRecordsPerPeer records here.
	ErrPeerFull = errors.New("chord: too many records from this peer")
	// ErrStoreFull means the node holds MaxRecords records in total.
	ErrStoreFull = errors.New("chord: provider store full")
)

// providerEntry is one stored provider record.
type providerEntry struct {
	addrs   []ma.Multiaddr
	expires time.Time
}

// providerStore holds the provider records this node keeps as owner or replica. Pure:
// the caller passes the time in and holds the lock. Bounds keep one peer from filling
// our memory: per key, per providing peer, and in total.
type providerStore struct {
	maxPerKey, maxPerPeer, maxTotal int
	byKey                           map[routing.Key]map[peer.ID]providerEntry
	perPeer                         map[peer.ID]int
	total                           int
}

func newProviderStore(maxPerKey, maxPerPeer, maxTotal int) *providerStore {
	return &providerStore{
		maxPerKey: maxPerKey, maxPerPeer: maxPerPeer, maxTotal: maxTotal,
		byKey:   map[routing.Key]map[peer.ID]providerEntry{},
		perPeer: map[peer.ID]int{},
	}
}

// put adds or refreshes a record. Refreshing never fails on bounds; a later expiry wins.
func (s *providerStore) put(key routing.Key, p peer.ID, addrs []ma.Multiaddr, expires time.Time) error {
	m := s.byKey[key]
	if e, ok := m[p]; ok {
		if expires.After(e.expires) {
			e.expires = expires
		}
		if len(addrs) > 0 {
			e.addrs = addrs
		}
		m[p] = e
		return nil
	}
	switch {
	case s.total >= s.maxTotal:
		return ErrStoreFull
	case s.perPeer[p] >= s.maxPerPeer:
		return ErrPeerFull
	case len(m) >= s.maxPerKey:
		return ErrKeyFull
	}
	if m == nil {
		m = map[peer.ID]providerEntry{}
		s.byKey[key] = m
	}
	m[p] = providerEntry{addrs: addrs, expires: expires}
	s.perPeer[p]++
	s.total++
	return nil
}

// get returns the unexpired providers of key, in peer ID order (stable output).
func (s *providerStore) get(key routing.Key, now time.Time) []record {
	var out []record
	for p, e := range s.byKey[key] {
		if e.expires.After(now) {
			out = append(out, record{Key: key, Provider: peerInfo{ID: p, Addrs: e.addrs}, TTL: ttlSeconds(e.expires.Sub(now))})
		}
	}
	slices.SortFunc(out, func(a, b record) int { return cmp.Compare(a.Provider.ID, b.Provider.ID) })
	return out
}

// inRange returns the unexpired records whose key lies in (from, to], for handing over
// to a node that joined in front of us.
func (s *providerStore) inRange(from, to routing.Key, now time.Time) []record {
	var out []record
	for k := range s.byKey {
		if routing.InOpenClosed(k, from, to) {
			out = append(out, s.get(k, now)...)
		}
	}
	return out
}

// expire drops records whose time has passed and returns how many it dropped.
func (s *providerStore) expire(now time.Time) int {
	n := 0
	for k, m := range s.byKey {
		for p, e := range m {
			if !e.expires.After(now) {
				delete(m, p)
				s.drop(p)
				n++
			}
		}
		if len(m) == 0 {
			delete(s.byKey, k)
		}
	}
	return n
}

func (s *providerStore) drop(p peer.ID) {
	s.total--
	if s.perPeer[p]--; s.perPeer[p] <= 0 {
		delete(s.perPeer, p)
	}
}

func (s *providerStore) len() int { return s.total }

func ttlSeconds(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Second - 1) / time.Second)
}
