package memhost

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// peerstoreView is a host's peerstore, read from the network's directory: a peer's
// addresses and protocols are those its host has, its key is in its ID. Writes of
// addresses and protocols are accepted and dropped (the directory already knows
// better); metadata is kept per host, as few write any.
type peerstoreView struct {
	h *Host

	mu   sync.Mutex
	meta map[peer.ID]map[string]any
}

var _ peerstore.Peerstore = (*peerstoreView)(nil)

func (ps *peerstoreView) Close() error { return nil }

func (ps *peerstoreView) PeerInfo(p peer.ID) peer.AddrInfo {
	return peer.AddrInfo{ID: p, Addrs: ps.Addrs(p)}
}

// Peers returns every host the network has had.
func (ps *peerstoreView) Peers() peer.IDSlice { return ps.h.net.peers() }

func (ps *peerstoreView) RemovePeer(p peer.ID) {
	ps.mu.Lock()
	delete(ps.meta, p)
	ps.mu.Unlock()
}

// AddrBook: the directory's addresses.

func (ps *peerstoreView) Addrs(p peer.ID) []ma.Multiaddr {
	if p == ps.h.id {
		return ps.h.Addrs()
	}
	return ps.h.net.addrsOf(p)
}

func (ps *peerstoreView) AddAddr(peer.ID, ma.Multiaddr, time.Duration)      {}
func (ps *peerstoreView) AddAddrs(peer.ID, []ma.Multiaddr, time.Duration)   {}
func (ps *peerstoreView) SetAddr(peer.ID, ma.Multiaddr, time.Duration)      {}
func (ps *peerstoreView) SetAddrs(peer.ID, []ma.Multiaddr, time.Duration)   {}
func (ps *peerstoreView) UpdateAddrs(peer.ID, time.Duration, time.Duration) {}
func (ps *peerstoreView) ClearAddrs(peer.ID)                                {}
func (ps *peerstoreView) PeersWithAddrs() peer.IDSlice                      { return ps.Peers() }
func (ps *peerstoreView) AddrStream(_ context.Context, p peer.ID) <-chan ma.Multiaddr {
	addrs := ps.Addrs(p)
	out := make(chan ma.Multiaddr, len(addrs))
	for _, a := range addrs {
		out <- a
	}
	close(out)
	return out
}

// KeyBook: public keys from the IDs (Ed25519 IDs embed them), the own private key.

func (ps *peerstoreView) PubKey(p peer.ID) ic.PubKey {
	k, err := p.ExtractPublicKey()
	if err != nil {
		return nil
	}
	return k
}

func (ps *peerstoreView) AddPubKey(p peer.ID, k ic.PubKey) error {
	if !p.MatchesPublicKey(k) {
		return errors.New("memhost: public key does not match peer ID")
	}
	return nil
}

func (ps *peerstoreView) PrivKey(p peer.ID) ic.PrivKey {
	if p == ps.h.id {
		return ps.h.priv
	}
	return nil
}

func (ps *peerstoreView) AddPrivKey(p peer.ID, k ic.PrivKey) error {
	if p != ps.h.id || !p.MatchesPrivateKey(k) {
		return errors.New("memhost: only the host's own private key is kept")
	}
	return nil
}

func (ps *peerstoreView) PeersWithKeys() peer.IDSlice { return ps.Peers() }

// Metrics: no latencies. A simulation models latency itself; measured here, it
// would be this machine's scheduling delay.

func (ps *peerstoreView) RecordLatency(peer.ID, time.Duration) {}
func (ps *peerstoreView) LatencyEWMA(peer.ID) time.Duration    { return 0 }

// PeerMetadata.

func (ps *peerstoreView) Get(p peer.ID, key string) (any, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	v, ok := ps.meta[p][key]
	if !ok {
		return nil, peerstore.ErrNotFound
	}
	return v, nil
}

func (ps *peerstoreView) Put(p peer.ID, key string, val any) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.meta == nil {
		ps.meta = make(map[peer.ID]map[string]any)
	}
	if ps.meta[p] == nil {
		ps.meta[p] = make(map[string]any)
	}
	ps.meta[p][key] = val
	return nil
}

// ProtoBook: the protocols each host handles.

func (ps *peerstoreView) GetProtocols(p peer.ID) ([]protocol.ID, error) {
	return append([]protocol.ID(nil), ps.h.net.protocolsOf(p)...), nil
}

func (ps *peerstoreView) AddProtocols(peer.ID, ...protocol.ID) error    { return nil }
func (ps *peerstoreView) SetProtocols(peer.ID, ...protocol.ID) error    { return nil }
func (ps *peerstoreView) RemoveProtocols(peer.ID, ...protocol.ID) error { return nil }

func (ps *peerstoreView) SupportsProtocols(p peer.ID, protos ...protocol.ID) ([]protocol.ID, error) {
	have := ps.h.net.protocolsOf(p)
	var out []protocol.ID
	for _, pid := range protos {
		if contains(have, pid) {
			out = append(out, pid)
		}
	}
	return out, nil
}

func (ps *peerstoreView) FirstSupportedProtocol(p peer.ID, protos ...protocol.ID) (protocol.ID, error) {
	have := ps.h.net.protocolsOf(p)
	for _, pid := range protos {
		if contains(have, pid) {
			return pid, nil
		}
	}
	return "", nil
}

func contains(sorted []protocol.ID, pid protocol.ID) bool {
	_, found := slices.BinarySearch(sorted, pid)
	return found
}
