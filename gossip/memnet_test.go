package gossip

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestMemNetworkPacketsPartitionAndCounters(t *testing.T) {
	bubble(t, func(t *testing.T) {
		n := NewMemNetwork(WithQueueDepth(2))
		a, _ := n.NewTransport("10.0.0.1:1")
		b, _ := n.NewTransport("10.0.0.2:1")
		if _, err := n.NewTransport("10.0.0.2:1"); err == nil {
			t.Fatal("duplicate address accepted")
		}
		if _, err := n.NewTransport("host:1"); err == nil {
			t.Fatal("hostname accepted")
		}
		if _, err := a.WriteTo([]byte("hi"), "10.0.0.2:1"); err != nil {
			t.Fatal(err)
		}
		p := <-b.PacketCh()
		if string(p.Buf) != "hi" || p.From.String() != "10.0.0.1:1" {
			t.Fatalf("got %q from %v", p.Buf, p.From)
		}
		// The queue holds 2; the third is dropped, never blocking the sender.
		for range 3 {
			_, _ = a.WriteTo([]byte("x"), "10.0.0.2:1")
		}
		if got := n.Traffic("10.0.0.1:1"); got.PacketsSent != 4 || got.PacketsDropped != 1 || got.BytesSent != 5 {
			t.Fatalf("sender traffic %+v", got)
		}
		<-b.PacketCh()
		<-b.PacketCh()

		n.Partition([]string{"10.0.0.1:1"}, []string{"10.0.0.2:1"})
		_, _ = a.WriteTo([]byte("lost"), "10.0.0.2:1")
		if _, err := a.DialTimeout("10.0.0.2:1", time.Second); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("dial across partition: %v", err)
		}
		n.Heal()
		_, _ = a.WriteTo([]byte("back"), "10.0.0.2:1")
		if p := <-b.PacketCh(); string(p.Buf) != "back" {
			t.Fatalf("after heal got %q", p.Buf)
		}
		if got := n.Traffic("10.0.0.2:1"); got.PacketsReceived != 4 {
			t.Fatalf("receiver traffic %+v", got)
		}
		if tot := n.TotalTraffic(); tot.PacketsSent != 6 || tot.PacketsDropped != 2 {
			t.Fatalf("total %+v", tot)
		}
	})
}

func TestMemNetworkLatencyAndStreams(t *testing.T) {
	bubble(t, func(t *testing.T) {
		n := NewMemNetwork(WithLatency(func(from, to string) time.Duration { return 40 * time.Millisecond }))
		a, _ := n.NewTransport("")
		b, _ := n.NewTransport("")
		ip, port, _ := b.FinalAdvertiseAddr("", 0)
		addr := (&memberlist.Node{Addr: ip, Port: uint16(port)}).Address()

		start := time.Now()
		_, _ = a.WriteToAddress([]byte("ping"), memberlist.Address{Addr: addr})
		p := <-b.PacketCh()
		if d := p.Timestamp.Sub(start); d != 40*time.Millisecond {
			t.Fatalf("packet took %v, want 40ms", d)
		}

		go func() {
			c := <-b.StreamCh()
			buf := make([]byte, 5)
			_, _ = io.ReadFull(c, buf)
			_, _ = c.Write(buf)
			_ = c.Close()
		}()
		c, err := a.DialTimeout(addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		echo, _ := io.ReadAll(c)
		if string(echo) != "hello" || c.RemoteAddr().String() != addr {
			t.Fatalf("echo %q remote %v", echo, c.RemoteAddr())
		}
		ta := n.Traffic(a.(*memTransport).addr)
		if ta.StreamsOpened != 1 || ta.BytesSent != 4+5 || ta.BytesReceived != 5 {
			t.Fatalf("traffic %+v", ta)
		}
		// A dial slower than its timeout fails.
		if _, err := a.DialTimeout(addr, 10*time.Millisecond); err == nil {
			t.Fatal("dial beat its timeout")
		}
		// After shutdown the address is free again and packets to the old one drop.
		_ = b.Shutdown()
		if _, err := n.NewTransport(addr); err != nil {
			t.Fatalf("reuse after shutdown: %v", err)
		}
	})
}
