package exchange

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// Wire format. Every message is one frame:
//
//	uvarint(len(body)) | body
//	body = type byte | payload
//
// Requests (client → server):
//
//	TypeManifestRequest  payload = content ID (binary CID, 1..MaxIDSize bytes)
//	TypeHaveRequest      payload = content ID
//	TypePieceRequest     payload = u32 piece index (big endian) | u8 flags | content ID
//
// Responses (server → client), one per request, in request order:
//
//	TypeManifest  payload = the raw manifest block
//	TypeHave      payload = u32 piece count | bitfield, ceil(count/8) bytes, MSB first, spare bits zero
//	TypePiece     payload = u32 piece index | u8 proof length n | n × 32-byte proof hashes | piece data
//	TypeError     payload = u8 error code | message (UTF-8, ≤ MaxErrorMessage bytes)
//
// Responses come back in the order the requests were sent, so a client can keep a window of
// requests outstanding on one stream (pipelining) and match answers without request IDs. A
// TypeError answers exactly one request and leaves the stream usable; anything malformed closes
// the stream.
const (
	TypeManifestRequest byte = 0x01
	TypeHaveRequest     byte = 0x02
	TypePieceRequest    byte = 0x03

	TypeManifest byte = 0x81
	TypeHave     byte = 0x82
	TypePiece    byte = 0x83
	TypeError    byte = 0xFF
)

// FlagProof in a piece request asks for the uncle hashes that prove the piece against the
// file's Merkle root.
const FlagProof byte = 0x01

// Error codes carried by TypeError.
const (
	// CodeNotFound: the server does not hold the manifest or piece (yet).
	CodeNotFound byte = 1
	// CodeBadRequest: the request was well-formed on the wire but made no sense (index out of range).
	CodeBadRequest byte = 2
	// CodeInternal: the server failed to read its own store (for example a corrupt piece on disk).
	CodeInternal byte = 3
)

// Size limits. Every decoder checks the frame length against the limit of what it expects
// before allocating, so a peer cannot make us allocate more than the largest legal message.
const (
	// MaxIDSize bounds a binary content ID (a CIDv1 sha2-256 is 36 bytes).
	MaxIDSize = 128
	// MaxProofHashes bounds a proof: 2^48 pieces is more than any file we accept.
	MaxProofHashes = 48
	// MaxErrorMessage bounds the human-readable part of an error.
	MaxErrorMessage = 1024
	// MaxRequestSize bounds any request frame.
	MaxRequestSize = 1 + 4 + 1 + MaxIDSize
	// DefaultMaxPieceSize is the largest piece a peer may send unless Limits say otherwise.
	DefaultMaxPieceSize = 16 << 20
	// DefaultMaxManifestSize bounds a manifest block (a 100 GiB file at 256 KiB pieces has a
	// 12.5 MiB piece layer).
	DefaultMaxManifestSize = 16 << 20
	// DefaultMaxPieces bounds the piece count of one content ID (and so a have bitfield).
	DefaultMaxPieces = 1 << 24
)

// Errors returned by the codec. Decoding errors wrap ErrMalformed.
var (
	// ErrMalformed means a frame broke the wire format; the stream must be closed.
	ErrMalformed = errors.New("exchange: malformed message")
	// ErrTooLarge means a frame is longer than the limit for what may come next.
	ErrTooLarge = fmt.Errorf("%w: message too large", ErrMalformed)
)

// Limits bound what a decoder accepts. The zero value means the defaults.
type Limits struct {
	MaxPieceSize    int
	MaxManifestSize int
	MaxPieces       int
}

func (l Limits) withDefaults() Limits {
	if l.MaxPieceSize <= 0 {
		l.MaxPieceSize = DefaultMaxPieceSize
	}
	if l.MaxManifestSize <= 0 {
		l.MaxManifestSize = DefaultMaxManifestSize
	}
	if l.MaxPieces <= 0 {
		l.MaxPieces = DefaultMaxPieces
	}
	return l
}

