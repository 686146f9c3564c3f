package kademlia

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestIsLocalIP(t *testing.T) {
	for ip, want := range map[string]bool{
		"127.0.0.1": true, "10.1.2.3": true, "192.168.0.9": true, "172.20.0.1": true,
		"169.254.1.1": true, "::1": true, "fd00::1": true, "fe80::1": true,
		"8.8.8.8": false, "1.2.3.4": false, "2001:4860::8888": false, "100::1": false,
	} {
		if got := isLocalIP(net.ParseIP(ip)); got != want {
			t.Errorf("isLocalIP(%s) = %v, want %v", ip, got, want)
		}
	}
}

// On real loopback hosts every peer is in IP group 127.0.0.0: kad-dht's strict
// filter keeps at most 3 of them in the whole table, the default (public-only)
// filter keeps all. This is the reason the default exists.
func TestDiversityFilterOnLoopback(t *testing.T) {
	const n = 8
	for _, tc := range []struct {
		mode             string
		wantMin, wantMax int
	}{
		{mode: DiversityPublic, wantMin: n - 1, wantMax: n - 1},
		{mode: DiversityStrict, wantMin: 1, wantMax: 3},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var hosts []host.Host
			var routers []*Router
			for range n {
				h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = h.Close() })
				cfg := TestConfig()
				cfg.IPDiversity = tc.mode
				r, err := New(h, cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = r.Close() })
				hosts = append(hosts, h)
				routers = append(routers, r)
			}
			r0 := routers[0]
			for _, h := range hosts[1:] {
				r0.PeerUp(peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
			}
			// PeerUp dials in the background; wait until every dial has settled.
			deadline := time.Now().Add(30 * time.Second)
			for {
				connected := 0
				for _, h := range hosts[1:] {
					if len(hosts[0].Network().ConnsToPeer(h.ID())) > 0 {
						connected++
					}
				}
				r0.mu.Lock()
				pending := len(r0.pending)
				r0.mu.Unlock()
				if connected == n-1 && pending == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after 30 s: %d of %d connected, %d dials pending", connected, n-1, pending)
				}
				time.Sleep(20 * time.Millisecond)
			}
			got := r0.RoutingTable().Entries()
			if got < tc.wantMin || got > tc.wantMax {
				t.Fatalf("%s filter: table has %d peers, want %d..%d", tc.mode, got, tc.wantMin, tc.wantMax)
			}
			// A lookup works either way.
			if _, _, err := r0.Lookup(context.Background(), randomKey(newRand())); err != nil {
				t.Fatal(err)
			}
		})
	}
}
