package memhost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	ma "github.com/multiformats/go-multiaddr"
	mstream "github.com/multiformats/go-multistream"
)

const echo = protocol.ID("/test/echo/1")

var eventbusBuf = eventbus.BufSize(64)

func newHost(t *testing.T, n *Network, i int) *Host {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := n.AddHost(priv, ma.StringCast(fmt.Sprintf("/ip4/100.64.0.%d/tcp/4001", i)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// echoHandler answers each line with the line, until the stream ends.
func echoHandler(s network.Stream) {
	defer s.Close()
	r := bufio.NewReader(s)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := io.WriteString(s, line); err != nil {
			return
		}
	}
}

func TestStreamRoundTripAndHalfClose(t *testing.T) {
	n := NewNetwork()
	a, b := newHost(t, n, 1), newHost(t, n, 2)
	b.SetStreamHandler(echo, echoHandler)

	s, err := a.NewStream(context.Background(), b.ID(), "/test/other/1", echo)
	if err != nil {
		t.Fatal(err)
	}
	if s.Protocol() != echo {
		t.Fatalf("negotiated %q, want %q (the first protocol the remote handles)", s.Protocol(), echo)
	}
	if _, err := io.WriteString(s, "hello\nworld\n"); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(s) // the handler sees EOF after both lines, answers, closes
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello\nworld\n" {
		t.Fatalf("echo = %q", got)
	}
	if _, err := s.Write([]byte("x")); err == nil {
		t.Fatal("write after CloseWrite succeeded")
	}
	_ = s.Close()
	if st := s.Conn().RemotePeer(); st != b.ID() {
		t.Fatalf("stream's remote peer %s, want %s", st, b.ID())
	}
	waitFor(t, "the stream to leave its connection", func() bool {
		return len(a.Network().ConnsToPeer(b.ID())[0].GetStreams()) == 0
	})
}

func TestNewStreamUnsupportedProtocol(t *testing.T) {
	n := NewNetwork()
	a, b := newHost(t, n, 1), newHost(t, n, 2)
	b.SetStreamHandler(echo, echoHandler)
	_, err := a.NewStream(context.Background(), b.ID(), "/test/none/1")
	var unsupported mstream.ErrNotSupported[protocol.ID]
	if !errors.As(err, &unsupported) {
		t.Fatalf("err = %v, want multistream's ErrNotSupported", err)
	}
	b.RemoveStreamHandler(echo)
	if _, err := a.NewStream(context.Background(), b.ID(), echo); !errors.As(err, &unsupported) {
		t.Fatalf("after RemoveStreamHandler: err = %v, want ErrNotSupported", err)
	}
}

func TestMatchHandler(t *testing.T) {
	n := NewNetwork()
	a, b := newHost(t, n, 1), newHost(t, n, 2)
	b.SetStreamHandlerMatch("/test/echo", func(p protocol.ID) bool { return p == "/test/echo/2" }, echoHandler)
	s, err := a.NewStream(context.Background(), b.ID(), "/test/echo/2")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Protocol() != "/test/echo/2" {
		t.Fatalf("protocol %q", s.Protocol())
	}
}

func TestConnectAnnouncesLikeIdentify(t *testing.T) {
	n := NewNetwork()
	a, b := newHost(t, n, 1), newHost(t, n, 2)
	b.SetStreamHandler(echo, echoHandler)
	subA := subscribe(t, a)
	subB := subscribe(t, b)

	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID()}); err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID()}); err != nil {
		t.Fatal("second connect:", err)
	}
	idA := next[event.EvtPeerIdentificationCompleted](t, subA)
	if idA.Peer != b.ID() || !slices.Contains(idA.Protocols, echo) {
		t.Fatalf("a identified %s with %v, want %s with %s", idA.Peer, idA.Protocols, b.ID(), echo)
	}
	if idB := next[event.EvtPeerIdentificationCompleted](t, subB); idB.Peer != a.ID() {
		t.Fatalf("b identified %s, want %s", idB.Peer, a.ID())
	}
	if a.Network().Connectedness(b.ID()) != network.Connected || b.Network().Connectedness(a.ID()) != network.Connected {
		t.Fatal("not connected at both ends")
	}
	if got := a.Network().Peers(); len(got) != 1 || got[0] != b.ID() {
		t.Fatalf("a's peers = %v", got)
	}
	if got, _ := a.Peerstore().SupportsProtocols(b.ID(), "/test/none/1", echo); !slices.Equal(got, []protocol.ID{echo}) {
		t.Fatalf("peerstore says b supports %v", got)
	}
	if got := a.Peerstore().Addrs(b.ID()); len(got) != 1 || !got[0].Equal(b.Addrs()[0]) {
		t.Fatalf("peerstore addrs of b = %v", got)
	}
	if k := a.Peerstore().PubKey(b.ID()); k == nil || !b.ID().MatchesPublicKey(k) {
		t.Fatal("peerstore has no public key for b")
	}

	// A protocol added later reaches connected peers, as identify's push does.
	b.SetStreamHandler("/test/late/1", echoHandler)
	upd := next[event.EvtPeerProtocolsUpdated](t, subA)
	if upd.Peer != b.ID() || !slices.Equal(upd.Added, []protocol.ID{"/test/late/1"}) {
		t.Fatalf("protocols update = %+v", upd)
	}
}

