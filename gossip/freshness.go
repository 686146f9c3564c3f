package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Why a member's metadata can be refused beyond not decoding or not verifying.
// A signed record is only good for the gossip address it names and only while
// no newer record (or leave) of the same member has been seen, so a copy of a
// member's bytes replayed by someone else is useless.
var (
	// ErrAnnouncedElsewhere: the metadata was signed for another gossip
	// address than the one the alive message announces.
	ErrAnnouncedElsewhere = errors.New("gossip metadata was signed for another gossip address")
	// ErrStaleMeta: the metadata is older than a record (or a leave intent) of
	// the same member this node has already seen.
	ErrStaleMeta = errors.New("gossip metadata is older than what this node has already seen of that member")
)

// Reasons in the reason label of dhtnode_gossip_refused_members_total.
const (
	refusedMalformed = "malformed" // does not decode
	refusedFormat    = "format"    // a format this node does not accept (older dhtnode)
	refusedSignature = "signature" // not signed by the key of the peer ID it claims
	refusedAddress   = "address"   // signed for another gossip address (a replay from elsewhere)
	refusedStale     = "stale"     // older than a record or leave already seen (a replay of the past)
)

var refusedReasons = []string{refusedMalformed, refusedFormat, refusedSignature, refusedAddress, refusedStale}

func refusalReason(err error) string {
	switch {
	case errors.Is(err, ErrMetaVersion):
		return refusedFormat
	case errors.Is(err, ErrMalformedMeta):
		return refusedMalformed
	case errors.Is(err, ErrMetaSignature):
		return refusedSignature
	case errors.Is(err, ErrAnnouncedElsewhere):
		return refusedAddress
	case errors.Is(err, ErrStaleMeta):
		return refusedStale
	}
	return refusedMalformed // no other error reaches a refusal
}

// DeadNodeReclaimTime is what New sets memberlist's DeadNodeReclaimTime to.
// memberlist refuses an alive message for a known member from a new address
// ("Conflicting address") unless the member left, or is dead and this much
// time has passed. Our AliveDelegate has already checked that the new address
// is the one the member's own key signed, in a record newer than any seen, so
// a dead member that comes back elsewhere (a restart on another host or port)
// can be taken back at once instead of after memberlist forgets it.
const DeadNodeReclaimTime = time.Nanosecond

// maxForgotten bounds the freshness floors kept for members that were reaped,
// so a long-forgotten member's old record cannot be replayed; beyond it the
// oldest floors are dropped.
const maxForgotten = 4096

// refusalLogEvery is how often one member's refusals for one reason are logged
// at warn level; the counter counts every one.
const refusalLogEvery = 10 * time.Minute

// maxRefusalLog bounds the names remembered for log rate limiting.
const maxRefusalLog = 1024

// vetAlive checks an alive message's metadata: it decodes and verifies, was
// signed for the address the message announces, and is not older than what
// we have seen of the member. It returns the decoded metadata.
//
// Our own name is special: memberlist refutes a stale alive message about us
// only if the delegate lets it through, so our own older records pass (after
// the signature check), and a record of ours newer than the one we announce (a
// previous life whose clock was ahead of ours now) makes us re-sign past it.
func (g *Gossip) vetAlive(n *memberlist.Node) (NodeMeta, error) {
	meta, err := g.vet(n.Name, n.Meta)
	if err != nil {
		return NodeMeta{}, err
	}
	if !meta.AnnouncedFrom(n.Addr, n.Port) {
		return NodeMeta{}, fmt.Errorf("%w: member %q signed %s, the message announces %s",
			ErrAnnouncedElsewhere, n.Name, meta.GossipAddr, hostPort(n.Addr, n.Port))
	}
	if n.Name == g.name {
		g.outdoOwnRecord(meta, n.Meta)
		return meta, nil
	}
	g.mu.Lock()
	floor := g.minIssuedLocked(n.Name)
	g.mu.Unlock()
	if meta.Issued < floor {
		return NodeMeta{}, fmt.Errorf("%w: member %q record issued %s, already seen %s",
			ErrStaleMeta, n.Name, fmtNanos(meta.Issued), fmtNanos(floor))
	}
	return meta, nil
}

// vetMerged checks one member of a cluster we are merging with: it decodes,
// verifies and was signed for the address listed. Freshness is left to the
// alive messages the merge turns into, each refused on its own if stale, so a
// lagging view elsewhere does not stop a join.
func (g *Gossip) vetMerged(n *memberlist.Node) error {
	meta, err := g.vet(n.Name, n.Meta)
	if err != nil {
		return err
	}
	if !meta.AnnouncedFrom(n.Addr, n.Port) {
		return fmt.Errorf("%w: member %q signed %s, listed at %s",
			ErrAnnouncedElsewhere, n.Name, meta.GossipAddr, hostPort(n.Addr, n.Port))
	}
	if n.Name == g.name {
		g.outdoOwnRecord(meta, n.Meta)
	}
	return nil
}

// minIssuedLocked is the oldest record of name we still accept: the newest
// record accepted, just after the newest leave intent, or the floor kept after
// the member was reaped. g.mu held.
func (g *Gossip) minIssuedLocked(name string) uint64 {
	floor := g.forgotten[name]
	if r := g.members[name]; r != nil {
		floor = max(floor, r.issued)
	}
	if t, ok := g.seenIntents[name]; ok {
		floor = max(floor, t+1)
	}
	return floor
}

