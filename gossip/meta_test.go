package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// testGossipAddr is the gossip address test metadata is signed for.
var testGossipAddr = netip.MustParseAddrPort("10.0.0.1:7946")

func TestMetaRoundTripAndVerify(t *testing.T) {
	key := newKey(t)
	addrs := []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/tcp/4001"),
		ma.StringCast("/ip4/127.0.0.1/udp/4001/quic-v1"),
		ma.StringCast("/ip6/::1/tcp/4001"),
	}
	b, err := SignMeta("node-a", key, testGossipAddr, 1, addrs)
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
	if m.PeerID != id || len(m.Addrs) != 3 || !m.Addrs[1].Equal(addrs[1]) || m.GossipAddr != testGossipAddr || m.Issued != 1 {
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
	b, err := SignMeta("n", newKey(t), testGossipAddr, 1, nil)
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
	m := NodeMeta{PeerID: victimID, GossipAddr: testGossipAddr, Issued: 1, Addrs: testAddrs(t, 1)}
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
	good, _ := SignMeta("x", victim, testGossipAddr, 1, testAddrs(t, 1))
	dec, _ = DecodeMeta(good)
	dec.Addrs = testAddrs(t, 2)
	if err := dec.Verify("x"); !errors.Is(err, ErrMetaSignature) {
		t.Fatalf("tampered addrs verified: %v", err)
	}
	// So do a tampered gossip address and a tampered freshness value: a replayer
	// can neither move a record to its own address nor make an old one look new.
	dec, _ = DecodeMeta(good)
	dec.GossipAddr = netip.MustParseAddrPort("10.6.6.6:7946")
	if err := dec.Verify("x"); !errors.Is(err, ErrMetaSignature) {
		t.Fatalf("tampered gossip address verified: %v", err)
	}
	dec, _ = DecodeMeta(good)
	dec.Issued++
	if err := dec.Verify("x"); !errors.Is(err, ErrMetaSignature) {
		t.Fatalf("tampered freshness verified: %v", err)
	}
}

func TestMetaAnnouncedFrom(t *testing.T) {
	b, err := SignMeta("n", newKey(t), netip.MustParseAddrPort("[::ffff:10.0.0.1]:7946"), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ip   string
		port uint16
		want bool
	}{
		{"10.0.0.1", 7946, true},
		{"::ffff:10.0.0.1", 7946, true}, // memberlist hands IPv4 in either form
		{"10.0.0.1", 7947, false},
		{"10.0.0.2", 7946, false},
	} {
		if got := m.AnnouncedFrom(net.ParseIP(c.ip), c.port); got != c.want {
			t.Errorf("AnnouncedFrom(%s, %d) = %v", c.ip, c.port, got)
		}
	}
	if _, err := SignMeta("n", newKey(t), netip.AddrPort{}, 1, nil); err == nil {
		t.Fatal("signed for no gossip address")
	}
}

func TestMetaTooLarge(t *testing.T) {
	var addrs []ma.Multiaddr
	for i := range 40 {
		addrs = append(addrs, ma.StringCast(fmt.Sprintf("/dns4/host-%02d.example.com/tcp/4001", i)))
	}
	_, err := SignMeta("n", newKey(t), testGossipAddr, 1, addrs)
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
	good, err := SignMeta("n", newKey(t), testGossipAddr, 1, testAddrs(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"empty":       nil,
		"bad version": append([]byte{3}, good[1:]...),
		"truncated":   good[:len(good)-1],
		"trailing":    append(append([]byte{}, good...), 0),
		"too large":   make([]byte, MetaMaxSize+1),
		"bad peer ID": {2, 3, 'a', 'b', 'c', 0, 0, 0},
		"bad ip len":  withGossipIPLen(t, good, 5),
		"mapped ipv4": mappedIPv4(),
	}
	for name, b := range cases {
		if _, err := DecodeMeta(b); !errors.Is(err, ErrMalformedMeta) {
			t.Errorf("%s: err = %v, want ErrMalformedMeta", name, err)
		}
	}
}

// An older dhtnode's metadata (format 1: no gossip address, no freshness) gets a
// refusal that names the cause, not a parse error or a panic.
func TestDecodeMetaRefusesOldFormat(t *testing.T) {
	key := newKey(t)
	id, _ := peer.IDFromPrivateKey(key)
	v1 := []byte{1, byte(len(id))}
	v1 = append(v1, id...)
	v1 = append(v1, 0, 0, 0) // no addrs, empty signature
	_, err := DecodeMeta(v1)
	if !errors.Is(err, ErrMetaVersion) || !errors.Is(err, ErrMalformedMeta) || refusalReason(err) != refusedFormat {
		t.Fatalf("v1: err = %v", err)
	}
	t.Log(err)
}

// withGossipIPLen rewrites the gossip IP length byte of encoded metadata.
func withGossipIPLen(t *testing.T, good []byte, n byte) []byte {
	t.Helper()
	b := append([]byte(nil), good...)
	b[2+int(good[1])] = n
	return b
}

// mappedIPv4 is metadata whose gossip address is an IPv4 address in IPv6 form:
// it decodes to the same address as the 4-byte form, so only one may be valid.
func mappedIPv4() []byte {
	key, _, err := crypto.GenerateEd25519Key(bytes.NewReader(make([]byte, 64)))
	if err != nil {
		panic(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	b := NodeMeta{PeerID: id, GossipAddr: testGossipAddr}.Marshal()
	ip16 := testGossipAddr.Addr().As16()
	at := 2 + len(id) // the gossip IP length byte
	out := append([]byte(nil), b[:at]...)
	out = append(out, 16)
	out = append(out, ip16[:]...)
	return append(out, b[at+1+4:]...)
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
		b, err := SignMeta(fmt.Sprint("n", i), key, testGossipAddr, uint64(i), testAddrs(f, i)[:i%2])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Add([]byte{2, 0, 4, 10, 0, 0, 1, 0x1f, 0x0a, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})
	f.Add(mappedIPv4())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil {
			return
		}
		if string(m.Marshal()) != string(b) {
			t.Fatalf("round trip: %x -> %x", b, m.Marshal())
		}
		_ = m.Verify("n")
		_ = m.AnnouncedFrom(m.GossipAddr.Addr().AsSlice(), m.GossipAddr.Port())
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
