package compare

import (
	"math"
	"math/rand/v2"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Lying members (Config.Byzantine). round(f·N) slots, drawn from the seed, run a Chord
// that lies in every answer (chord.NewAdversary with chord.AllLies); their
// replacements under churn lie too. Every Chord checks answers against the membership
// (the live node set, which the simulated gossip reports), as the daemon's Chord checks
// them against gossip's, liars or not. Lookups that start at a
// liar, or whose key a liar owns, are left out for every protocol alike: the rows
// measure honest nodes looking up honest-owned keys.

// liarSlots picks the lying slots of an n-node run.
func liarSlots(cfg Config, n int) map[int]bool {
	if cfg.Byzantine <= 0 {
		return nil
	}
	k := int(math.Round(cfg.Byzantine * float64(n)))
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(n)^0xb12a))
	out := make(map[int]bool, k)
	for _, slot := range rng.Perm(n)[:min(k, n)] {
		out[slot] = true
	}
	return out
}

// byzantineEnv marks env for the slot's node: a liar or not, and the membership. The
// membership check needs the membership's events too (a peer that was a member and
// left is no liar): with --feed none no PeerUp reaches Chord, so an honest node naming
// a crashed successor would count as a lie, and after a mass failure honest nodes ban
// each other. Without gossip and without liars Chord runs open, as the daemon does
// without a cluster secret.
func (s *simNet) byzantineEnv(env *startEnv, slot int) {
	if s.cfg.Feed != FeedNone || s.cfg.Byzantine > 0 {
		env.members = s.isMember
	}
	if s.cfg.Byzantine <= 0 {
		return
	}
	s.mu.Lock()
	if s.liars == nil {
		s.liars = liarSlots(s.cfg, s.n)
	}
	env.liar = s.liars[slot]
	s.mu.Unlock()
}

// isMember reports whether id is a live simulated node.
func (s *simNet) isMember(id peer.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.live[id]
	return ok
}

// isLiar reports whether id is the node of a lying slot.
func (s *simNet) isLiar(id peer.ID) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	nd := s.live[id]
	return nd != nil && s.liars[nd.slot]
}

// skipByzantine reports whether a lookup of key from nd is left out: nd lies, or a liar
// owns key.
func (s *simNet) skipByzantine(nd *simNode, key routing.Key) bool {
	if s.cfg.Byzantine <= 0 {
		return false
	}
	return s.isLiar(nd.id) || s.isLiar(s.oracle.Successor(key))
}

// startChord starts the node's Chord, checking answers against the membership: a lying
// one on a liar's slot.
func startChord(cfg chord.Config, env startEnv) (*chord.Chord, error) {
	cfg.IsMember = env.members
	if env.liar {
		return chord.NewAdversaryOn(env.chord, cfg, chord.AllLies(), nil)
	}
	return chord.NewOn(env.chord, cfg)
}
