// Package gossip is the node's cluster membership: SWIM gossip on
// hashicorp/memberlist v0.7.0, with a signed libp2p identity per member.
//
// # Model
//
// Each member advertises NodeMeta in memberlist's metadata: its libp2p peer ID
// and multiaddrs, the gossip address it announces and when it signed (Unix ns),
// signed with its libp2p (Ed25519) key over the member name. The peer ID embeds
// the public key, so a member can only claim a peer ID whose private key it
// holds. The AliveDelegate and MergeDelegate refuse anyone whose metadata does
// not decode or verify or was signed for another gossip address, and the
// AliveDelegate also refuses a record older than the newest record or leave
// intent seen for that member: a copy of a member's bytes is worth nothing from
// another address, nor after the member moved on, left or restarted. Each
// refusal is counted by reason and logged once per member per while. A
// restarted member signs a newer record and is taken back at its old address
// or, once the others declared its old self dead, at a new one. The cluster
// secret (Config.SecretKey) encrypts gossip and keeps outsiders out; the
// signature stops insiders from impersonating each other.
//
// JoinStatus says whether the node has joined and, if not, why (the last join
// error, e.g. a cluster secret that does not match).
//
// Gossip tracks every member's State the way Serf does: alive, suspect (this
// node's probe failed and SWIM suspicion is running), dead (failed) and left.
// memberlist's Members() forgets dead nodes and its NotifyLeave cannot tell a
// failure from a leave, so Gossip keeps its own table and gossips a signed leave
// intent before leaving. Failed members are remembered for ReconnectTimeout and
// retried every ReconnectInterval (Serf's reconnect), which is what re-merges a
// cluster after a partition longer than memberlist's GossipToTheDeadTime;
// left members are remembered for TombstoneTimeout.
//
// # Goroutines
//
// memberlist owns its own goroutines and calls our delegates from them (some
// while holding its node lock: the delegates only take Gossip's mutex, and
// Gossip never calls memberlist while holding it). Gossip adds one maintenance
// loop (reconnect, reap), one retry-join loop while seeds are unjoined, and one
// goroutine per subscriber that drains an unbounded queue, so memberlist never
// waits for a slow subscriber. Shutdown stops them all.
//
// # Usage
//
//	cfg := gossip.DefaultConfig()
//	cfg.BindAddr = "127.0.0.1:0"
//	cfg.RetryJoin = []string{"127.0.0.1:7946"}
//	g, err := gossip.New(cfg, privKey, host.Addrs())
//	if err != nil { ... }
//	events, cancel := g.Subscribe()
//	defer cancel()
//	go func() {
//		for ev := range events {
//			switch ev.Type {
//			case gossip.EventJoin, gossip.EventUpdate:
//				router.PeerUp(ev.Member.AddrInfo())
//			case gossip.EventLeave, gossip.EventFailed:
//				router.PeerDown(ev.Member.PeerID)
//			}
//		}
//	}()
//	...
//	_ = g.Leave(5 * time.Second)
//	_ = g.Shutdown()
//
// For tests and simulations, MemNetwork provides in-memory transports with
// latency, partitions and traffic counters; it works inside testing/synctest.
package gossip
