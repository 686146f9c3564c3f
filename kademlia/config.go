package kademlia

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dhtnode/dhtnode/setting"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// Peers is a list of peers with their addresses, written in JSON as multiaddrs that
// end in /p2p/PEERID (a peer with several addresses is one multiaddr each), the way
// a user copies them from `dhtnode id` or IPFS's bootstrap list.
type Peers []peer.AddrInfo

// MarshalJSON writes one /p2p multiaddr per address (an empty list as []).
func (ps Peers) MarshalJSON() ([]byte, error) {
	out := []string{}
	for _, ai := range ps {
		addrs, err := peer.AddrInfoToP2pAddrs(&ai)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			out = append(out, a.String())
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads multiaddrs ending in /p2p/PEERID, merging those of one peer.
func (ps *Peers) UnmarshalJSON(b []byte) error {
	var strs []string
	if err := json.Unmarshal(b, &strs); err != nil {
		return err
	}
	if len(strs) == 0 {
		*ps = nil // as in DefaultConfig, so a config survives a round trip unchanged
		return nil
	}
	addrs := make([]ma.Multiaddr, 0, len(strs))
	for _, s := range strs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
		addrs = append(addrs, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return fmt.Errorf("addresses must end in /p2p/PEERID: %w", err)
	}
	*ps = infos
	return nil
}

// ErrBadConfig is returned by Validate and New for an unusable Config.
var ErrBadConfig = errors.New("kademlia: bad config")

// DefaultProtocolPrefix keeps dhtnode's DHT apart from the public IPFS one: kad-dht
// speaks /dhtnode/kad/1.0.0, so a node never answers or joins IPFS traffic by accident.
const DefaultProtocolPrefix = "/dhtnode"

// IPFSProtocolPrefix is the prefix of the public IPFS (Amino) DHT. With it, and IPFS
// bootstrap peers in BootstrapPeers, the node speaks /ipfs/kad/1.0.0 and joins that
// network; kad-dht then insists on k = 20.
const IPFSProtocolPrefix = "/ipfs"

// IP-diversity modes for Config.IPDiversity.
const (
	// DiversityOff: no IP-diversity filter. For libp2p mocknet (every mock host has an
	// address in 100::/64, which the filter counts as one group) and for tests.
	DiversityOff = "off"
	// DiversityPublic (the default): kad-dht's filter applies to peers reached over
	// public addresses; peers whose every connection is loopback, private (RFC 1918,
	// RFC 4193) or link-local are exempt. The filter defends against eclipse attacks:
	// someone who owns one /16 (or one ASN) must not fill our buckets with Sybils.
	// Every 127.0.0.1 peer falls into one group, so without the exemption a cluster
	// on one machine or one LAN could keep only 3 peers in the whole table. kad-dht's
	// own LAN DHT (dual/lan) runs without the filter for the same reason.
	DiversityPublic = "public"
	// DiversityStrict: kad-dht's filter for every peer, as kubo's WAN DHT does
	// (also filters lookup responses). A loopback cluster then routes badly.
	DiversityStrict = "strict"
)

// Config tunes a Kademlia router; its JSON form is the daemon config file's
// "routing.kademlia" section (fields tagged "-" are set in code only). The zero value is not usable; start from DefaultConfig.
type Config struct {
	// ProtocolPrefix goes before /kad/1.0.0 in the protocol ID. Default "/dhtnode";
	// IPFSProtocolPrefix joins the IPFS DHT (see the package doc).
	ProtocolPrefix string `json:"protocol_prefix"`
	// BucketSize is k: peers per bucket, and how many closest peers a lookup returns
	// and a provider record is stored on. Default 20 (as IPFS, which requires it).
	BucketSize int `json:"bucket_size"`
	// Concurrency is α: requests in flight per lookup. Default 10 (kad-dht's and
	// IPFS's value; the Kademlia paper used 3).
	Concurrency int `json:"concurrency"`
	// Resiliency is β: a lookup ends when the β closest peers seen have answered.
	// Default 3 (kad-dht's value).
	Resiliency int `json:"resiliency"`
	// BootstrapPeers are dialled when the routing table is empty (in JSON: multiaddrs
	// ending in /p2p/PEERID). Empty by default: gossip fills the table; the public
	// IPFS bootstrappers are never used unless listed here.
	BootstrapPeers Peers `json:"bootstrap"`
	// AutoRefresh runs kad-dht's periodic bucket refresh (random lookups into each
	// bucket). Default true for the daemon; tests and compare turn it off so that
	// tables only change through gossip and the lookups measured.
	AutoRefresh bool `json:"auto_refresh"`
	// RefreshInterval is the period of that refresh. Default 10 min (kad-dht's).
	RefreshInterval setting.Duration `json:"refresh_interval"`
	// IPDiversity is the routing table's IP-diversity (eclipse-attack) filter:
	// DiversityPublic "public" (default: limits apply to peers on public addresses,
	// not to loopback/private/link-local ones, so a local cluster works),
	// DiversityStrict "strict" (everyone, as kubo on the Internet) or DiversityOff "off".
	IPDiversity string `json:"ip_diversity"`
	// PeerAddrTTL is how long addresses learned from gossip stay in the peerstore
	// without a refresh. Default 1 h; gossip re-announces members well within it.
	PeerAddrTTL setting.Duration `json:"-"`
	// ConnectTimeout bounds the background dial that PeerUp starts when the
	// diversity filter needs a live connection to judge a peer. Default 10 s.
	ConnectTimeout setting.Duration `json:"-"`
	// ReofferInterval is how often members that gossip reports alive but that are
	// missing from the table (kad-dht drops a peer after one failed request, e.g. a
	// transient network error) are offered to it again: gossip, not one timeout, is
	// the judge of who is alive. Default 1 min; 0 turns it off.
	ReofferInterval setting.Duration `json:"reoffer_interval"`
	// ProviderTTL is how long this node keeps provider records others store on it.
	// Default 48 h (IPFS's value).
	ProviderTTL setting.Duration `json:"provider_ttl"`
	// ReprovideInterval is how often the router re-announces every key it has
	// provided, so records outlive ProviderTTL and reach peers that joined near the
	// key since. Default 22 h (IPFS's value, under the TTL); 0 turns it off.
	ReprovideInterval setting.Duration `json:"reprovide_interval"`
	// IsMember, when set, confines kad-dht to the peers it admits: only they enter
	// the routing table, are queried by lookups, and get answers (streams from
	// others are reset). Set it to the cluster membership when only members may
	// route; nil leaves the DHT open. It must be fast and safe for concurrent use.
	IsMember func(peer.ID) bool `json:"-"`
	// StreamPerRequest makes every request open a stream of its own and close it once
	// answered, instead of kad-dht's one kept stream per peer. Over a network, reuse
	// saves a protocol negotiation per request; in an in-process simulation opening a
	// stream costs nothing, while each kept stream (buffers and goroutines at both
	// ends, for every pair of peers that ever spoke) grows with N² and dominates
	// memory. For simulations; the daemon keeps kad-dht's default.
	StreamPerRequest bool `json:"-"`
	// Logger receives debug logs; nil means slog.Default().
	Logger *slog.Logger `json:"-"`
	// Registerer receives the metrics (labelled algo="kademlia"); nil means none.
	Registerer prometheus.Registerer `json:"-"`
}

// DefaultConfig returns the defaults documented on Config (daemon settings: auto
// refresh on, diversity filter for public addresses).
func DefaultConfig() Config {
	return Config{
		ProtocolPrefix:  DefaultProtocolPrefix,
		BucketSize:      20,
		Concurrency:     10,
		Resiliency:      3,
		AutoRefresh:     true,
		RefreshInterval: setting.Duration(10 * time.Minute),
		IPDiversity:     DiversityPublic,
		PeerAddrTTL:     setting.Duration(time.Hour),
		ConnectTimeout:  setting.Duration(10 * time.Second),

		ReofferInterval:   setting.Duration(time.Minute),
		ProviderTTL:       setting.Duration(48 * time.Hour),
		ReprovideInterval: setting.Duration(22 * time.Hour),
	}
}

// TestConfig is DefaultConfig for simulated networks (tests, compare): no auto
// refresh, re-offer or reprovide, so tables and records change only through gossip
// events and the operations measured, and no diversity filter, because every mocknet host is
// in one IP group.
func TestConfig() Config {
	c := DefaultConfig()
	c.AutoRefresh = false
	c.IPDiversity = DiversityOff
	c.ReprovideInterval = 0
	c.ReofferInterval = 0
	return c
}

// Validate reports the first unusable field, wrapped in ErrBadConfig.
func (c Config) Validate() error {
	switch {
	case !strings.HasPrefix(c.ProtocolPrefix, "/") || len(c.ProtocolPrefix) < 2 || strings.ContainsAny(c.ProtocolPrefix, " \t\n"):
		return fmt.Errorf("%w: protocol prefix %q must look like /name", ErrBadConfig, c.ProtocolPrefix)
	case c.BucketSize < 1 || c.BucketSize > 256:
		return fmt.Errorf("%w: bucket size %d not in [1,256]", ErrBadConfig, c.BucketSize)
	case c.ProtocolPrefix == IPFSProtocolPrefix && c.BucketSize != 20:
		return fmt.Errorf("%w: the IPFS DHT requires bucket size 20, got %d", ErrBadConfig, c.BucketSize)
	case c.Concurrency < 1 || c.Concurrency > 64:
		return fmt.Errorf("%w: concurrency %d not in [1,64]", ErrBadConfig, c.Concurrency)
	case c.Resiliency < 1 || c.Resiliency > c.BucketSize:
		return fmt.Errorf("%w: resiliency %d not in [1,bucket size]", ErrBadConfig, c.Resiliency)
	case c.AutoRefresh && c.RefreshInterval <= 0:
		return fmt.Errorf("%w: refresh interval must be positive", ErrBadConfig)
	case c.PeerAddrTTL <= 0:
		return fmt.Errorf("%w: peer address TTL must be positive", ErrBadConfig)
	case c.ConnectTimeout <= 0:
		return fmt.Errorf("%w: connect timeout must be positive", ErrBadConfig)
	case c.ReofferInterval < 0:
		return fmt.Errorf("%w: re-offer interval must not be negative", ErrBadConfig)
	case c.ProviderTTL <= 0:
		return fmt.Errorf("%w: provider TTL must be positive", ErrBadConfig)
	case c.ReprovideInterval < 0 || (c.ReprovideInterval > 0 && c.ReprovideInterval >= c.ProviderTTL):
		return fmt.Errorf("%w: reprovide interval %v must be 0 (off) or shorter than the provider TTL %v",
			ErrBadConfig, c.ReprovideInterval, c.ProviderTTL)
	}
	switch c.IPDiversity {
	case DiversityOff, DiversityPublic, DiversityStrict:
	default:
		return fmt.Errorf("%w: ip diversity %q (want %s, %s or %s)", ErrBadConfig, c.IPDiversity,
			DiversityPublic, DiversityStrict, DiversityOff)
	}
	for _, ai := range c.BootstrapPeers {
		if err := ai.ID.Validate(); err != nil {
			return fmt.Errorf("%w: bootstrap peer: %v", ErrBadConfig, err)
		}
	}
	return nil
}
