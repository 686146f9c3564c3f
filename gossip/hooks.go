package gossip

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// hooks implements memberlist's delegates for a Gossip, on a separate type so the
// methods stay out of Gossip's public API.
//
// Concurrency: memberlist calls NotifyAlive, NotifyJoin, NotifyLeave and
// NotifyUpdate while holding its node lock. They take g.mu only, and Gossip never
// calls into memberlist while holding g.mu, so the two locks cannot deadlock.
type hooks struct{ g *Gossip }

var (
	_ memberlist.Delegate      = (*hooks)(nil)
	_ memberlist.EventDelegate = (*hooks)(nil)
	_ memberlist.AliveDelegate = (*hooks)(nil)
	_ memberlist.MergeDelegate = (*hooks)(nil)
)

// NodeMeta returns our signed metadata (already checked against the limit).
func (h *hooks) NodeMeta(limit int) []byte {
	h.g.mu.Lock()
	defer h.g.mu.Unlock()
	if len(h.g.meta) > limit { // cannot happen: SignMeta enforces MetaMaxSize
		return nil
	}
	return slices.Clone(h.g.meta)
}

// NotifyMsg receives our user messages (leave intents). It must not block.
func (h *hooks) NotifyMsg(b []byte) {
	if len(b) == 0 {
		return
	}
	switch b[0] {
	case msgLeaveIntent:
		h.g.handleLeaveIntent(b)
	default:
		h.g.logger.Debug("ignoring unknown gossip user message", "type", b[0], "len", len(b))
	}
}

func (h *hooks) GetBroadcasts(overhead, limit int) [][]byte {
	return h.g.bq.GetBroadcasts(overhead, limit)
}

// LocalState sends the leave intents we heard recently with every push/pull,
// so a member that missed the broadcast still learns, within one push/pull
// interval, that a member it saw die actually left.
func (h *hooks) LocalState(join bool) []byte {
	g := h.g
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []byte
	for _, ri := range g.recentIntents {
		if time.Since(ri.at) < intentTTL && len(out)+2+len(ri.raw) <= maxIntentState {
			out = binary.BigEndian.AppendUint16(out, uint16(len(ri.raw)))
			out = append(out, ri.raw...)
		}
	}
	return out
}

// MergeRemoteState takes the other side's recent leave intents.
func (h *hooks) MergeRemoteState(buf []byte, join bool) {
	if len(buf) > maxIntentState {
		return
	}
	r := metaReader{b: buf}
	for r.off < len(buf) && r.err == nil {
		raw := r.bytes(int(r.u16()))
		if r.err == nil {
			h.g.handleLeaveIntent(raw)
		}
	}
}

// NotifyAlive refuses any member whose metadata does not decode, whose
// signature does not verify against the peer ID it claims, that was signed for
// another gossip address than the one announced, or that is older than what we
// have seen of the member (see vetAlive). memberlist calls it before it decides
// anything about the message (address conflicts, incarnation), so a refused
// message changes nothing: the member never enters our view, and a member we
// know keeps its address.
func (h *hooks) NotifyAlive(n *memberlist.Node) error {
	if _, err := h.g.vetAlive(n); err != nil {
		h.g.refuse(n, err, "alive message")
		return err
	}
	h.g.clearSuspect(n.Name)
	return nil
}

// NotifyMerge refuses a join (push/pull with join=true) if any member of the
// other side has metadata that does not check; memberlist then cancels the merge
// and the join fails with our error.
func (h *hooks) NotifyMerge(peers []*memberlist.Node) error {
	for _, n := range peers {
		if err := h.g.vetMerged(n); err != nil {
			h.g.refuse(n, err, "in a cluster we were merging with; merge refused")
			return fmt.Errorf("refusing merge: member %q: %w", n.Name, err)
		}
	}
	return nil
}

func (h *hooks) NotifyJoin(n *memberlist.Node) {
	h.g.memberUp(n, EventJoin)
}

func (h *hooks) NotifyUpdate(n *memberlist.Node) {
	h.g.memberUp(n, EventUpdate)
}

// NotifyLeave is called for both a graceful leave and a failure; n.State does
// not tell them apart in memberlist v0.7.0 (see leaveIntent), a received leave
// intent does.
func (h *hooks) NotifyLeave(n *memberlist.Node) {
	g := h.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if n.Name == g.name {
		g.setStateLocked(g.name, StateLeft)
		return
	}
	r := g.members[n.Name]
	if r == nil {
		return // refused or never seen with valid metadata
	}
	state, typ := StateDead, EventFailed
	if at, ok := g.intents[n.Name]; ok && time.Since(at) < intentTTL {
		state, typ = StateLeft, EventLeave
		delete(g.intents, n.Name)
	}
	g.setStateLocked(n.Name, state)
	g.emitLocked(Event{Type: typ, Member: r.snapshot()})
}

