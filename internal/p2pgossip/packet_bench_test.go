package p2pgossip

import (
	"bufio"
	"context"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// BenchmarkPacketPath compares the two ways of carrying memberlist packets on
// libp2p, one 200-byte packet (a typical ping or compound message) at a time,
// sent and received before the next:
//
//   - kept: this transport, frames on one kept stream per peer;
//   - stream-per-packet: a new stream for every packet (open, write, close).
//
// With DHTNODE_BENCH_NETNS=1 (run alone in a fresh network namespace, see
// BenchmarkGossipTransports) it also reports loopback bytes per packet.
func BenchmarkPacketPath(b *testing.B) {
	pkt := make([]byte, 200)
	b.Run("kept", func(b *testing.B) {
		a, c := newLoopbackHost(b), newLoopbackHost(b)
		ta, err := New(Config{Host: a})
		if err != nil {
			b.Fatal(err)
		}
		defer ta.Shutdown()
		tc, err := New(Config{Host: c})
		if err != nil {
			b.Fatal(err)
		}
		defer tc.Shutdown()
		a.Peerstore().AddAddrs(c.ID(), c.Addrs(), time.Hour)
		to := memberlist.Address{Addr: AddrOf(c.ID(), DefaultPort).String(), Name: c.ID().String()}
		send := func() {
			if _, err := ta.WriteToAddress(pkt, to); err != nil {
				b.Fatal(err)
			}
			select {
			case <-tc.PacketCh():
			case <-time.After(10 * time.Second):
				b.Fatal("packet lost")
			}
		}
		send() // connect first
		measurePackets(b, send)
	})
	b.Run("stream-per-packet", func(b *testing.B) {
		a, c := newLoopbackHost(b), newLoopbackHost(b)
		const proto = protocol.ID("/bench/packet/1.0.0")
		got := make(chan struct{}, 1)
		c.SetStreamHandler(proto, func(s network.Stream) {
			if _, err := readFrame(bufio.NewReader(s), DefaultMaxPacket); err == nil {
				got <- struct{}{}
			}
			_ = s.Close()
		})
		if err := a.Connect(context.Background(), peer.AddrInfo{ID: c.ID(), Addrs: c.Addrs()}); err != nil {
			b.Fatal(err)
		}
		send := func() {
			s, err := a.NewStream(context.Background(), c.ID(), proto)
			if err != nil {
				b.Fatal(err)
			}
			w := bufio.NewWriter(s)
			if err := writeFrame(w, pkt); err != nil || w.Flush() != nil {
				b.Fatal("write failed")
			}
			_ = s.Close()
			select {
			case <-got:
			case <-time.After(10 * time.Second):
				b.Fatal("packet lost")
			}
		}
		send()
		measurePackets(b, send)
	})
}

func measurePackets(b *testing.B, send func()) {
	lo0 := loBytes()
	b.ResetTimer()
	for range b.N {
		send()
	}
	b.StopTimer()
	if os.Getenv("DHTNODE_BENCH_NETNS") == "1" && lo0 >= 0 {
		b.ReportMetric(float64(loBytes()-lo0)/float64(b.N), "lo_B/pkt")
	}
}