// forgetLocked keeps name's freshness floor after its record is reaped. g.mu held.
func (g *Gossip) forgetLocked(name string) {
	floor := g.minIssuedLocked(name)
	if floor == 0 {
		return
	}
	if _, ok := g.forgotten[name]; !ok && len(g.forgotten) >= maxForgotten {
		oldest, oldestName := uint64(1<<64-1), ""
		for n, f := range g.forgotten {
			if f < oldest {
				oldest, oldestName = f, n
			}
		}
		delete(g.forgotten, oldestName)
	}
	g.forgotten[name] = floor
}

// nextIssuedLocked is the freshness value for a new record of ours: the wall
// clock, but never at or below a record we already signed. g.mu held.
func (g *Gossip) nextIssuedLocked() uint64 {
	return max(uint64(time.Now().UnixNano()), g.issued+1)
}

// outdoOwnRecord re-signs our metadata past a record of ours that is newer
// than the one we announce (seen in gossip: an earlier life of this member
// whose clock was ahead), so the others, who refuse anything older than what
// they saw, take us back. The update goes out from a goroutine: memberlist may
// be holding its node lock while it asks us.
func (g *Gossip) outdoOwnRecord(seen NodeMeta, raw []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || seen.Issued < g.issued || bytes.Equal(raw, g.meta) {
		return
	}
	meta, err := SignMeta(g.name, g.key, g.announce, seen.Issued+1, g.addrs)
	if err != nil {
		g.logger.Warn("cannot re-sign gossip metadata past an earlier record of ours", "err", err)
		return
	}
	g.logger.Info("an earlier record of this member is newer than ours (clock went back?); re-signing past it",
		"seen_issued", fmtNanos(seen.Issued), "ours", fmtNanos(g.issued))
	g.meta, g.issued = meta, seen.Issued+1
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.announceMeta()
	}()
}

// announceMeta has memberlist announce our current metadata. memberlist's
// UpdateNode takes its incarnation number before it takes its node lock, so a
// refutation in between (likely just after a restart, when the others still
// hold our old state) makes it drop the update silently: check that it took,
// and try again a few times.
func (g *Gossip) announceMeta() {
	g.mu.Lock()
	ml := g.ml
	g.mu.Unlock()
	if ml == nil {
		return // still in New, which announces what is current once memberlist runs
	}
	for attempt := 0; attempt < 5; attempt++ {
		if err := ml.UpdateNode(time.Second); err != nil {
			g.logger.Debug("metadata update not yet broadcast", "err", err)
		}
		g.mu.Lock()
		r, want, closed := g.members[g.name], g.issued, g.closed
		took := r != nil && r.issued >= want
		g.mu.Unlock()
		if took || closed {
			return
		}
	}
	g.logger.Warn("memberlist did not take our new metadata after 5 tries")
}

// refuse counts a refused member and logs it, once per member and reason per
// refusalLogEvery (a replaying attacker would otherwise fill the log).
func (g *Gossip) refuse(n *memberlist.Node, err error, what string) {
	reason := refusalReason(err)
	g.metrics.refusedMember(reason)
	key := n.Name + "\x00" + reason
	now := time.Now()
	g.mu.Lock()
	last, seen := g.refusalLog[key]
	logIt := !seen || now.Sub(last) >= refusalLogEvery
	if logIt {
		if !seen && len(g.refusalLog) >= maxRefusalLog {
			for k, t := range g.refusalLog {
				if now.Sub(t) >= refusalLogEvery {
					delete(g.refusalLog, k)
				}
			}
		}
		if seen || len(g.refusalLog) < maxRefusalLog {
			g.refusalLog[key] = now
		} else {
			logIt = false
		}
	}
	g.mu.Unlock()
	if logIt {
		g.logger.Warn("refused gossip member "+what, "member", n.Name, "addr", hostPort(n.Addr, n.Port),
			"reason", reason, "err", err, "next_log_in", refusalLogEvery)
	} else {
		g.logger.Debug("refused gossip member "+what, "member", n.Name, "reason", reason, "err", err)
	}
}

// pruneRefusalLogLocked drops rate-limit entries that have expired. g.mu held.
func (g *Gossip) pruneRefusalLogLocked() {
	for k, t := range g.refusalLog {
		if time.Since(t) >= refusalLogEvery {
			delete(g.refusalLog, k)
		}
	}
}

// announceAddr converts the address memberlist will announce into the form
// signed in our metadata.
func announceAddr(ip net.IP, port int) (netip.AddrPort, error) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || port < 0 || port > 65535 {
		return netip.AddrPort{}, fmt.Errorf("gossip: advertise address %v:%d is not an IP address and port", ip, port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

func hostPort(ip net.IP, port uint16) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// fmtNanos renders a freshness value as a UTC time for logs and errors.
func fmtNanos(ns uint64) string {
	if ns > 1<<63-1 {
		return strconv.FormatUint(ns, 10) + "ns"
	}
	return time.Unix(0, int64(ns)).UTC().Format(time.RFC3339Nano)
}
