package chord

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Wire format. Every RPC is one stream: the caller writes one framed request, the callee
// answers with one framed response and both close. A frame is a uvarint body length
// (at most MaxMessageSize) followed by the body:
//
//	type    u8
//	flags   u8          bit 0: key present, bit 1: found, bit 2: successor list present;
//	                    other bits must be zero
//	key     [32]byte    if flag bit 0
//	npeers  uvarint     at most maxPeersPerMessage, then each peer:
//	          idlen uvarint (<= maxPeerIDLen), id bytes (a valid peer ID),
//	          naddrs uvarint (<= maxAddrsPerPeer), each: len uvarint (<= maxAddrLen), multiaddr bytes
//	nsuccs  uvarint     if flag bit 2: 1..maxPeersPerMessage, then each peer as above
//	nrecs   uvarint     at most maxRecordsPerMessage, then each record:
//	          key [32]byte, provider peer (as above), ttl seconds uvarint
//	errlen  uvarint     (<= maxErrorLen), error text (responses only)
//
// Every varint must be minimal and every peer ID and multiaddr canonical, so decoding then
// encoding reproduces the input byte for byte (FuzzDecode checks that). Anything else is
// ErrMalformed; the stream is then reset.

// MaxMessageSize bounds a frame's body; larger frames are refused before allocation.
const MaxMessageSize = 64 << 10

const (
	maxPeersPerMessage   = 64
	maxRecordsPerMessage = 64
	maxPeerIDLen         = 128
	maxAddrsPerPeer      = 8
	maxAddrLen           = 256
	maxErrorLen          = 512
)

// Errors returned by the wire codec and RPCs.
var (
	// ErrMalformed means a peer sent bytes that do not decode as a Chord message.
	ErrMalformed = errors.New("chord: malformed message")
	// ErrTooLarge means a frame announced a body larger than MaxMessageSize.
	ErrTooLarge = errors.New("chord: message too large")
	// ErrRemote means the remote node answered with an error message.
	ErrRemote = errors.New("chord: remote error")
)

type msgType uint8

const (
	msgFindSuccessor msgType = iota + 1 // req: key. resp: found + successors, or referrals
	msgNeighbours                       // req: none. resp: peers[0] = predecessor or none (flag), then successor list
	msgNotify                           // req: none (the caller is the candidate predecessor). resp: ack
	msgPing                             // req: none. resp: ack
	msgAddProvider                      // req: one record whose provider is the caller. resp: ack
	msgHandoff                          // req: records a ring neighbour hands over. resp: ack
	msgGetProviders                     // req: key. resp: records
	msgResponse                         // a reply to any request; carries whatever that request asks for
	msgError                            // a reply saying the request was refused
	msgTypeEnd
)

func (t msgType) String() string {
	switch t {
	case msgFindSuccessor:
		return "find_successor"
	case msgNeighbours:
		return "neighbours"
	case msgNotify:
		return "notify"
	case msgPing:
		return "ping"
	case msgAddProvider:
		return "add_provider"
	case msgHandoff:
		return "handoff"
	case msgGetProviders:
		return "get_providers"
	case msgResponse:
		return "response"
	case msgError:
		return "error"
	}
	return fmt.Sprintf("type_%d", uint8(t))
}

const (
	flagKey   = 1 << 0
	flagFound = 1 << 1
	flagSuccs = 1 << 2
	flagsAll  = flagKey | flagFound | flagSuccs
)

// peerInfo is a peer on the wire: its ID and the addresses the sender knows for it.
type peerInfo struct {
	ID    peer.ID
	Addrs []ma.Multiaddr
}

// record is a provider record on the wire.
type record struct {
	Key      routing.Key
	Provider peerInfo
	TTL      uint64 // seconds
}

