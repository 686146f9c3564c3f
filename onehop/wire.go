package onehop

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ProtocolID is the libp2p stream protocol of the one-hop router. One stream carries
// one request and its response.
const ProtocolID = "/dhtnode/onehop/1.0.0"

// Bounds on what a peer may send; the decoder rejects anything larger before
// allocating for it.
const (
	// MaxMessageSize bounds one framed message body.
	MaxMessageSize = 64 << 10
	// MaxPeersPerMessage bounds the peer records in one message.
	MaxPeersPerMessage = 64
	// MaxAddrsPerPeer bounds the multiaddrs of one peer record.
	MaxAddrsPerPeer = 16
	maxPeerIDLen    = 128
	maxAddrLen      = 256
)

// ErrMalformed is returned for a message that is not valid on the wire.
var ErrMalformed = errors.New("onehop: malformed message")

// MsgType says what a message asks or answers.
type MsgType byte

// Message types. Each request type is answered by the type one above it.
const (
	// MsgFindOwner asks "who owns Key in your view?"; answered by MsgOwners whose
	// Peers are the responder's owner of Key followed by its successors.
	MsgFindOwner MsgType = 1
	MsgOwners    MsgType = 2
	// MsgAddProvider asks the responder to store the sender as a provider of Key;
	// Peers[0] carries the sender's addresses (its ID must be the stream's remote peer).
	MsgAddProvider MsgType = 3
	MsgAddedAck    MsgType = 4
	// MsgGetProviders asks for up to Limit providers of Key; answered by MsgProviders.
	MsgGetProviders MsgType = 5
	MsgProviders    MsgType = 6
)

func (t MsgType) valid() bool { return t >= MsgFindOwner && t <= MsgProviders }

// String names the type for metrics and logs.
func (t MsgType) String() string {
	switch t {
	case MsgFindOwner:
		return "find_owner"
	case MsgOwners:
		return "owners"
	case MsgAddProvider:
		return "add_provider"
	case MsgAddedAck:
		return "added_ack"
	case MsgGetProviders:
		return "get_providers"
	case MsgProviders:
		return "providers"
	}
	return fmt.Sprintf("type_%d", byte(t))
}

// Message is every request and response of the protocol.
//
// Body layout (all integers unsigned varints in minimal form):
//
//	type:1 | key:32 | limit | npeers | npeers × (idlen | id | naddrs | naddrs × (len | addr))
type Message struct {
	Type  MsgType
	Key   routing.Key
	Limit uint64
	Peers []peer.AddrInfo
}

// AppendBinary appends the message body (without the frame length) to b.
func (m *Message) AppendBinary(b []byte) ([]byte, error) {
	if !m.Type.valid() {
		return b, fmt.Errorf("%w: type %d", ErrMalformed, m.Type)
	}
	start := len(b)
	if len(m.Peers) > MaxPeersPerMessage {
		return b, fmt.Errorf("%w: %d peers > %d", ErrMalformed, len(m.Peers), MaxPeersPerMessage)
	}
	b = append(b, byte(m.Type))
	b = append(b, m.Key[:]...)
	b = binary.AppendUvarint(b, m.Limit)
	b = binary.AppendUvarint(b, uint64(len(m.Peers)))
	for _, p := range m.Peers {
		id := []byte(p.ID)
		if len(id) == 0 || len(id) > maxPeerIDLen {
			return b, fmt.Errorf("%w: peer ID of %d bytes", ErrMalformed, len(id))
		}
		addrs := p.Addrs
		if len(addrs) > MaxAddrsPerPeer {
			addrs = addrs[:MaxAddrsPerPeer] // advertise the first few; the rest are optional
		}
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendUvarint(b, uint64(len(addrs)))
		for _, a := range addrs {
			ab := a.Bytes()
			if len(ab) > maxAddrLen {
				return b, fmt.Errorf("%w: multiaddr of %d bytes", ErrMalformed, len(ab))
			}
			b = binary.AppendUvarint(b, uint64(len(ab)))
			b = append(b, ab...)
		}
	}
	if len(b)-start > MaxMessageSize {
		return b, fmt.Errorf("%w: %d bytes > %d", ErrMalformed, len(b)-start, MaxMessageSize)
	}
	return b, nil
}

