package kademlia

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
)

// TestStreamPerRequest runs the same lookups and provider records with one stream
// per request: every answer is the oracle's, and once they are done no kad stream
// is left open at either end (kad-dht's own sender keeps one per pair of peers).
func TestStreamPerRequest(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := TestConfig()
		cfg.StreamPerRequest = true
		c := newCluster(t, sized(32), cfg)
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(32, 2))

		s := c.lookups(ctx, rng, lookupCount(300))
		t.Logf("%v", s)
		if s.wrong != 0 || s.rpcs == 0 {
			t.Fatalf("%d of %d lookups missed the closest live peer (%d RPCs)", s.wrong, s.n, s.rpcs)
		}
		key := routing.ContentKey([]byte("provided over one stream per request"))
		provider := c.nodes[rng.IntN(len(c.nodes))]
		if _, err := provider.r.Provide(ctx, key); err != nil {
			t.Fatalf("provide: %v", err)
		}
		c.expectProvider(ctx, key, provider.h.ID())

		open := func() (n int) {
			for _, nd := range c.nodes {
				for _, conn := range nd.h.Network().Conns() {
					for _, st := range conn.GetStreams() {
						if strings.Contains(string(st.Protocol()), "/kad/") {
							n++
						}
					}
				}
			}
			return n
		}
		// The server's handler ends when it reads the end of the stream: poll for it.
		deadline := time.Now().Add(30 * time.Second)
		for open() > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := open(); n != 0 {
			t.Fatalf("%d kad streams still open after the requests were answered", n)
		}
	})
}

// TestStreamPerRequestBadPeers: a peer that never answers costs a request at most
// requestTimeout, also on mocknet, whose streams ignore deadlines; a peer that answers
// with garbage or hangs up mid-message gets an error, not a panic and not a hang.
func TestStreamPerRequestBadPeers(t *testing.T) {
	bubble(t, func(t *testing.T) {
		mn, err := mocknet.FullMeshLinked(2)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = mn.Close() }()
		a, b := mn.Hosts()[0], mn.Hosts()[1]
		const proto = protocol.ID("/dhtnode/kad/1.0.0")
		var answer atomic.Pointer[[]byte] // nil: stay silent
		b.SetStreamHandler(proto, func(s network.Stream) {
			buf := make([]byte, 1024)
			_, _ = s.Read(buf) // the request
			bad := answer.Load()
			if bad == nil {
				_, _ = io.Copy(io.Discard, s) // until the sender resets the stream
				return
			}
			_, _ = s.Write(*bad)
			_ = s.Close()
		})
		rs := newRequestSender(a, []protocol.ID{proto})
		req := &pb.Message{Type: pb.Message_FIND_NODE, Key: []byte("key")}

		start := time.Now()
		_, err = rs.SendRequest(context.Background(), b.ID(), req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("silent peer: err = %v, want the request timeout", err)
		}
		if took := time.Since(start); took > 2*requestTimeout {
			t.Fatalf("silent peer held the request for %v", took)
		}

		for name, bad := range map[string][]byte{
			"garbage":   {0x05, 0xff, 0xff, 0xff, 0xff, 0xff},
			"truncated": {0x40, 0x08},
			"oversized": binary.AppendUvarint(nil, 64<<20),
			"no answer": nil,
		} {
			answer.Store(&bad)
			if m, err := rs.SendRequest(context.Background(), b.ID(), req); err == nil {
				t.Errorf("%s: got answer %v, want an error", name, m)
			}
		}
	})
}
