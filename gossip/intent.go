package gossip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// User messages we gossip through memberlist's Delegate broadcasts. The first byte
// is the message type.
const (
	msgLeaveIntent = 1
)

// leaveSigDomain separates leave-intent signatures from metadata signatures.
const leaveSigDomain = "dhtnode/gossip/leave/v1"

// maxIntentSize bounds an encoded leave intent (type, name, time, signature).
const maxIntentSize = 1 + 1 + 255 + 8 + 2 + 256

// ErrMalformedIntent is returned for a leave intent that does not decode.
var ErrMalformedIntent = errors.New("malformed leave intent")

// leaveIntent is broadcast by a member just before memberlist's Leave, as Serf
// does. memberlist v0.7.0 reports a graceful leave and a failure through the same
// NotifyLeave, and the Node it passes always says StateAlive (the real state lives
// in an unexported shadowing field; hashicorp/memberlist#293, PR #321 unmerged), so
// this signed intent is how the others tell "left" from "failed".
type leaveIntent struct {
	Name      string
	UnixNano  uint64 // sender's clock; distinguishes repeated leaves for dedup
	Signature []byte
}

func (l leaveIntent) body() []byte {
	b := []byte{msgLeaveIntent, byte(len(l.Name))}
	b = append(b, l.Name...)
	return binary.BigEndian.AppendUint64(b, l.UnixNano)
}

func (l leaveIntent) marshal() []byte {
	b := l.body()
	b = binary.BigEndian.AppendUint16(b, uint16(len(l.Signature)))
	return append(b, l.Signature...)
}

func (l leaveIntent) signingInput() []byte {
	return append([]byte(leaveSigDomain), l.body()...)
}

func signLeaveIntent(name string, unixNano uint64, key crypto.PrivKey) (leaveIntent, error) {
	l := leaveIntent{Name: name, UnixNano: unixNano}
	sig, err := key.Sign(l.signingInput())
	if err != nil {
		return l, fmt.Errorf("sign leave intent: %w", err)
	}
	l.Signature = sig
	return l, nil
}

// decodeLeaveIntent parses a leave intent, including its leading type byte.
func decodeLeaveIntent(b []byte) (leaveIntent, error) {
	var l leaveIntent
	if len(b) > maxIntentSize {
		return l, fmt.Errorf("%w: %d bytes", ErrMalformedIntent, len(b))
	}
	b = bytes.Clone(b)
	r := metaReader{b: b}
	if t := r.u8(); r.err == nil && t != msgLeaveIntent {
		return l, fmt.Errorf("%w: message type %d", ErrMalformedIntent, t)
	}
	l.Name = string(r.bytes(int(r.u8())))
	ts := r.bytes(8)
	l.Signature = r.bytes(int(r.u16()))
	if r.err != nil {
		return leaveIntent{}, fmt.Errorf("%w: %v", ErrMalformedIntent, r.err)
	}
	if r.off != len(b) {
		return leaveIntent{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformedIntent, len(b)-r.off)
	}
	l.UnixNano = binary.BigEndian.Uint64(ts)
	return l, nil
}

// verify checks the intent was signed by the key of id.
func (l leaveIntent) verify(id peer.ID) error {
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("leave intent for %q: %w", l.Name, err)
	}
	ok, err := pub.Verify(l.signingInput(), l.Signature)
	if err != nil || !ok {
		return fmt.Errorf("leave intent for %q: signature does not verify for peer %s", l.Name, id)
	}
	return nil
}
