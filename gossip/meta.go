package gossip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/hashicorp/memberlist"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// MetaVersion is the first byte of every encoded NodeMeta. A decoder refuses
// versions it does not know, so the format can evolve without silent misreads.
// Version 1 (no gossip address, no freshness) is refused with ErrMetaVersion.
const MetaVersion = 2

// MetaMaxSize is memberlist's hard limit on node metadata (memberlist.MetaMaxSize).
// memberlist panics if a delegate returns more, so we check before handing it over.
const MetaMaxSize = memberlist.MetaMaxSize

// metaSigDomain separates metadata signatures from any other use of the node key.
const metaSigDomain = "dhtnode/gossip/meta/v2"

// Errors returned when decoding or verifying member metadata.
var (
	// ErrMalformedMeta: the bytes are not a NodeMeta of a known version.
	ErrMalformedMeta = errors.New("malformed gossip metadata")
	// ErrMetaVersion: the metadata is in format 1, which older dhtnode releases
	// sent and this node no longer accepts (also wrapped with ErrMalformedMeta).
	ErrMetaVersion = errors.New("retired gossip metadata format")
	// ErrMetaSignature: the signature does not verify with the public key embedded
	// in the claimed peer ID, i.e. the sender cannot sign for that peer ID.
	ErrMetaSignature = errors.New("gossip metadata signature does not verify against the claimed peer ID")
)

// MetaSizeError reports metadata that would exceed memberlist's limit.
type MetaSizeError struct {
	Size, Limit, Addrs int
}

func (e *MetaSizeError) Error() string {
	return fmt.Sprintf("gossip metadata is %d bytes but memberlist allows at most %d (peer ID + %d multiaddrs + signature); advertise fewer or shorter addresses",
		e.Size, e.Limit, e.Addrs)
}

// NodeMeta is what every member advertises through memberlist's metadata: its
// libp2p identity and addresses, the gossip address it announces itself at and
// when it signed all that, signed with its libp2p key so that knowing the
// cluster secret is not enough to impersonate another peer, and a copy of the
// bytes is no use from another address or after a newer record.
//
// Encoding (all lengths big-endian, total at most MetaMaxSize bytes):
//
//	version  u8 (=2)
//	peerID   u8 length + bytes   (must embed its public key: Ed25519, secp256k1)
//	gossip   u8 length (4 or 16) + IP bytes, u16 port: the memberlist address announced
//	issued   u64 Unix nanoseconds at signing, strictly increasing per member
//	addrs    u8 count, then per address u16 length + multiaddr bytes
//	sig      u16 length + bytes  (signature over metaSigDomain, the member name and all bytes above)
type NodeMeta struct {
	PeerID peer.ID
	// GossipAddr is the memberlist address the member announces; an alive
	// message carrying this metadata from any other address is refused.
	GossipAddr netip.AddrPort
	// Issued is the signer's wall clock (Unix ns) when it signed, raised past
	// any earlier record of its own: a record older than one already seen for
	// the member is refused.
	Issued    uint64
	Addrs     []ma.Multiaddr
	Signature []byte
}

// body encodes everything the signature covers except the domain and name.
func (m NodeMeta) body() []byte {
	b := make([]byte, 0, 160)
	b = append(b, MetaVersion)
	b = append(b, byte(len(m.PeerID)))
	b = append(b, m.PeerID...)
	ip := m.GossipAddr.Addr().Unmap().AsSlice()
	b = append(b, byte(len(ip)))
	b = append(b, ip...)
	b = binary.BigEndian.AppendUint16(b, m.GossipAddr.Port())
	b = binary.BigEndian.AppendUint64(b, m.Issued)
	b = append(b, byte(len(m.Addrs)))
	for _, a := range m.Addrs {
		ab := a.Bytes()
		b = binary.BigEndian.AppendUint16(b, uint16(len(ab)))
		b = append(b, ab...)
	}
	return b
}

// Marshal returns the wire encoding. It does not check limits; use SignMeta to
// build metadata for the local node.
func (m NodeMeta) Marshal() []byte {
	b := m.body()
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Signature)))
	return append(b, m.Signature...)
}

// signingInput is what the signature covers: a domain tag, the memberlist node
// name (so a signed blob cannot be replayed under another member name) and the body.
func signingInput(name string, body []byte) []byte {
	in := make([]byte, 0, len(metaSigDomain)+2+len(name)+len(body))
	in = append(in, metaSigDomain...)
	in = binary.BigEndian.AppendUint16(in, uint16(len(name)))
	in = append(in, name...)
	return append(in, body...)
}

