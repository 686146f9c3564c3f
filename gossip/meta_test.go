package gossip

import (
	"errors"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestMetaRoundTripAndVerify(t *testing.T) {
	key := newKey(t)
	addrs := []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/tcp/4001"),
		ma.StringCast("/ip4/127.0.0.1/udp/4001/quic-v1"),
		ma.StringCast("/ip6/::1/tcp/4001"),
	}
	b, err := SignMeta("node-a", key, addrs)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != MetaVersion {
		t.Fatalf("version byte %d", b[0])
	}
	m, err := DecodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	if m.PeerID != id || len(m.Addrs) != 3 || !m.Addrs[1].Equal(addrs[1]) {
		t.Fatalf("decoded %+v", m)
	}
	if err := m.Verify("node-a"); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if string(m.Marshal()) != string(b) {
		t.Fatal("re-encoding differs")
	}
	// The signature covers the member name: replaying it under another name fails.
	if err := m.Verify("node-b"); !errors.Is(err, ErrMetaSignature) {
		t.Fatalf("verify under another name: %v", err)
	}
	t.Logf("metadata with 3 addrs: %d bytes", len(b))
}

func TestMetaNoAddrs(t *testing.T) {
	b, err := SignMeta("n", newKey(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeMeta(b)
	if err != nil || len(m.Addrs) != 0 || m.Verify("n") != nil {
		t.Fatalf("decode %+v, %v", m, err)
	}
}

func TestMetaRefusesForgery(t *testing.T) {
	victim, impostor := newKey(t), newKey(t)
	victimID, _ := peer.IDFromPrivateKey(victim)
	m := NodeMeta{PeerID: victimID, Addrs: testAddrs(t, 1)}
	sig, err := impostor.Sign(signingInput("x", m.body()))
	if err != nil {
		t.Fatal(err)
	}
	m.Signature = sig
	dec, err := DecodeMeta(m.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := dec.Verify("x"); !errors.Is(err, ErrMetaSignature) {
		t.Fatalf("forged peer ID verified: %v", err)
	}
	// Tampered addresses break the signature too.
	good, _ := SignMeta("x", victim, testAddrs(t, 1))
	dec, _ = DecodeMeta(good)
	dec.Addrs = testAddrs(t, 2)
	if err := dec.Verify("x"); !errors.Is(err, ErrMetaSignature) {
		t.Fatalf("tampered addrs verified: %v", err)
	}
}

func TestMetaTooLarge(t *testing.T) {
	var addrs []ma.Multiaddr
	for i := range 40 {
		addrs = append(addrs, ma.StringCast(fmt.Sprintf("/dns4/host-%02d.example.com/tcp/4001", i)))
	}
	_, err := SignMeta("n", newKey(t), addrs)
	var se *MetaSizeError
	if !errors.As(err, &se) || se.Limit != 512 || se.Size <= 512 || se.Addrs != 40 {
		t.Fatalf("want MetaSizeError, got %v", err)
	}
	t.Log(err)
	// New refuses to start with it rather than letting memberlist panic.
	cfg := DefaultConfig()
	tr, _ := NewMemNetwork().NewTransport("")
	cfg.Transport = tr
	if _, err := New(cfg, newKey(t), addrs); !errors.As(err, &se) {
		t.Fatalf("New: want MetaSizeError, got %v", err)
	}
}

func TestDecodeMetaRejectsMalformed(t *testing.T) {
	good, err := SignMeta("n", newKey(t), testAddrs(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":       nil,
		"bad version": append([]byte{2}, good[1:]...),
		"truncated":   good[:len(good)-1],
		"trailing":    append(append([]byte{}, good...), 0),
		"too large":   make([]byte, MetaMaxSize+1),
		"bad peer ID": {1, 3, 'a', 'b', 'c', 0, 0, 0},
	}
	for name, b := range cases {
		if _, err := DecodeMeta(b); !errors.Is(err, ErrMalformedMeta) {
			t.Errorf("%s: err = %v, want ErrMalformedMeta", name, err)
		}
	}
}

func TestLeaveIntentRoundTrip(t *testing.T) {
	key := newKey(t)
	id, _ := peer.IDFromPrivateKey(key)
	l, err := signLeaveIntent("n", 42, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeLeaveIntent(l.marshal())
	if err != nil || got.Name != "n" || got.UnixNano != 42 {
		t.Fatalf("decode %+v %v", got, err)
	}
	if err := got.verify(id); err != nil {
		t.Fatal(err)
	}
	other, _ := peer.IDFromPrivateKey(newKey(t))
	if got.verify(other) == nil {
		t.Fatal("intent verified under another peer")
	}
}

// FuzzDecodeMeta: decoding arbitrary bytes never panics, and whatever decodes
// re-encodes to exactly the same bytes (so what we verify is what we'd send).
func FuzzDecodeMeta(f *testing.F) {
	key := newKey(f)
	for i := range 3 {
		b, err := SignMeta(fmt.Sprint("n", i), key, testAddrs(f, i)[:i%2])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil {
			return
		}
		if string(m.Marshal()) != string(b) {
			t.Fatalf("round trip: %x -> %x", b, m.Marshal())
		}
		_ = m.Verify("n")
	})
}

func FuzzDecodeLeaveIntent(f *testing.F) {
	l, _ := signLeaveIntent("node", 1, newKey(f))
	f.Add(l.marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeLeaveIntent(b)
		if err != nil {
			return
		}
		if string(l.marshal()) != string(b) {
			t.Fatalf("round trip: %x -> %x", b, l.marshal())
		}
	})
}