// UnmarshalBinary decodes a message body. It rejects trailing bytes, non-minimal
// varints, invalid peer IDs and multiaddrs, and anything over the bounds.
func (m *Message) UnmarshalBinary(b []byte) error {
	if len(b) > MaxMessageSize {
		return fmt.Errorf("%w: %d bytes > %d", ErrMalformed, len(b), MaxMessageSize)
	}
	d := decoder{b: b}
	t := MsgType(d.byte())
	key := d.bytes(routing.KeyLen)
	limit := d.uvarint()
	n := d.uvarint()
	if d.err == nil && n > MaxPeersPerMessage {
		d.fail("%d peers > %d", n, MaxPeersPerMessage)
	}
	var peers []peer.AddrInfo
	for i := uint64(0); i < n && d.err == nil; i++ {
		var p peer.AddrInfo
		idLen := d.uvarint()
		if d.err == nil && (idLen == 0 || idLen > maxPeerIDLen) {
			d.fail("peer ID of %d bytes", idLen)
		}
		idBytes := d.bytes(int(idLen))
		if d.err == nil {
			id, err := peer.IDFromBytes(idBytes)
			if err != nil {
				d.fail("peer ID: %v", err)
			}
			p.ID = id
		}
		na := d.uvarint()
		if d.err == nil && na > MaxAddrsPerPeer {
			d.fail("%d addrs > %d", na, MaxAddrsPerPeer)
		}
		for j := uint64(0); j < na && d.err == nil; j++ {
			al := d.uvarint()
			if d.err == nil && (al == 0 || al > maxAddrLen) {
				d.fail("multiaddr of %d bytes", al)
			}
			ab := d.bytes(int(al))
			if d.err != nil {
				break
			}
			a, err := ma.NewMultiaddrBytes(ab)
			if err != nil {
				d.fail("multiaddr: %v", err)
				break
			}
			if string(a.Bytes()) != string(ab) {
				d.fail("multiaddr not in canonical form")
				break
			}
			p.Addrs = append(p.Addrs, a)
		}
		peers = append(peers, p)
	}
	if d.err == nil && !t.valid() {
		d.fail("type %d", t)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return d.err
	}
	*m = Message{Type: t, Limit: limit, Peers: peers}
	copy(m.Key[:], key)
	return nil
}

// decoder reads a body front to back and remembers the first error, so the caller
// checks once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.fail("truncated")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	if n != len(binary.AppendUvarint(nil, v)) {
		d.fail("non-minimal varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// writeMessage frames m as uvarint(len) | body and writes it in one Write, so that a
// byte counter sees one write per message.
func writeMessage(w io.Writer, m *Message) error {
	body, err := m.AppendBinary(make([]byte, binary.MaxVarintLen64, 256))
	if err != nil {
		return err
	}
	n := len(body) - binary.MaxVarintLen64
	var hdr [binary.MaxVarintLen64]byte
	hl := binary.PutUvarint(hdr[:], uint64(n))
	start := binary.MaxVarintLen64 - hl
	copy(body[start:], hdr[:hl])
	_, err = w.Write(body[start:])
	return err
}

// readMessage reads one framed message, refusing a frame over MaxMessageSize
// before allocating for it.
func readMessage(r *bufio.Reader) (*Message, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: frame length: %v", ErrMalformed, err)
	}
	if n > MaxMessageSize {
		return nil, fmt.Errorf("%w: frame of %d bytes > %d", ErrMalformed, n, MaxMessageSize)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: frame body: %v", ErrMalformed, err)
	}
	var m Message
	if err := m.UnmarshalBinary(buf); err != nil {
		return nil, err
	}
	return &m, nil
}
