package content

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multicodec"
	mh "github.com/multiformats/go-multihash"

	"github.com/dhtnode/dhtnode/routing"
)

// Codec is the multicodec of a content ID: json (0x0200), because the
// manifest the ID hashes is a JSON document. See doc.go for why JSON.
const Codec = uint64(multicodec.Json)

// What every content ID's text looks like (CIDv1, Codec, sha2-256, base32), for
// error messages; a test keeps them true.
const (
	idPrefix = "bagaaiera"
	idLen    = 61
)

// ID is a content ID: a CIDv1 with codec json whose multihash is the
// sha2-256 of the encoded manifest. The zero ID is undefined (Defined reports it).
type ID struct {
	c cid.Cid
}

// NewID returns the ID of an encoded manifest.
func NewID(manifest []byte) ID {
	sum := sha256.Sum256(manifest)
	hash, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		panic(err) // sha2-256 with a 32-byte digest always encodes
	}
	return ID{c: cid.NewCidV1(Codec, hash)}
}

// ParseID parses an ID as a user types it: base32 ("b..."), or any other
// multibase of the same CIDv1. It returns an error wrapping ErrInvalidID that
// says what is wrong (not a CID, a CIDv0 from IPFS, another codec or hash).
func ParseID(s string) (ID, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return ID{}, fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(s) > 256 {
		return ID{}, fmt.Errorf("%w: %d characters is too long for a content ID", ErrInvalidID, len(s))
	}
	c, err := cid.Decode(s)
	if err != nil {
		// go-cid's reasons ("selected encoding not supported") mean nothing to someone
		// who mistyped an ID; say what one looks like.
		return ID{}, fmt.Errorf("%w: %q is not a content ID (one looks like %s…: the %d-character base32 string add prints)",
			ErrInvalidID, s, idPrefix, idLen)
	}
	return fromCid(c)
}

// IDFromBytes decodes the binary form (Bytes) of an ID, e.g. from the wire.
func IDFromBytes(b []byte) (ID, error) {
	if len(b) > 128 {
		return ID{}, fmt.Errorf("%w: %d bytes is too long for a content ID", ErrInvalidID, len(b))
	}
	c, err := cid.Cast(b)
	if err != nil {
		return ID{}, fmt.Errorf("%w: %v", ErrInvalidID, unwrapAll(err))
	}
	return fromCid(c)
}

// IDFromCid checks that c is a dhtnode content ID.
func IDFromCid(c cid.Cid) (ID, error) { return fromCid(c) }

func fromCid(c cid.Cid) (ID, error) {
	if c.Version() != 1 {
		return ID{}, fmt.Errorf("%w: %s is a CIDv0 (an IPFS dag-pb ID), not a dhtnode content ID", ErrInvalidID, c)
	}
	if c.Type() != Codec {
		return ID{}, fmt.Errorf("%w: %s has codec %s, want json (0x0200)", ErrInvalidID, c, multicodec.Code(c.Type()))
	}
	dec, err := mh.Decode(c.Hash())
	if err != nil {
		return ID{}, fmt.Errorf("%w: %v", ErrInvalidID, err)
	}
	if dec.Code != mh.SHA2_256 || dec.Length != sha256.Size {
		return ID{}, fmt.Errorf("%w: %s is hashed with %s, want sha2-256", ErrInvalidID, c, multicodec.Code(dec.Code))
	}
	return ID{c: c}, nil
}

func unwrapAll(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// String is the canonical form: base32, lower case, "b" prefix.
func (id ID) String() string {
	if !id.c.Defined() {
		return "<undefined>"
	}
	return id.c.String()
}

// Defined is false for the zero ID.
func (id ID) Defined() bool { return id.c.Defined() }

// Cid returns the ID as a go-cid CID (for libp2p content routing).
func (id ID) Cid() cid.Cid { return id.c }

// Bytes is the binary CID, the form sent on the wire.
func (id ID) Bytes() []byte { return id.c.Bytes() }

// Digest is the sha2-256 of the manifest.
func (id ID) Digest() [sha256.Size]byte {
	var d [sha256.Size]byte
	if dec, err := mh.Decode(id.c.Hash()); err == nil {
		copy(d[:], dec.Digest)
	}
	return d
}

// Key is where the ID lives in the routers' key space: the manifest's SHA-256,
// which is routing.ContentKey(manifest) and the CID's digest. Keying by the digest
// (not by a hash of the whole CID) makes Kademlia's wire key for it, the sha2-256
// multihash of Key, equal to the CID's own multihash, which is how IPFS keys provider
// records: on the /ipfs prefix our records are the ones IPFS tools look for.
func (id ID) Key() routing.Key { return routing.Key(id.Digest()) }

// Matches reports whether manifest is the document this ID names.
func (id ID) Matches(manifest []byte) bool {
	return id.Defined() && sha256.Sum256(manifest) == id.Digest()
}

// MarshalText encodes the ID as String (for JSON).
func (id ID) MarshalText() ([]byte, error) {
	if !id.Defined() {
		return nil, fmt.Errorf("%w: undefined", ErrInvalidID)
	}
	return []byte(id.String()), nil
}

// UnmarshalText parses with ParseID.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
