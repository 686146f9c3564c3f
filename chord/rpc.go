package chord

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// ProtocolID is the libp2p protocol Chord speaks: one request and one response per stream.
const ProtocolID = protocol.ID("/dhtnode/chord/1.0.0")

// call sends req to p and waits for the response, within cfg.RPCTimeout. Errors: the
// connection or stream error, context.DeadlineExceeded, ErrMalformed, ErrTooLarge, or
// ErrRemote with the remote's reason.
func (c *Chord) call(ctx context.Context, p peer.ID, req *message) (*message, error) {
	resp, err := c.roundTrip(ctx, p, req)
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.m.rpcs.WithLabelValues(req.Type.String(), result).Inc()
	return resp, err
}

// callWithin is call with a timeout shorter than cfg.RPCTimeout.
func (c *Chord) callWithin(ctx context.Context, p peer.ID, req *message, d time.Duration) (*message, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return c.call(ctx, p, req)
}

func (c *Chord) roundTrip(ctx context.Context, p peer.ID, req *message) (*message, error) {
	if p == c.self.ID {
		return nil, fmt.Errorf("chord: rpc to self")
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RPCTimeout.Std())
	defer cancel()
	s, err := c.t.NewStream(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("chord: %s to %s: %w", req.Type, p.ShortString(), err)
	}
	// Deadlines are not honoured by every transport (mocknet ignores them): resetting the
	// stream when the context ends is what really bounds the call.
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if deadline, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(deadline)
	}
	if err := writeMessage(s, req); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("chord: %s to %s: %w", req.Type, p.ShortString(), ctxErr(ctx, err))
	}
	_ = s.CloseWrite()
	resp, err := readMessage(s)
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("chord: %s from %s: %w", req.Type, p.ShortString(), ctxErr(ctx, err))
	}
	_ = s.Close()
	switch resp.Type {
	case msgResponse:
		return resp, nil
	case msgError:
		return nil, fmt.Errorf("%w: %s: %s", ErrRemote, req.Type, resp.Err)
	}
	return nil, fmt.Errorf("%w: %s answered with %s", ErrMalformed, req.Type, resp.Type)
}

// ctxErr prefers the context's error, so a timeout reads as one rather than as a reset.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// handleStream serves one request. Malformed or oversized input resets the stream, and
// so does any request from a peer Config.IsMember rejects, unless
// Config.ServeNonMembers (then it is answered, and nothing it sends reaches the ring).
func (c *Chord) handleStream(s Stream) {
	from := s.RemotePeer()
	member := c.member(from)
	if !member && !c.cfg.ServeNonMembers {
		// Not a member: no answer, and nothing it sends can reach the ring.
		c.m.refused.Inc()
		c.log.Debug("refused a request from a non-member", "peer", from)
		_ = s.Reset()
		return
	}
	timer := time.AfterFunc(c.cfg.RPCTimeout.Std(), func() { _ = s.Reset() })
	defer timer.Stop()
	_ = s.SetDeadline(time.Now().Add(c.cfg.RPCTimeout.Std()))
	req, err := readMessage(s)
	if err != nil {
		c.m.malformed.Inc()
		c.log.Debug("bad request", "peer", s.RemotePeer(), "err", err)
		_ = s.Reset()
		return
	}
	resp := c.serve(from, member, req)
	fitMessage(resp)
	if err := writeMessage(s, resp); err != nil {
		_ = s.Reset()
		return
	}
	_ = s.Close()
}

// fitMessage trims records, then peers, until m fits in MaxMessageSize.
func fitMessage(m *message) {
	for {
		_, err := m.encode()
		if !errors.Is(err, ErrTooLarge) {
			return
		}
		switch {
		case len(m.Records) > 0:
			m.Records = m.Records[:len(m.Records)/2]
		case len(m.Peers) > 0:
			m.Peers = m.Peers[:len(m.Peers)/2]
		default:
			m.Err = m.Err[:len(m.Err)/2]
		}
	}
}

// info is p with the addresses our peerstore knows, for referrals.
func (c *Chord) info(p Peer) peerInfo {
	var addrs []ma.Multiaddr
	if p.ID == c.self.ID {
		addrs = c.t.Addrs()
	} else {
		addrs = c.t.PeerAddrs(p.ID)
	}
	return clampPeer(peerInfo{ID: p.ID, Addrs: addrs})
}

func (c *Chord) infos(ps []Peer) []peerInfo {
	out := make([]peerInfo, 0, len(ps))
	for _, p := range ps {
		out = append(out, c.info(p))
	}
	return out
}

// learn records the addresses a message carried, so we can dial peers we were referred to,
// and returns the peers on the ring.
func (c *Chord) learn(ps []peerInfo) []Peer {
	out := make([]Peer, 0, len(ps))
	for _, p := range ps {
		if p.ID == c.self.ID {
			out = append(out, c.self)
			continue
		}
		if len(p.Addrs) > 0 {
			c.t.AddAddrs(p.ID, p.Addrs, peerstore.RecentlyConnectedAddrTTL)
		}
		out = append(out, NewPeer(p.ID))
	}
	return out
}

func errorReply(format string, args ...any) *message {
	return &message{Type: msgError, Err: fmt.Sprintf(format, args...)}
}

