package chord

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dhtnode/dhtnode/setting"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrBadConfig is returned by Config.Validate and New for a configuration that cannot work.
var ErrBadConfig = errors.New("chord: bad config")

// Config tunes one Chord node; its JSON form is the daemon config file's
// "routing.chord" section (fields tagged "-" are set in code only). DefaultConfig suits a LAN; every zero duration or count
// is an error from Validate, so start from DefaultConfig and change what you need.
type Config struct {
	// Successors is r, the length of the successor list. A node survives until r
	// consecutive successors fail at once, and provider records live on r nodes
	// (the owner and r-1 replicas). Default 8.
	Successors int `json:"successors"`
	// StabilizeInterval is how often a node asks its successor for its predecessor and
	// successor list and notifies it (Stoica et al. §4.3). Default 1 s (the paper used 30 s;
	// gossip makes the LAN case cheap).
	StabilizeInterval setting.Duration `json:"stabilize_interval"`
	// FixFingersInterval is how often one finger is refreshed with a lookup. A round also
	// sets every following finger with the same successor, so a full sweep takes about
	// log2 N rounds. Default 1 s.
	FixFingersInterval setting.Duration `json:"fix_fingers_interval"`
	// CheckPredecessorInterval is how often the predecessor is pinged and cleared if dead.
	// Default 1 s.
	CheckPredecessorInterval setting.Duration `json:"check_predecessor_interval"`
	// RPCTimeout bounds each request, connection set-up included. Default 2 s.
	RPCTimeout setting.Duration `json:"rpc_timeout"`
	// ReferralWidth is how many closest-preceding nodes a node returns to a lookup, so the
	// querier can fall back when the best one is dead. Default 3.
	ReferralWidth int `json:"referral_width"`
	// RouteViaSuccessors lets a lookup jump along the whole successor list, not only the
	// fingers and the first successor. It saves about log2(Successors) hops near the key
	// but departs from the paper's routing (½·log2 N hops); off by default so measured
	// path lengths compare with the literature.
	RouteViaSuccessors bool `json:"route_via_successors"`
	// MaxLookupRPCs bounds the requests one lookup may send. Default 32.
	MaxLookupRPCs int `json:"max_lookup_rpcs"`
	// LookupStall is how long a lookup waits for an answer before it also asks the
	// next best candidate (and so on, within MaxLookupRPCs), so a hop that never
	// answers costs this rather than RPCTimeout. Default 250 ms (a LAN answers in
	// milliseconds).
	LookupStall setting.Duration `json:"-"`
	// ProviderTTL is how long a provider record lives without being republished.
	// Default 24 h.
	ProviderTTL setting.Duration `json:"provider_ttl"`
	// RepublishInterval is how often this node re-announces what it provides, which also
	// rebuilds the replicas after owners die. Default 1 h (well under ProviderTTL).
	RepublishInterval setting.Duration `json:"republish_interval"`
	// MaxProvidersPerKey bounds the providers stored for one key. Default 64.
	MaxProvidersPerKey int `json:"max_providers_per_key"`
	// MaxRecordsPerPeer bounds the records one providing peer may have stored here.
	// Default 10,000.
	MaxRecordsPerPeer int `json:"max_records_per_peer"`
	// MaxRecords bounds all provider records on this node. Default 200,000.
	MaxRecords int `json:"max_records"`
	// IsMember, when set, is the cluster's verified membership (in the daemon: alive
	// in gossip's signed member list), and Chord keeps to it:
	// requests from peers it rejects have their stream reset unanswered (or, with
	// ServeNonMembers, are answered but adopted nowhere), so they are
	// never adopted into the successor list or fingers (a node looking up its own key
	// is otherwise taken as a joiner); the finger table, successor list and
	// predecessor hold members only; a peer learned of from another node's answer is
	// never contacted unless it is a member; and the owner every lookup finds is
	// checked against the ring of members its PeerUp calls describe, so lying members
	// cannot misroute it (see members.go). A peer caught contradicting the membership
	// is counted and, when it does so repeatedly, dropped for a while. nil serves
	// everyone and believes every answer: a ring without a membership service. It is
	// called on each incoming stream and for the peers every answer names, without
	// Chord's lock held; it must be fast and safe for concurrent use.
	IsMember func(peer.ID) bool `json:"-"`
	// ServeNonMembers, with IsMember set, answers requests from peers IsMember rejects
	// instead of resetting their streams, but still adopts nothing from them: they enter
	// no table and their notify is refused. It suits an open cluster, where anyone may
	// join gossip anyway, so answering a non-member reveals nothing it could not learn
	// by joining, while the ring keeps to the peers gossip vouches for.
	ServeNonMembers bool `json:"-"`
	// LiarBan is how long a peer caught lying repeatedly stays out of the finger
	// table, successor list and predecessor, and is not contacted for routing.
	// Default 5 min.
	LiarBan setting.Duration `json:"-"`
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger `json:"-"`
	// Registerer receives the node's metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer `json:"-"`
}

// DefaultConfig returns the LAN defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Successors:               8,
		StabilizeInterval:        setting.Duration(time.Second),
		FixFingersInterval:       setting.Duration(time.Second),
		CheckPredecessorInterval: setting.Duration(time.Second),
		RPCTimeout:               setting.Duration(2 * time.Second),
		ReferralWidth:            3,
		MaxLookupRPCs:            32,
		LookupStall:              setting.Duration(250 * time.Millisecond),
		ProviderTTL:              setting.Duration(24 * time.Hour),
		RepublishInterval:        setting.Duration(time.Hour),
		MaxProvidersPerKey:       64,
		MaxRecordsPerPeer:        10_000,
		MaxRecords:               200_000,
		LiarBan:                  setting.Duration(5 * time.Minute),
	}
}

// Validate reports the first setting that cannot work, wrapped in ErrBadConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
	}
	switch {
	case c.Successors < 1 || c.Successors > maxPeersPerMessage-1:
		return bad("successors %d not in 1..%d", c.Successors, maxPeersPerMessage-1)
	case c.StabilizeInterval <= 0 || c.FixFingersInterval <= 0 || c.CheckPredecessorInterval <= 0:
		return bad("maintenance intervals must be positive")
	case c.RPCTimeout <= 0:
		return bad("rpc timeout must be positive")
	case c.ReferralWidth < 1 || c.ReferralWidth > maxPeersPerMessage:
		return bad("referral width %d not in 1..%d", c.ReferralWidth, maxPeersPerMessage)
	case c.MaxLookupRPCs < 1:
		return bad("max lookup rpcs must be positive")
	case c.LookupStall <= 0:
		return bad("lookup stall must be positive")
	case c.ProviderTTL <= 0 || c.RepublishInterval <= 0:
		return bad("provider ttl and republish interval must be positive")
	case c.RepublishInterval >= c.ProviderTTL:
		return bad("republish interval %v must be shorter than provider ttl %v", c.RepublishInterval, c.ProviderTTL)
	case c.LiarBan <= 0:
		return bad("liar ban must be positive")
	case c.MaxProvidersPerKey < 1 || c.MaxRecordsPerPeer < 1 || c.MaxRecords < 1:
		return bad("provider bounds must be positive")
	}
	return nil
}
