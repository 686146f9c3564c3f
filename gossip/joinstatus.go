package gossip

import (
	"strings"
	"time"
)

// Join states reported by JoinStatus.
const (
	// JoinJoined: at least one other member is alive in this node's view.
	JoinJoined = "joined"
	// JoinJoining: no other member is alive and the last join reached no one
	// (Reason says why, e.g. a cluster secret that does not match); retry-join
	// and reconnect keep trying.
	JoinJoining = "joining"
	// JoinAlone: no other member is alive and no join has failed: the first
	// member of a cluster, waiting for others to join it.
	JoinAlone = "alone"
)

// JoinStatus says whether this node is part of a cluster and, if not, why.
type JoinStatus struct {
	// State is JoinJoined, JoinJoining or JoinAlone.
	State string
	// Joined is State == JoinJoined.
	Joined bool
	// Reason explains a state other than joined in one line: the last join
	// error with its hint, or what the node is waiting for.
	Reason string
	// Seeds are the configured retry-join addresses.
	Seeds []string
	// LastAttempt is when the last join (explicit, retry-join or reconnect)
	// finished; zero if none was made.
	LastAttempt time.Time
}

// joinRecord is what Join remembers for JoinStatus. Guarded by Gossip.mu.
type joinRecord struct {
	lastErr   error
	at        time.Time
	succeeded bool // some join reached a member
	hadOthers bool // some other member was alive at some point
}

// noteJoin records the outcome of a join attempt.
func (g *Gossip) noteJoin(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.join.at = time.Now()
	g.join.lastErr = err
	if err == nil {
		g.join.succeeded = true
	}
}

// JoinStatus reports whether this node has joined a cluster. A node that
// starts with seeds it cannot join (wrong address, or a cluster secret that
// differs) keeps running and retrying; this is how its operator learns why it
// is alone.
func (g *Gossip) JoinStatus() JoinStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := JoinStatus{Seeds: append([]string(nil), g.cfg.RetryJoin...), LastAttempt: g.join.at}
	others := 0
	for name, r := range g.members {
		if name != g.name && (r.State == StateAlive || r.State == StateSuspect) {
			others++
		}
	}
	switch {
	case g.left:
		st.State, st.Reason = JoinAlone, "this node has left the cluster"
	case others > 0:
		st.State, st.Joined = JoinJoined, true
	case g.join.lastErr != nil:
		st.State, st.Reason = JoinJoining, g.join.lastErr.Error()
	case len(st.Seeds) > 0 && !g.join.succeeded:
		st.State, st.Reason = JoinJoining, "joining "+strings.Join(st.Seeds, ",")+": first attempt under way"
	case g.join.hadOthers || g.join.succeeded:
		st.State, st.Reason = JoinAlone, "every other member has failed or left"
	default:
		st.State, st.Reason = JoinAlone, "no other member yet: this node is the first of its cluster (or give it a member to join)"
	}
	return st
}
