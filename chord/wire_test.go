package chord

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dhtnode/dhtnode/routing"
	ma "github.com/multiformats/go-multiaddr"
)

func sampleMessages(t testing.TB) []*message {
	ps := randomPeers(t, 3)
	addr := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	addr6 := ma.StringCast("/ip6/::1/udp/4001/quic-v1")
	info := func(p Peer, addrs ...ma.Multiaddr) peerInfo { return peerInfo{ID: p.ID, Addrs: addrs} }
	key := routing.ContentKey([]byte("k"))
	return []*message{
		{Type: msgPing},
		{Type: msgResponse},
		{Type: msgFindSuccessor, HasKey: true, Key: key},
		{Type: msgResponse, Found: true, Peers: []peerInfo{info(ps[0], addr), info(ps[1]), info(ps[2], addr, addr6)}},
		{Type: msgResponse, Peers: []peerInfo{info(ps[2], addr)}, Succs: []peerInfo{info(ps[0]), info(ps[1], addr6)}},
		{Type: msgNeighbours},
		{Type: msgAddProvider, Records: []record{{Key: key, Provider: info(ps[0], addr), TTL: 86400}}},
		{Type: msgGetProviders, HasKey: true, Key: key},
		{Type: msgError, Err: "too many providers"},
		{Type: msgHandoff, Records: []record{{Key: key, Provider: info(ps[1]), TTL: 1}, {Key: ps[2].Key, Provider: info(ps[2], addr6), TTL: 0}}},
	}
}

func TestWireRoundTrip(t *testing.T) {
	for _, m := range sampleMessages(t) {
		var buf bytes.Buffer
		if err := writeMessage(&buf, m); err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
		got, err := readMessage(&buf)
		if err != nil {
			t.Fatalf("%s: %v", m.Type, err)
		}
		a, _ := m.encode()
		b, _ := got.encode()
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: round trip changed the message", m.Type)
		}
	}
}

func TestWireRejects(t *testing.T) {
	good, _ := (&message{Type: msgFindSuccessor, HasKey: true}).encode()
	cases := map[string][]byte{
		"empty":          {},
		"unknown type":   {0x7f, 0, 0, 0, 0},
		"type zero":      {0, 0, 0, 0, 0},
		"unknown flag":   {byte(msgPing), 0x80, 0, 0, 0},
		"truncated key":  good[:10],
		"trailing":       append(append([]byte{}, good...), 1),
		"too many peers": {byte(msgResponse), 0, 0xff, 0x01},
		"non-minimal":    {byte(msgPing), 0, 0x80, 0x00, 0, 0},
		"bad peer id":    {byte(msgResponse), 0, 1, 3, 1, 2, 3, 0, 0, 0},
		"empty succs":    {byte(msgResponse), flagSuccs, 0, 0, 0, 0},
	}
	for name, b := range cases {
		if _, err := decodeMessage(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
	// An oversized frame is refused from its length alone.
	frame := []byte{0xff, 0xff, 0xff, 0x7f}
	if _, err := readMessage(bytes.NewReader(frame)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized frame: got %v, want ErrTooLarge", err)
	}
}

// FuzzDecode: no input panics the decoder, and whatever decodes re-encodes byte for byte.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages(f) {
		b, err := m.encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		again, err := m.encode()
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip differs:\n in  %x\n out %x", b, again)
		}
	})
}

// TestFuzzCorpusCommitted keeps the seed corpus in the repository, as the team rules ask.
func TestFuzzCorpusCommitted(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzDecode"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("testdata/fuzz/FuzzDecode is empty or missing (%v): run go test -fuzz FuzzDecode", err)
	}
}