func TestCloseFailsStreamsAndLeavesDirectory(t *testing.T) {
	n := NewNetwork()
	a, b := newHost(t, n, 1), newHost(t, n, 2)
	accepted := make(chan network.Stream, 1)
	b.SetStreamHandler(echo, func(s network.Stream) { accepted <- s })
	subA := subscribe(t, a)
	s, err := a.NewStream(context.Background(), b.ID(), echo)
	if err != nil {
		t.Fatal(err)
	}
	<-accepted
	readErr := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 1))
		readErr <- err
	}()
	_ = b.Close()
	select {
	case err := <-readErr:
		if !errors.Is(err, ErrConnClosed) {
			t.Fatalf("blocked read ended with %v, want ErrConnClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a read blocked on a closed host's stream did not end")
	}
	for {
		e := next[event.EvtPeerConnectednessChanged](t, subA)
		if e.Peer == b.ID() && e.Connectedness == network.NotConnected {
			break
		}
	}
	if a.Network().Connectedness(b.ID()) != network.NotConnected {
		t.Fatal("still connected to a closed host")
	}
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID()}); !errors.Is(err, ErrNoHost) {
		t.Fatalf("dial to a closed host: %v, want ErrNoHost", err)
	}
	if got := a.Peerstore().Addrs(b.ID()); len(got) != 1 {
		t.Fatalf("a departed host's addresses are forgotten: %v", got)
	}
	if got, _ := a.Peerstore().FirstSupportedProtocol(b.ID(), echo); got != echo {
		t.Fatalf("a departed host's protocols are forgotten: %q", got)
	}
}

func TestResetAndDeadline(t *testing.T) {
	_, _, s, remote := openStream(t)

	_ = s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v", err)
	}
	_ = s.SetReadDeadline(time.Time{})
	if _, err := remote.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(make([]byte, 1)); err != nil {
		t.Fatalf("read after the deadline was cleared: %v", err)
	}

	_ = remote.Reset()
	if _, err := s.Read(make([]byte, 1)); !errors.Is(err, network.ErrReset) {
		t.Fatalf("read of a reset stream: %v, want ErrReset", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, network.ErrReset) {
		t.Fatalf("write to a reset stream: %v, want ErrReset", err)
	}
}

func TestDialHookAndCrossingDials(t *testing.T) {
	n := NewNetwork()
	refused := errors.New("partitioned")
	var blocked peer.ID
	n.Dial = func(_, to peer.ID) error {
		if to == blocked {
			return refused
		}
		return nil
	}
	hosts := make([]*Host, 8)
	for i := range hosts {
		hosts[i] = newHost(t, n, i+1)
	}
	blocked = hosts[7].ID()
	if err := hosts[0].Connect(context.Background(), peer.AddrInfo{ID: blocked}); !errors.Is(err, refused) {
		t.Fatalf("dial the hook refuses: %v", err)
	}
	var wg sync.WaitGroup
	for _, x := range hosts[:7] {
		for _, y := range hosts[:7] {
			if x != y {
				wg.Go(func() { _ = x.Connect(context.Background(), peer.AddrInfo{ID: y.ID()}) })
			}
		}
	}
	wg.Wait()
	for _, x := range hosts[:7] {
		if got := len(x.Network().Conns()); got != 6 {
			t.Fatalf("%s has %d connections after crossing dials, want 6", x.ID(), got)
		}
	}
	if err := hosts[0].Connect(context.Background(), peer.AddrInfo{ID: hosts[0].ID()}); err == nil {
		t.Fatal("dial to self succeeded")
	}
}

func subscribe(t *testing.T, h *Host) event.Subscription {
	t.Helper()
	sub, err := h.EventBus().Subscribe([]any{
		new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerConnectednessChanged),
		new(event.EvtPeerProtocolsUpdated),
	}, eventbusBuf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// next returns the next event of type E on sub, skipping others.
func next[E any](t *testing.T, sub event.Subscription) E {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case e := <-sub.Out():
			if got, ok := e.(E); ok {
				return got
			}
		case <-timeout:
			var zero E
			t.Fatalf("no %T event", zero)
			return zero
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTwoReadersBothSeeTheEnd: every reader blocked on a stream wakes at its end, not
// only the first.
func TestTwoReadersBothSeeTheEnd(t *testing.T) {
	_, _, s, remote := openStream(t)
	ended := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := s.Read(make([]byte, 1))
			ended <- err
		}()
	}
	_ = remote.CloseWrite()
	for range 2 {
		select {
		case err := <-ended:
			if err != io.EOF {
				t.Fatalf("read ended with %v, want io.EOF", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a second reader blocked on the same stream never saw its end")
		}
	}
}

// openStream opens a stream from a new host a to a new host b: a's end and b's.
func openStream(t *testing.T) (a, b *Host, local, remote network.Stream) {
	t.Helper()
	n := NewNetwork()
	a, b = newHost(t, n, 1), newHost(t, n, 2)
	accepted := make(chan network.Stream, 1)
	b.SetStreamHandler(echo, func(s network.Stream) { accepted <- s })
	local, err := a.NewStream(context.Background(), b.ID(), echo)
	if err != nil {
		t.Fatal(err)
	}
	remote = <-accepted
	return a, b, local, remote
}