// message is every Chord request and response; which fields mean something depends on Type.
type message struct {
	Type   msgType
	HasKey bool
	Key    routing.Key
	Found  bool
	Peers  []peerInfo
	// Succs is the responder's successor list, sent with find_successor referrals so the
	// querier can step over a dead successor of the responder.
	Succs   []peerInfo
	Records []record
	Err     string
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendPeer(b []byte, p peerInfo) []byte {
	b = appendUvarint(b, uint64(len(p.ID)))
	b = append(b, p.ID...)
	b = appendUvarint(b, uint64(len(p.Addrs)))
	for _, a := range p.Addrs {
		ab := a.Bytes()
		b = appendUvarint(b, uint64(len(ab)))
		b = append(b, ab...)
	}
	return b
}

// encode returns the body of m (without the frame length). It refuses messages that
// would not decode, so a bug on our side never sends garbage.
func (m *message) encode() ([]byte, error) {
	if len(m.Peers) > maxPeersPerMessage || len(m.Succs) > maxPeersPerMessage || len(m.Records) > maxRecordsPerMessage || len(m.Err) > maxErrorLen {
		return nil, fmt.Errorf("%w: too many entries", ErrTooLarge)
	}
	b := make([]byte, 0, 64+len(m.Peers)*64)
	b = append(b, byte(m.Type))
	var flags byte
	if m.HasKey {
		flags |= flagKey
	}
	if m.Found {
		flags |= flagFound
	}
	if len(m.Succs) > 0 {
		flags |= flagSuccs
	}
	b = append(b, flags)
	if m.HasKey {
		b = append(b, m.Key[:]...)
	}
	b = appendUvarint(b, uint64(len(m.Peers)))
	for _, p := range m.Peers {
		b = appendPeer(b, clampPeer(p))
	}
	if len(m.Succs) > 0 {
		b = appendUvarint(b, uint64(len(m.Succs)))
		for _, p := range m.Succs {
			b = appendPeer(b, clampPeer(p))
		}
	}
	b = appendUvarint(b, uint64(len(m.Records)))
	for _, r := range m.Records {
		b = append(b, r.Key[:]...)
		b = appendPeer(b, clampPeer(r.Provider))
		b = appendUvarint(b, r.TTL)
	}
	b = appendUvarint(b, uint64(len(m.Err)))
	b = append(b, m.Err...)
	if len(b) > MaxMessageSize {
		return nil, ErrTooLarge
	}
	return b, nil
}

// clampPeer drops addresses beyond what a decoder accepts, so we never send a message
// our own decoder would refuse.
func clampPeer(p peerInfo) peerInfo {
	var addrs []ma.Multiaddr
	for _, a := range p.Addrs {
		if a == nil || len(a.Bytes()) > maxAddrLen || len(a.Bytes()) == 0 {
			continue
		}
		if len(addrs) == maxAddrsPerPeer {
			break
		}
		addrs = append(addrs, a)
	}
	p.Addrs = addrs
	return p
}

// decoder reads a body; the first error sticks and later reads return zero values.
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
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

// uvarint reads a minimal uvarint no larger than max.
func (d *decoder) uvarint(max uint64) uint64 {
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
	if v > max {
		d.fail("value %d over limit %d", v, max)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) key() routing.Key {
	var k routing.Key
	copy(k[:], d.bytes(routing.KeyLen))
	return k
}

func (d *decoder) peer() peerInfo {
	var p peerInfo
	idb := d.bytes(int(d.uvarint(maxPeerIDLen)))
	if d.err != nil {
		return p
	}
	id, err := peer.IDFromBytes(idb)
	if err != nil || string(id) != string(idb) {
		d.fail("bad peer id")
		return p
	}
	p.ID = id
	n := int(d.uvarint(maxAddrsPerPeer))
	for range n {
		ab := d.bytes(int(d.uvarint(maxAddrLen)))
		if d.err != nil {
			return p
		}
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil || !bytes.Equal(a.Bytes(), ab) || len(ab) == 0 {
			d.fail("bad multiaddr")
			return p
		}
		p.Addrs = append(p.Addrs, a)
	}
	return p
}

// decodeMessage parses one body. It never panics; any defect is ErrMalformed.
func decodeMessage(b []byte) (*message, error) {
	if len(b) > MaxMessageSize {
		return nil, ErrTooLarge
	}
	d := &decoder{b: b}
	m := &message{}
	m.Type = msgType(d.byte())
	if d.err == nil && (m.Type == 0 || m.Type >= msgTypeEnd) {
		d.fail("unknown type %d", m.Type)
	}
	flags := d.byte()
	if flags&^flagsAll != 0 {
		d.fail("unknown flags %#x", flags)
	}
	m.HasKey = flags&flagKey != 0
	m.Found = flags&flagFound != 0
	if m.HasKey {
		m.Key = d.key()
	}
	np := int(d.uvarint(maxPeersPerMessage))
	for i := 0; i < np && d.err == nil; i++ {
		m.Peers = append(m.Peers, d.peer())
	}
	if flags&flagSuccs != 0 {
		ns := int(d.uvarint(maxPeersPerMessage))
		if d.err == nil && ns == 0 {
			d.fail("empty successor list")
		}
		for i := 0; i < ns && d.err == nil; i++ {
			m.Succs = append(m.Succs, d.peer())
		}
	}
	nr := int(d.uvarint(maxRecordsPerMessage))
	for i := 0; i < nr && d.err == nil; i++ {
		var r record
		r.Key = d.key()
		r.Provider = d.peer()
		r.TTL = d.uvarint(1 << 40)
		m.Records = append(m.Records, r)
	}
	m.Err = string(d.bytes(int(d.uvarint(maxErrorLen))))
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

// writeMessage frames and writes m.
func writeMessage(w io.Writer, m *message) error {
	body, err := m.encode()
	if err != nil {
		return err
	}
	frame := appendUvarint(make([]byte, 0, len(body)+binary.MaxVarintLen32), uint64(len(body)))
	frame = append(frame, body...)
	_, err = w.Write(frame)
	return err
}

// readMessage reads one frame, refusing a length over MaxMessageSize before allocating.
func readMessage(r io.Reader) (*message, error) {
	br, ok := r.(io.ByteReader)
	if !ok {
		br = bufio.NewReaderSize(r, 16)
		r = br.(io.Reader)
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("%w: reading length: %w", ErrMalformed, err)
	}
	if n > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return decodeMessage(body)
}