// maxResponseSize is the largest response frame these limits allow.
func (l Limits) maxResponseSize() int {
	l = l.withDefaults()
	piece := 1 + 4 + 1 + MaxProofHashes*32 + l.MaxPieceSize
	have := 1 + 4 + (l.MaxPieces+7)/8
	return max(piece, have, 1+l.MaxManifestSize, 1+1+MaxErrorMessage)
}

// Message is one decoded frame. Which fields are set depends on Type; byte slices alias the
// buffer the message was decoded from and are valid only until the next decode into it.
type Message struct {
	Type byte
	// ID is the content ID of a request.
	ID []byte
	// Index is the piece index of a piece request or piece.
	Index uint32
	// Flags of a piece request.
	Flags byte
	// Proof is the uncle hashes of a piece, leaf side first.
	Proof []merkle.Hash
	// Data is a manifest or piece payload.
	Data []byte
	// Have is the bitfield of a have response.
	Have *content.Bitfield
	// Code and Text describe a TypeError.
	Code byte
	Text string
}

// AppendFrame appends the encoding of m to dst. It does not check limits: the encoder is only
// ever fed our own well-formed values.
func AppendFrame(dst []byte, m *Message) []byte {
	if m.Type == TypePiece {
		dst = appendPieceHeader(dst, m.Index, m.Proof, len(m.Data))
		return append(dst, m.Data...)
	}
	dst = binary.AppendUvarint(dst, uint64(bodyLen(m)))
	dst = append(dst, m.Type)
	switch m.Type {
	case TypeManifestRequest, TypeHaveRequest:
		dst = append(dst, m.ID...)
	case TypePieceRequest:
		dst = binary.BigEndian.AppendUint32(dst, m.Index)
		dst = append(dst, m.Flags)
		dst = append(dst, m.ID...)
	case TypeManifest:
		dst = append(dst, m.Data...)
	case TypeHave:
		dst = binary.BigEndian.AppendUint32(dst, uint32(m.Have.Len()))
		dst = m.Have.AppendTo(dst)
	case TypeError:
		dst = append(dst, m.Code)
		dst = append(dst, m.Text...)
	}
	return dst
}

// appendPieceHeader appends a whole piece frame except the piece data itself, so a server can
// write the data straight from its buffer without copying it into the frame.
func appendPieceHeader(dst []byte, index uint32, proof []merkle.Hash, dataLen int) []byte {
	n := 1 + 4 + 1 + 32*len(proof) + dataLen
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = append(dst, TypePiece)
	dst = binary.BigEndian.AppendUint32(dst, index)
	dst = append(dst, byte(len(proof)))
	for i := range proof {
		dst = append(dst, proof[i][:]...)
	}
	return dst
}

func bodyLen(m *Message) int {
	switch m.Type {
	case TypeManifestRequest, TypeHaveRequest:
		return 1 + len(m.ID)
	case TypePieceRequest:
		return 1 + 4 + 1 + len(m.ID)
	case TypeManifest:
		return 1 + len(m.Data)
	case TypeHave:
		return 1 + 4 + m.Have.EncodedLen()
	case TypeError:
		return 1 + 1 + len(m.Text)
	}
	return 1
}

// readFrame reads one frame body of at most limit bytes into buf (grown if needed) and
// returns the body.
func readFrame(r *bufio.Reader, buf []byte, limit int) ([]byte, error) {
	n, err := readLength(r)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w (%d > %d bytes)", ErrTooLarge, n, limit)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated frame", ErrMalformed)
		}
		return nil, err
	}
	return buf, nil
}

// readLength reads a frame length: a minimal uvarint of at most 5 bytes (every legal frame is
// far below 2^35 bytes). io.EOF before the first byte is a clean end of stream.
func readLength(r *bufio.Reader) (uint64, error) {
	var x uint64
	for i := 0; i < 5; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if i == 0 {
					return 0, io.EOF
				}
				return 0, fmt.Errorf("%w: truncated length", ErrMalformed)
			}
			return 0, err
		}
		x |= uint64(c&0x7F) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, fmt.Errorf("%w: non-minimal length", ErrMalformed)
			}
			return x, nil
		}
	}
	return 0, fmt.Errorf("%w: length too long", ErrMalformed)
}

