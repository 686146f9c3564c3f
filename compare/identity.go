package compare

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// Everything random in a run is derived from the seed through these streams, so the
// same seed gives the same node IDs, coordinates, keys, originators and churn
// schedule, whatever the protocols and whatever the timing of the run.

// nodeKey is the Ed25519 identity of incarnation inc of node slot (slot 0..N-1 is a
// place in the network; each time a node there departs, a new incarnation replaces it).
// It is derived, not drawn, so that it does not depend on the order of events.
func nodeKey(seed uint64, slot, inc int) crypto.PrivKey {
	var b [8 + 8 + 8 + 16]byte
	copy(b[:16], "dhtnode/compare/")
	binary.BigEndian.PutUint64(b[16:], seed)
	binary.BigEndian.PutUint64(b[24:], uint64(slot))
	binary.BigEndian.PutUint64(b[32:], uint64(inc))
	edSeed := sha256.Sum256(b[:])
	priv := ed25519.NewKeyFromSeed(edSeed[:])
	k, err := crypto.UnmarshalEd25519PrivateKey(priv)
	if err != nil {
		panic("compare: ed25519 key from seed: " + err.Error()) // 64 valid bytes by construction
	}
	return k
}

// stream returns an independent deterministic generator for one purpose.
func stream(seed uint64, purpose string, a, b uint64) *rand.Rand {
	h := sha256.Sum256(append([]byte(purpose), byte(a), byte(a>>8), byte(a>>16), byte(a>>24), byte(b), byte(b>>8)))
	return rand.New(rand.NewPCG(seed^binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:16])))
}
