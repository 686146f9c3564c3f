package chord

import (
	"crypto/rand"
	"fmt"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Lies selects what an adversarial node (NewAdversary) lies about. They are the attacks
// a correctly signed gossip member can make on Chord; the tests and `compare
// --byzantine` use them to show that an honest node checking answers against the
// membership (Config.IsMember) is not misled.
type Lies struct {
	// FakeReferrals answers find_successor for half the keys with referrals to peers
	// that do not exist (Fakes): each costs a querier that follows it an RPC timeout.
	FakeReferrals bool
	// FakeNeighbours answers neighbours with a fake predecessor followed by fake
	// successors, so a stabilizing predecessor that believes it replaces its successor
	// list.
	FakeNeighbours bool
	// ClaimOwnership answers find_successor for the other half of the keys (all of
	// them without FakeReferrals) with "found: I am the owner".
	ClaimOwnership bool
	// DropProviders acknowledges provider records and handoffs, keeps nothing, and
	// answers get_providers with none.
	DropProviders bool
}

// AllLies is every lie at once.
func AllLies() Lies {
	return Lies{FakeReferrals: true, FakeNeighbours: true, ClaimOwnership: true, DropProviders: true}
}

// adversary is the lying part of a Chord node made by NewAdversary.
type adversary struct {
	lies  Lies
	fakes []Peer
	infos map[peer.ID]peerInfo
}

// fakePool is how many fresh identities NewAdversary mints when given none.
const fakePool = 32

// NewAdversary starts a Chord node on h that runs the protocol like any other (so it is
// in the ring and gets asked) but lies in its answers as lies says. fakes are the
// nonexistent peers it names (for instance hosts that accept streams and never answer);
// with none it mints fakePool fresh identities at h's own addresses. It exists to test
// and measure honest nodes under attack; nothing in the daemon starts one.
func NewAdversary(h host.Host, cfg Config, lies Lies, fakes []peer.AddrInfo) (*Chord, error) {
	return NewAdversaryOn(NewHostTransport(h), cfg, lies, fakes)
}

// NewAdversaryOn is NewAdversary on any Transport (a MemNetwork's, for simulations).
func NewAdversaryOn(h Transport, cfg Config, lies Lies, fakes []peer.AddrInfo) (*Chord, error) {
	a := &adversary{lies: lies, infos: map[peer.ID]peerInfo{}}
	if len(fakes) == 0 {
		for range fakePool {
			_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
			if err != nil {
				return nil, fmt.Errorf("chord: adversary identity: %w", err)
			}
			id, err := peer.IDFromPublicKey(pub)
			if err != nil {
				return nil, fmt.Errorf("chord: adversary identity: %w", err)
			}
			fakes = append(fakes, peer.AddrInfo{ID: id, Addrs: h.Addrs()})
		}
	}
	for _, f := range fakes {
		p := NewPeer(f.ID)
		a.fakes = append(a.fakes, p)
		a.infos[f.ID] = clampPeer(peerInfo{ID: f.ID, Addrs: f.Addrs})
	}
	return start(h, cfg, a)
}

// between returns up to n fakes in (from, to), closest to to first (any fakes when none
// lie there, so every answer carries a lie).
func (a *adversary) between(from, to routing.Key, n int) []peerInfo {
	var in []Peer
	for _, p := range a.fakes {
		if routing.InOpen(p.Key, from, to) {
			in = append(in, p)
		}
	}
	if len(in) == 0 {
		in = append(in, a.fakes...)
	}
	sortTowards(in, to)
	out := make([]peerInfo, 0, n)
	for _, p := range in[:min(n, len(in))] {
		out = append(out, a.infos[p.ID])
	}
	return out
}

// answer is the lying reply to req, or nil to answer it honestly.
func (a *adversary) answer(c *Chord, req *message) *message {
	self := c.info(c.self)
	switch req.Type {
	case msgFindSuccessor:
		if !req.HasKey {
			return nil
		}
		claim := a.lies.ClaimOwnership && (!a.lies.FakeReferrals || req.Key[routing.KeyLen-1]&1 == 0)
		switch {
		case claim:
			return &message{Type: msgResponse, Found: true, Peers: append([]peerInfo{self}, a.between(c.self.Key, c.self.Key, c.cfg.Successors-1)...)}
		case a.lies.FakeReferrals:
			refs := a.between(c.self.Key, req.Key, c.cfg.ReferralWidth)
			return &message{Type: msgResponse, Peers: refs, Succs: a.between(c.self.Key, req.Key, c.cfg.Successors)}
		}
	case msgNeighbours:
		if a.lies.FakeNeighbours {
			// A predecessor just before us, then fake successors: whoever believes
			// it drops us for the fake and its real successors for fakes.
			pred := a.between(c.self.Key.Add(routing.PowerOfTwo(routing.KeyBits-1)), c.self.Key, 1)
			return &message{Type: msgResponse, Found: true, Peers: append(pred, a.between(c.self.Key, c.self.Key, c.cfg.Successors)...)}
		}
	case msgAddProvider, msgHandoff:
		if a.lies.DropProviders {
			return &message{Type: msgResponse}
		}
	case msgGetProviders:
		if a.lies.DropProviders {
			return &message{Type: msgResponse}
		}
	}
	return nil
}