// SignMeta builds and signs the metadata for member name with key, announced
// at gossip address gossipAddr and issued at issued (Unix ns), returning the
// wire bytes. It returns *MetaSizeError if the result exceeds MetaMaxSize.
func SignMeta(name string, key crypto.PrivKey, gossipAddr netip.AddrPort, issued uint64, addrs []ma.Multiaddr) ([]byte, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("peer ID from key: %w", err)
	}
	if len(id) > 255 {
		return nil, fmt.Errorf("peer ID is %d bytes, at most 255 fit in gossip metadata", len(id))
	}
	if !gossipAddr.IsValid() || gossipAddr.Addr().Zone() != "" {
		return nil, fmt.Errorf("gossip address %v cannot be signed: want an IP address without zone and a port", gossipAddr)
	}
	if len(addrs) > 255 {
		return nil, &MetaSizeError{Size: -1, Limit: MetaMaxSize, Addrs: len(addrs)}
	}
	m := NodeMeta{PeerID: id, GossipAddr: netip.AddrPortFrom(gossipAddr.Addr().Unmap(), gossipAddr.Port()), Issued: issued, Addrs: addrs}
	body := m.body()
	m.Signature, err = key.Sign(signingInput(name, body))
	if err != nil {
		return nil, fmt.Errorf("sign gossip metadata: %w", err)
	}
	out := m.Marshal()
	if len(out) > MetaMaxSize {
		return nil, &MetaSizeError{Size: len(out), Limit: MetaMaxSize, Addrs: len(addrs)}
	}
	return out, nil
}

// DecodeMeta parses wire bytes. It checks structure only (bounds, version,
// address, multiaddr and peer ID syntax); call Verify to check the signature.
// Errors wrap ErrMalformedMeta, and also ErrMetaVersion for the retired format 1.
func DecodeMeta(b []byte) (NodeMeta, error) {
	var m NodeMeta
	if len(b) > MetaMaxSize {
		return m, fmt.Errorf("%w: %d bytes exceeds the %d-byte limit", ErrMalformedMeta, len(b), MetaMaxSize)
	}
	b = bytes.Clone(b) // memberlist may reuse its buffers; keep nothing aliased
	r := metaReader{b: b}
	switch v := r.u8(); {
	case r.err != nil:
	case v == 1:
		return m, fmt.Errorf("%w: %w 1, from an older dhtnode that does not bind the gossip address or a freshness time; upgrade that member",
			ErrMalformedMeta, ErrMetaVersion)
	case v != MetaVersion:
		return m, fmt.Errorf("%w: unknown format %d (this node knows %d)", ErrMalformedMeta, v, MetaVersion)
	}
	idBytes := r.bytes(int(r.u8()))
	ipBytes := r.bytes(int(r.u8()))
	port := r.u16()
	issued := r.bytes(8)
	naddrs := int(r.u8())
	if r.err == nil {
		id, err := peer.IDFromBytes(idBytes)
		if err != nil {
			return m, fmt.Errorf("%w: peer ID: %v", ErrMalformedMeta, err)
		}
		m.PeerID = id
		ip, ok := netip.AddrFromSlice(ipBytes)
		if !ok {
			return NodeMeta{}, fmt.Errorf("%w: gossip address is %d bytes, want 4 or 16", ErrMalformedMeta, len(ipBytes))
		}
		m.GossipAddr = netip.AddrPortFrom(ip, port)
		m.Issued = binary.BigEndian.Uint64(issued)
	}
	for i := 0; i < naddrs && r.err == nil; i++ {
		ab := r.bytes(int(r.u16()))
		if r.err != nil {
			break
		}
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil || len(a) == 0 {
			return NodeMeta{}, fmt.Errorf("%w: multiaddr %d: %v", ErrMalformedMeta, i, err)
		}
		m.Addrs = append(m.Addrs, a)
	}
	m.Signature = r.bytes(int(r.u16()))
	if r.err != nil {
		return NodeMeta{}, fmt.Errorf("%w: %v", ErrMalformedMeta, r.err)
	}
	if r.off != len(b) {
		return NodeMeta{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformedMeta, len(b)-r.off)
	}
	// A multiaddr may parse from a non-canonical encoding (and an IPv4 address
	// may come as IPv4-in-IPv6); insist on the canonical one so that what we
	// verify is exactly what we would re-encode.
	if string(m.Marshal()) != string(b) {
		return NodeMeta{}, fmt.Errorf("%w: non-canonical encoding", ErrMalformedMeta)
	}
	return m, nil
}

// Verify checks that the signature was made, for member name, by the private key
// of m.PeerID. The public key comes from the peer ID itself, so a member can only
// ever claim a peer ID whose key it holds.
func (m NodeMeta) Verify(name string) error {
	pub, err := m.PeerID.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: peer ID %s does not embed its public key: %v", ErrMetaSignature, m.PeerID, err)
	}
	ok, err := pub.Verify(signingInput(name, m.body()), m.Signature)
	if err != nil || !ok {
		return fmt.Errorf("%w (member %q, peer %s)", ErrMetaSignature, name, m.PeerID)
	}
	return nil
}

// AnnouncedFrom reports whether ip:port (as memberlist gives them in a Node or
// an alive message) is the gossip address m was signed for.
func (m NodeMeta) AnnouncedFrom(ip net.IP, port uint16) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && a.Unmap() == m.GossipAddr.Addr().Unmap() && port == m.GossipAddr.Port()
}

// metaReader reads big-endian fields, remembering the first short read.
type metaReader struct {
	b   []byte
	off int
	err error
}

func (r *metaReader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off {
		r.err = fmt.Errorf("need %d bytes at offset %d, have %d", n, r.off, len(r.b)-r.off)
		return nil
	}
	out := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return out
}

func (r *metaReader) u8() byte {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *metaReader) u16() uint16 {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}