// serve answers one request from the peer `from`; member is Config.IsMember's verdict
// on it (true without a membership).
func (c *Chord) serve(from peer.ID, member bool, req *message) *message {
	c.m.served.WithLabelValues(req.Type.String()).Inc()
	now := time.Now()
	if c.adversary != nil {
		if resp := c.adversary.answer(c, req); resp != nil {
			return resp
		}
	}
	switch req.Type {
	case msgFindSuccessor:
		if !req.HasKey {
			return errorReply("find_successor needs a key")
		}
		if c.successorMayBeDead() {
			c.checkSuccessor()
		}
		c.mu.Lock()
		found, succs, next := c.ring.step(req.Key, c.cfg.ReferralWidth)
		own := slices.Clone(c.ring.succ)
		// Only a member may be taken in, and not one dropped for lying.
		if req.Key == routing.PeerKey(from) && c.trusted(from, member, now) {
			// A node looking up its own key is joining (Join): it is live and about to
			// be a member, so offer it to our successor list and fingers. When many
			// nodes join at once this keeps them from all landing on one successor and
			// stabilization from walking the ring one node per round. (Offered after
			// answering, so the joiner never gets itself back.)
			c.ring.offer(NewPeer(from))
		}
		c.mu.Unlock()
		if found {
			return &message{Type: msgResponse, Found: true, Peers: c.infos(succs)}
		}
		return &message{Type: msgResponse, Peers: c.infos(next), Succs: c.infos(own)}

	case msgNeighbours:
		c.mu.Lock()
		pred := c.ring.pred
		succs := c.ring.successorList()
		c.mu.Unlock()
		resp := &message{Type: msgResponse}
		if !pred.isZero() {
			resp.Found = true
			resp.Peers = append(resp.Peers, c.info(pred))
		}
		resp.Peers = append(resp.Peers, c.infos(succs)...)
		return resp

	case msgNotify:
		p := NewPeer(from)
		c.mu.Lock()
		if !c.trusted(from, member, now) {
			c.mu.Unlock()
			return errorReply("notify: not a member, or dropped for lying")
		}
		c.inRing = true
		old, changed := c.ring.notify(p)
		c.ring.offer(p) // a notifier is a live member: it may also be a better finger
		var handoff []record
		if changed {
			// p joined between old and us: keys in (old, p] are now p's.
			if old.isZero() {
				handoff = c.store.inRange(c.self.Key, p.Key, now)
			} else {
				handoff = c.store.inRange(old.Key, p.Key, now)
			}
		}
		c.mu.Unlock()
		if len(handoff) > 0 {
			c.queueHandoff(p.ID, handoff)
		}
		return &message{Type: msgResponse}

	case msgPing:
		return &message{Type: msgResponse}

	case msgAddProvider:
		if len(req.Records) == 0 {
			return errorReply("add_provider needs a record")
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, r := range req.Records {
			if r.Provider.ID != from {
				return errorReply("add_provider: a peer may only announce itself")
			}
			if err := c.store.put(r.Key, from, r.Provider.Addrs, now.Add(c.clampTTL(r.TTL))); err != nil {
				return errorReply("add_provider: %v", err)
			}
		}
		return &message{Type: msgResponse}

	case msgHandoff:
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.isNeighbour(from) {
			return errorReply("handoff: only ring neighbours may hand records over")
		}
		for _, r := range req.Records {
			// Bounds still apply; a full store just keeps fewer replicas.
			_ = c.store.put(r.Key, r.Provider.ID, r.Provider.Addrs, now.Add(c.clampTTL(r.TTL)))
		}
		return &message{Type: msgResponse}

	case msgGetProviders:
		if !req.HasKey {
			return errorReply("get_providers needs a key")
		}
		c.mu.Lock()
		recs := c.store.get(req.Key, now)
		c.mu.Unlock()
		if len(recs) > maxRecordsPerMessage {
			recs = recs[:maxRecordsPerMessage]
		}
		return &message{Type: msgResponse, Records: recs}
	}
	return errorReply("unexpected %s request", req.Type)
}

// successorMayBeDead reports whether we hold no connection to our first successor:
// stabilization keeps one open, so a missing one suggests it died since the last round.
func (c *Chord) successorMayBeDead() bool {
	c.mu.Lock()
	alone, succ := c.ring.alone(), c.ring.successor()
	c.mu.Unlock()
	return !alone && !c.t.Connected(succ.ID)
}

// checkSuccessor pings our first successor before we name it as a key's owner, and
// drops it (then the next) while it does not answer. Each ping gets half an RPC timeout,
// so the querier waiting on us does not time out first. Killed nodes then stop being
// named owners between their death and our next stabilization round.
func (c *Chord) checkSuccessor() {
	for range c.cfg.Successors {
		c.mu.Lock()
		if c.ring.alone() {
			c.mu.Unlock()
			return
		}
		succ := c.ring.successor()
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RPCTimeout.Std()/2)
		_, err := c.call(ctx, succ.ID, &message{Type: msgPing})
		cancel()
		if err == nil || c.ctx.Err() != nil {
			return
		}
		c.forget(succ.ID)
		if !c.successorMayBeDead() {
			return
		}
	}
}

func (c *Chord) clampTTL(seconds uint64) time.Duration {
	ttl := time.Duration(min(seconds, uint64(c.cfg.ProviderTTL.Std()/time.Second))) * time.Second
	return ttl
}

// isNeighbour reports whether id is our predecessor or in our successor list. Caller holds mu.
func (c *Chord) isNeighbour(id peer.ID) bool {
	if c.ring.pred.ID == id {
		return true
	}
	for _, s := range c.ring.succ {
		if s.ID == id {
			return true
		}
	}
	return false
}
