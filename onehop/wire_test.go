package onehop

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

const testPeerID = "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"

func sampleMessage(t testing.TB) *Message {
	id, err := peer.Decode(testPeerID)
	if err != nil {
		t.Fatal(err)
	}
	a := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	return &Message{Type: MsgOwners, Key: routing.ContentKey([]byte("k")), Limit: 7,
		Peers: []peer.AddrInfo{{ID: id, Addrs: []ma.Multiaddr{a}}, {ID: id}}}
}

func TestMessageRoundTrip(t *testing.T) {
	m := sampleMessage(t)
	b, err := m.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	var got Message
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	b2, _ := got.AppendBinary(nil)
	if !bytes.Equal(b, b2) || got.Peers[0].ID != m.Peers[0].ID || !got.Peers[0].Addrs[0].Equal(m.Peers[0].Addrs[0]) {
		t.Fatalf("round trip changed the message: %+v", got)
	}
	var buf bytes.Buffer
	if err := writeMessage(&buf, m); err != nil {
		t.Fatal(err)
	}
	framed, err := readMessage(bufio.NewReader(&buf))
	if err != nil || framed.Key != m.Key {
		t.Fatalf("framed round trip: %v", err)
	}
}

func TestMessageRejectsBadInput(t *testing.T) {
	good, _ := sampleMessage(t).AppendBinary(nil)
	cases := map[string][]byte{
		"empty":     {},
		"bad type":  append([]byte{9}, good[1:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte{}, good...), 0),
		"too many peers": func() []byte {
			b := append([]byte{1}, make([]byte, 32)...)
			b = append(b, 0, 200, 1) // limit 0, npeers 200
			return b
		}(),
		"non-minimal varint": func() []byte {
			b := append([]byte{1}, make([]byte, 32)...)
			return append(b, 0x80, 0x00, 0)
		}(),
	}
	for name, b := range cases {
		var m Message
		if err := m.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
	// An oversized frame is refused before its body is read.
	huge := bytes.NewReader([]byte{0xff, 0xff, 0xff, 0x7f})
	if _, err := readMessage(bufio.NewReader(huge)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized frame: %v", err)
	}
}

// FuzzMessage: any accepted body re-encodes to the same bytes, and nothing panics.
func FuzzMessage(f *testing.F) {
	good, _ := sampleMessage(f).AppendBinary(nil)
	f.Add(good)
	f.Add(append([]byte{1}, make([]byte, 34)...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := m.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip differs:\n in %x\nout %x", b, out)
		}
	})
}
