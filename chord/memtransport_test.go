package chord_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// memID is a deterministic peer ID (identity multihash of a 16-byte value): enough for
// the ring, no keys needed.
func memID(i int) peer.ID {
	var b [16]byte
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	h := sha256.Sum256(b[:])
	id, err := peer.IDFromBytes(append([]byte{0x00, 0x20}, h[:]...))
	if err != nil {
		panic(err)
	}
	return id
}

// successorOf is the oracle: the first live node at or after key.
func successorOf(live []chord.Peer, key routing.Key) peer.ID {
	slices.SortFunc(live, func(a, b chord.Peer) int { return a.Key.Cmp(b.Key) })
	for _, p := range live {
		if p.Key.Cmp(key) >= 0 {
			return p.ID
		}
	}
	return live[0].ID
}

// TestMemNetworkRing: Chord on the in-memory transport joins, stabilizes and answers
// every lookup with the key's successor, its addresses carried by the network, and
// counts every message it writes.
func TestMemNetworkRing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 64
		var writes atomic.Int64
		net := chord.NewMemNetwork()
		net.Count = func(int) { writes.Add(1) }
		_, ring := memRingOn(t, net, n)
		time.Sleep(60 * time.Second) // stabilization and a full finger sweep, on fake time
		var live []chord.Peer
		for _, c := range ring {
			live = append(live, c.Self())
		}
		for k := range 200 {
			key := routing.ContentKey(fmt.Appendf(nil, "key-%d", k))
			from := ring[k%n]
			owners, tr, err := from.Lookup(context.Background(), key)
			if err != nil {
				t.Fatalf("lookup %d: %v", k, err)
			}
			if want := successorOf(live, key); owners[0].ID != want {
				t.Fatalf("lookup %d: owner %s, want %s", k, owners[0].ID, want)
			}
			if owners[0].ID != from.Self().ID && len(owners[0].Addrs) != 1 {
				t.Fatalf("lookup %d: owner addresses %v, want the attached one", k, owners[0].Addrs)
			}
			if tr.Hops > 8 {
				t.Fatalf("lookup %d took %d hops in a ring of %d", k, tr.Hops, n)
			}
		}
		if writes.Load() == 0 || net.Len() != n {
			t.Fatalf("writes counted %d, attached %d", writes.Load(), net.Len())
		}
	})
}

// memRingOn starts n Chord nodes on net, each joining through node 0.
func memRingOn(t *testing.T, net *chord.MemNetwork, n int) (*chord.MemNetwork, []*chord.Chord) {
	t.Helper()
	var nodes []*chord.Chord
	t.Cleanup(func() {
		for _, c := range nodes {
			_ = c.Close()
		}
	})
	for i := range n {
		addr := ma.StringCast(fmt.Sprintf("/ip4/10.0.%d.%d/tcp/4001", i>>8, i&255))
		c, err := chord.NewOn(net.Attach(memID(i), []ma.Multiaddr{addr}), chord.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, c)
		if i > 0 {
			if err := c.Join(context.Background(), peer.AddrInfo{ID: memID(0)}); err != nil {
				t.Fatalf("join of node %d: %v", i, err)
			}
		}
	}
	return net, nodes
}

// TestMemNetworkDetach: a detached (crashed) node is refused at once, and the ring
// routes around it: lookups name the live successor.
func TestMemNetworkDetach(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 32
		net, ring := memRingOn(t, chord.NewMemNetwork(), n)
		time.Sleep(40 * time.Second)
		dead := ring[5]
		net.Detach(dead.Self().ID)
		_ = dead.Close()
		ring = slices.Delete(slices.Clone(ring), 5, 6)
		time.Sleep(10 * time.Second)
		var live []chord.Peer
		for _, c := range ring {
			live = append(live, c.Self())
		}
		for k := range 100 {
			key := routing.ContentKey(fmt.Appendf(nil, "k%d", k))
			owners, _, err := ring[k%len(ring)].Lookup(context.Background(), key)
			if err != nil {
				t.Fatalf("lookup %d: %v", k, err)
			}
			if want := successorOf(live, key); owners[0].ID != want {
				t.Fatalf("lookup %d: owner %s, want %s", k, owners[0].ID, want)
			}
		}
		_, err := chord.NewMemNetwork().Attach(memID(1), nil).NewStream(context.Background(), dead.Self().ID)
		if !errors.Is(err, chord.ErrUnreachable) {
			t.Fatalf("stream to a detached node: %v, want ErrUnreachable", err)
		}
	})
}

// TestMemNetworkMalformed: a request that does not decode gets the stream reset, as
// on libp2p, and the node keeps serving.
func TestMemNetworkMalformed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		net, ring := memRingOn(t, chord.NewMemNetwork(), 2)
		probe := net.Attach(memID(99), nil)
		s, err := probe.NewStream(context.Background(), ring[0].Self().ID)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = s.Write([]byte{0x05, 0xff, 0xff, 0xff, 0xff, 0xff})
		_ = s.CloseWrite()
		if _, err := io.ReadAll(s); err == nil {
			t.Fatal("malformed request answered; want the stream reset")
		}
		if _, _, err := ring[1].Lookup(context.Background(), routing.ContentKey([]byte("x"))); err != nil {
			t.Fatalf("lookup after a malformed request: %v", err)
		}
	})
}
