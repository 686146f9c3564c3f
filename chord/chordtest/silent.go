package chordtest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// SilentPeers are invented peers for real (non-mocknet) hosts: each has a fresh
// identity and a loopback TCP address that accepts connections and never sends a byte,
// so a dialler that believes a lying member's referral to one waits until its own
// timeout. They are what chord.NewAdversary's liars name in a cluster of daemons.
type SilentPeers struct {
	// Peers are the invented identities, each with its listening address.
	Peers []peer.AddrInfo

	listeners []net.Listener
	mu        sync.Mutex
	conns     []net.Conn
	closed    bool
	accepted  int
	wg        sync.WaitGroup
}

// ListenSilent starts n silent peers on 127.0.0.1. Close them when done.
func ListenSilent(n int) (*SilentPeers, error) {
	s := &SilentPeers{}
	for range n {
		_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		id, err := peer.IDFromPublicKey(pub)
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		s.listeners = append(s.listeners, l)
		addr, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", l.Addr().(*net.TCPAddr).Port))
		if err != nil {
			return nil, errors.Join(err, s.Close())
		}
		s.Peers = append(s.Peers, peer.AddrInfo{ID: id, Addrs: []ma.Multiaddr{addr}})
		s.wg.Add(1)
		go s.accept(l)
	}
	return s, nil
}

// accept takes connections on l and holds them, unanswered, until Close.
func (s *SilentPeers) accept(l net.Listener) {
	defer s.wg.Done()
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			return
		}
		s.conns = append(s.conns, conn)
		s.accepted++
		s.mu.Unlock()
	}
}

// Accepted is how many connections the silent peers have taken: a node that never
// dials a lying member's invented peers leaves it at zero.
func (s *SilentPeers) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Close stops listening and drops every held connection.
func (s *SilentPeers) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for _, l := range s.listeners {
		_ = l.Close()
	}
	for _, c := range conns {
		_ = c.Close()
	}
	s.wg.Wait()
	return nil
}