// DecodeRequest parses a request frame body (type byte first).
func DecodeRequest(body []byte) (Message, error) {
	var m Message
	if len(body) == 0 {
		return m, fmt.Errorf("%w: empty", ErrMalformed)
	}
	m.Type = body[0]
	p := body[1:]
	switch m.Type {
	case TypeManifestRequest, TypeHaveRequest:
		m.ID = p
	case TypePieceRequest:
		if len(p) < 5 {
			return m, fmt.Errorf("%w: short piece request", ErrMalformed)
		}
		m.Index = binary.BigEndian.Uint32(p)
		m.Flags = p[4]
		if m.Flags&^FlagProof != 0 {
			return m, fmt.Errorf("%w: unknown flags %#x", ErrMalformed, m.Flags)
		}
		m.ID = p[5:]
	default:
		return m, fmt.Errorf("%w: unknown request type %#x", ErrMalformed, m.Type)
	}
	if len(m.ID) == 0 || len(m.ID) > MaxIDSize {
		return m, fmt.Errorf("%w: content ID of %d bytes", ErrMalformed, len(m.ID))
	}
	return m, nil
}

// DecodeResponse parses a response frame body (type byte first) under limits.
func DecodeResponse(body []byte, lim Limits) (Message, error) {
	lim = lim.withDefaults()
	var m Message
	if len(body) == 0 {
		return m, fmt.Errorf("%w: empty", ErrMalformed)
	}
	m.Type = body[0]
	p := body[1:]
	switch m.Type {
	case TypeManifest:
		if len(p) == 0 || len(p) > lim.MaxManifestSize {
			return m, fmt.Errorf("%w: manifest of %d bytes", ErrMalformed, len(p))
		}
		m.Data = p
	case TypeHave:
		if len(p) < 4 {
			return m, fmt.Errorf("%w: short have", ErrMalformed)
		}
		n := binary.BigEndian.Uint32(p)
		if uint64(n) > uint64(lim.MaxPieces) {
			return m, fmt.Errorf("%w: have for %d pieces", ErrMalformed, n)
		}
		bf, err := content.BitfieldFromBytes(int(n), p[4:])
		if err != nil {
			return m, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		m.Have = bf
	case TypePiece:
		if len(p) < 5 {
			return m, fmt.Errorf("%w: short piece", ErrMalformed)
		}
		m.Index = binary.BigEndian.Uint32(p)
		np := int(p[4])
		if np > MaxProofHashes {
			return m, fmt.Errorf("%w: proof of %d hashes", ErrMalformed, np)
		}
		p = p[5:]
		if len(p) < 32*np {
			return m, fmt.Errorf("%w: short proof", ErrMalformed)
		}
		if np > 0 {
			m.Proof = make([]merkle.Hash, np)
			for i := range m.Proof {
				copy(m.Proof[i][:], p[32*i:])
			}
		}
		m.Data = p[32*np:]
		if len(m.Data) == 0 || len(m.Data) > lim.MaxPieceSize {
			return m, fmt.Errorf("%w: piece of %d bytes", ErrMalformed, len(m.Data))
		}
	case TypeError:
		if len(p) < 1 {
			return m, fmt.Errorf("%w: short error", ErrMalformed)
		}
		m.Code = p[0]
		if len(p)-1 > MaxErrorMessage || !utf8.Valid(p[1:]) {
			return m, fmt.Errorf("%w: bad error text", ErrMalformed)
		}
		m.Text = string(p[1:])
	default:
		return m, fmt.Errorf("%w: unknown response type %#x", ErrMalformed, m.Type)
	}
	return m, nil
}
