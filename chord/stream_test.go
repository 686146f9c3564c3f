package chord

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dhtnode/dhtnode/internal/memhost"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// memHosts returns n hosts on one in-memory network, closed when the test ends. The
// internal tests run them inside synctest bubbles: memhost starts no goroutine or timer
// per stream, where mocknet's stream timers crash the race-instrumented runtime there.
func memHosts(t *testing.T, n int) []host.Host {
	t.Helper()
	net := memhost.NewNetwork()
	t.Cleanup(func() { _ = net.Close() })
	hosts := make([]host.Host, n)
	for i := range hosts {
		priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		h, err := net.AddHost(priv)
		if err != nil {
			t.Fatal(err)
		}
		hosts[i] = h
	}
	return hosts
}

// TestMalformedStreamsAreReset sends a node garbage, an oversized frame, a truncated
// frame and a response in place of a request: each gets an error (a reset stream or an
// error reply), the node counts the malformed ones and keeps serving.
func TestMalformedStreamsAreReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := memHosts(t, 2)
		a, b := hs[0], hs[1]
		reg := prometheus.NewRegistry()
		cfg := DefaultConfig()
		cfg.Registerer = reg
		node, err := New(a, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer node.Close()

		send := func(payload []byte) ([]byte, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := b.NewStream(ctx, a.ID(), ProtocolID)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Write(payload); err != nil {
				return nil, err
			}
			_ = s.CloseWrite()
			return io.ReadAll(s)
		}
		frame := func(body []byte) []byte {
			return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
		}
		bad := map[string][]byte{
			"garbage":    frame([]byte{0xde, 0xad, 0xbe, 0xef}),
			"oversized":  binary.AppendUvarint(nil, MaxMessageSize+1),
			"truncated":  append(binary.AppendUvarint(nil, 100), 1, 2, 3),
			"bad varint": bytes.Repeat([]byte{0xff}, 11),
		}
		for name, payload := range bad {
			got, err := send(payload)
			if err == nil && len(got) > 0 {
				t.Errorf("%s: got a reply %x, want a reset stream", name, got)
			}
		}
		var metric dto.Metric
		if err := node.m.malformed.Write(&metric); err != nil {
			t.Fatal(err)
		}
		if n := metric.GetCounter().GetValue(); n != float64(len(bad)) {
			t.Errorf("malformed counter = %v, want %d", n, len(bad))
		}

		// A well-formed message of the wrong kind gets an error reply, not a reset.
		body, _ := (&message{Type: msgResponse}).encode()
		got, err := send(frame(body))
		if err != nil {
			t.Fatalf("response-as-request: %v", err)
		}
		reply, err := readMessage(bytes.NewReader(got))
		if err != nil || reply.Type != msgError {
			t.Fatalf("response-as-request: got %+v, %v; want an error reply", reply, err)
		}
		// A peer may only announce itself as a provider.
		other := NewPeer(a.ID())
		body, _ = (&message{Type: msgAddProvider, Records: []record{{Key: routing.Key{1}, Provider: peerInfo{ID: other.ID}, TTL: 60}}}).encode()
		got, _ = send(frame(body))
		if reply, err := readMessage(bytes.NewReader(got)); err != nil || reply.Type != msgError {
			t.Fatalf("announcing someone else: got %+v, %v; want an error reply", reply, err)
		}

		// The node still answers properly.
		body, _ = (&message{Type: msgPing}).encode()
		got, err = send(frame(body))
		if err != nil {
			t.Fatal(err)
		}
		if reply, err := readMessage(bytes.NewReader(got)); err != nil || reply.Type != msgResponse {
			t.Fatalf("ping after abuse: %+v, %v", reply, err)
		}
	})
}

// TestProviderBounds checks the per-key, per-peer and total limits and expiry.
func TestProviderBounds(t *testing.T) {
	ps := randomPeers(t, 4)
	now := time.Unix(1000, 0)
	s := newProviderStore(2, 3, 5)
	k1, k2, k3 := routing.Key{1}, routing.Key{2}, routing.Key{3}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.put(k1, ps[0].ID, nil, now.Add(time.Minute)))
	must(s.put(k1, ps[1].ID, nil, now.Add(time.Minute)))
	if err := s.put(k1, ps[2].ID, nil, now.Add(time.Minute)); err != ErrKeyFull {
		t.Fatalf("third provider of a key: %v, want ErrKeyFull", err)
	}
	must(s.put(k1, ps[0].ID, nil, now.Add(time.Hour))) // a refresh is always fine
	must(s.put(k2, ps[0].ID, nil, now.Add(time.Minute)))
	must(s.put(k3, ps[0].ID, nil, now.Add(time.Minute)))
	if err := s.put(routing.Key{4}, ps[0].ID, nil, now.Add(time.Minute)); err != ErrPeerFull {
		t.Fatalf("fourth record of one peer: %v, want ErrPeerFull", err)
	}
	must(s.put(k2, ps[1].ID, nil, now.Add(time.Minute)))
	if err := s.put(k3, ps[2].ID, nil, now.Add(time.Minute)); err != ErrStoreFull {
		t.Fatalf("sixth record: %v, want ErrStoreFull", err)
	}
	if got := len(s.get(k1, now)); got != 2 {
		t.Fatalf("get k1: %d providers", got)
	}
	if n := s.expire(now.Add(2 * time.Minute)); n != 4 {
		t.Fatalf("expired %d, want 4 (the hour-long refresh stays)", n)
	}
	if s.len() != 1 || len(s.get(k1, now.Add(2*time.Minute))) != 1 {
		t.Fatalf("after expiry: %d records", s.len())
	}
	must(s.put(k2, ps[3].ID, nil, now.Add(3*time.Minute)))
}

// TestStopProviding: a provided key is republished until StopProviding drops it.
func TestStopProviding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := memHosts(t, 1)[0]
		node, err := New(a, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer node.Close()
		key := routing.ContentKey([]byte("stop providing"))
		if _, err := node.Provide(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		republished := func() bool {
			node.mu.Lock()
			defer node.mu.Unlock()
			_, ok := node.provided[key]
			return ok
		}
		if !republished() {
			t.Fatal("a provided key is not in the republish set")
		}
		node.StopProviding(key)
		if republished() {
			t.Fatal("StopProviding left the key in the republish set")
		}
	})
}