// vet decodes and verifies a member's metadata through the member's MetaCache.
func (g *Gossip) vet(name string, meta []byte) (NodeMeta, error) {
	return g.metaCache.Vet(name, meta)
}

// memberUp records a join or an update and tells subscribers.
func (g *Gossip) memberUp(n *memberlist.Node, typ EventType) {
	meta, err := g.vet(n.Name, n.Meta)
	if err != nil { // NotifyAlive vetted it; only a bug gets here
		g.logger.Error("member with unverifiable metadata got through", "member", n.Name, "err", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.members[n.Name]
	if r == nil {
		r = &memberRecord{}
		g.members[n.Name] = r
		typ = EventJoin
	} else if r.State == StateDead || r.State == StateLeft {
		typ = EventJoin
	} else if r.PeerID != "" && r.PeerID != meta.PeerID && n.Name != g.name {
		// Same member name, new key (a configured NodeName reused by a new
		// identity): the old peer is gone as far as subscribers are concerned.
		g.emitLocked(Event{Type: EventFailed, Member: r.snapshot()})
		typ = EventJoin
	}
	r.Name = n.Name
	r.Addr = net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
	r.PeerID, r.Addrs = meta.PeerID, meta.Addrs
	r.issued = max(r.issued, meta.Issued)
	delete(g.forgotten, n.Name)
	if r.State != StateAlive {
		r.State, r.changed = StateAlive, time.Now()
	}
	if typ == EventJoin {
		delete(g.intents, n.Name) // an intent from an earlier life must not mark this one left
	}
	g.updateGaugesLocked()
	if n.Name == g.name {
		return // no events about ourselves
	}
	g.join.hadOthers = true
	g.emitLocked(Event{Type: typ, Member: r.snapshot()})
}

// handleLeaveIntent records a verified leave intent and passes it on, so it
// reaches every member rather than only the few the leaver gossips to.
func (g *Gossip) handleLeaveIntent(b []byte) {
	l, err := decodeLeaveIntent(b)
	if err != nil {
		g.logger.Debug("dropping leave intent", "err", err)
		return
	}
	g.mu.Lock()
	r := g.members[l.Name]
	if r == nil || l.Name == g.name || g.seenIntents[l.Name] >= l.UnixNano {
		g.mu.Unlock()
		return
	}
	id := r.PeerID
	g.mu.Unlock()
	if err := l.verify(id); err != nil {
		g.logger.Warn("dropping forged leave intent", "err", err)
		return
	}
	g.mu.Lock()
	if g.seenIntents[l.Name] >= l.UnixNano {
		g.mu.Unlock()
		return
	}
	g.seenIntents[l.Name] = l.UnixNano
	g.intents[l.Name] = time.Now()
	g.recentIntents[l.Name] = recentIntent{raw: slices.Clone(b), at: time.Now()}
	// The dead message may have overtaken the intent: a member we just marked
	// failed actually left.
	if r := g.members[l.Name]; r != nil && r.State == StateDead && time.Since(r.changed) < intentTTL {
		g.setStateLocked(l.Name, StateLeft)
		delete(g.intents, l.Name)
	}
	g.mu.Unlock()
	g.bq.QueueBroadcast(&intentBroadcast{name: l.Name, msg: slices.Clone(b)})
}

// noteMemberlistLog watches memberlist's log for the one place it reveals a
// suspicion: after a failed probe it logs "Suspect NAME has failed, no acks
// received" and starts the suspicion timer. memberlist exposes no suspect state
// (Members() reports every non-dead node the same), so suspect in Members() is
// this node's own suspicion, cleared by the member's next alive message.
func (g *Gossip) noteMemberlistLog(msg string) {
	const prefix, suffix = "Suspect ", " has failed, no acks received"
	if !strings.HasPrefix(msg, prefix) || !strings.HasSuffix(msg, suffix) {
		return
	}
	name := msg[len(prefix) : len(msg)-len(suffix)]
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.members[name]; r != nil && r.State == StateAlive {
		g.setStateLocked(name, StateSuspect)
	}
}

func (g *Gossip) clearSuspect(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.members[name]; r != nil && r.State == StateSuspect {
		g.setStateLocked(name, StateAlive)
	}
}

// maxIntentState bounds the leave intents carried in one push/pull.
const maxIntentState = 64 << 10

type recentIntent struct {
	raw []byte
	at  time.Time
}

// intentBroadcast is a leave intent in memberlist's broadcast queue; a newer
// intent for the same member replaces an older one.
type intentBroadcast struct {
	name   string
	msg    []byte
	notify chan struct{}
}

func (b *intentBroadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*intentBroadcast)
	return ok && o.name == b.name
}

func (b *intentBroadcast) Message() []byte { return b.msg }

func (b *intentBroadcast) Finished() {
	if b.notify != nil {
		select {
		case b.notify <- struct{}{}:
		default:
		}
	}
}
