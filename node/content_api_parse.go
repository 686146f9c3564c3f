package node

import (
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/dhtnode/dhtnode/content"
)

// The HTTP API speaks text and its main client is the CLI; the node's content methods
// take typed values and return errors that name no flag. This file is the edge between
// the two: it parses what a request names and adds to an error what a CLI user types to
// fix it.

// contentRef reads the content ID and the provider addresses a request names.
func contentRef(id string, from []string) (content.ID, []peer.AddrInfo, error) {
	cid, err := parseContentID(id)
	if err != nil {
		return content.ID{}, nil, err
	}
	provs, err := parseProviders(from)
	return cid, provs, err
}

// parseContentID parses a content ID as a request carries it (surrounding space
// ignored). Errors wrap content.ErrInvalidID.
func parseContentID(s string) (content.ID, error) {
	return content.ParseID(strings.TrimSpace(s))
}

// parseProviders parses a request's from addresses (the CLI's --from): multiaddrs
// ending in /p2p/PEERID.
func parseProviders(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("--from %q: %w", s, err)
		}
		info, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			return nil, fmt.Errorf("--from %q: the address must end in /p2p/PEERID: %w", s, err)
		}
		out = append(out, *info)
	}
	return out, nil
}

// apiHint adds to a content error what a user of the CLI can do about it: name a
// provider with --from when no router runs or none was found. (The add handler adds
// its own: a directory needs -r.)
// The result still matches what err matched (errors.Is, errors.As), so the status code
// stays the same; other errors come back unchanged.
func apiHint(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var none *NoProvidersError
	switch {
	case errors.As(err, &none):
		plain := none.Error()
		hinted := strings.TrimSuffix(plain, ")") + "; name one with --from MULTIADDR)"
		msg = strings.Replace(msg, plain, hinted, 1)
	case errors.Is(err, ErrNoRouter):
		msg += ": give --from MULTIADDR"
	default:
		return err
	}
	return &hintedError{err: err, msg: msg}
}

// hintedError is an error with a hint for the CLI appended to its message.
type hintedError struct {
	err error
	msg string
}

func (e *hintedError) Error() string { return e.msg }
func (e *hintedError) Unwrap() error { return e.err }
