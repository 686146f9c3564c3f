package node

import (
	"fmt"

	"github.com/dhtnode/dhtnode/kademlia"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// KademliaConfig is the "routing.kademlia" section of config.json: the Kademlia
// router's settings (see package kademlia for what each does). Keys missing from the
// file keep DefaultKademliaConfig's values.
type KademliaConfig struct {
	// ProtocolPrefix: the DHT protocol is <prefix>/kad/1.0.0. "/dhtnode" keeps the
	// cluster private; "/ipfs" (with IPFS bootstrap peers) joins the IPFS DHT.
	ProtocolPrefix string `json:"protocol_prefix"`
	// BucketSize is k (20; the /ipfs prefix requires 20).
	BucketSize int `json:"bucket_size"`
	// Concurrency is α, requests in flight per lookup (10).
	Concurrency int `json:"concurrency"`
	// Resiliency is β: a lookup ends when the β closest peers seen have answered (3).
	Resiliency int `json:"resiliency"`
	// Bootstrap lists multiaddrs ending in /p2p/PEERID dialled at start. Empty by
	// default: gossip fills the table; the public IPFS bootstrappers are never used
	// unless listed here.
	Bootstrap []string `json:"bootstrap"`
	// AutoRefresh runs kad-dht's periodic bucket refresh (true).
	AutoRefresh bool `json:"auto_refresh"`
	// RefreshInterval is its period (10m).
	RefreshInterval Duration `json:"refresh_interval"`
	// IPDiversity is the eclipse-attack filter: "public" (default: limits apply to
	// peers on public addresses, not to loopback/private/link-local ones, so a local
	// cluster works), "strict" (everyone, as kubo on the Internet) or "off".
	IPDiversity string `json:"ip_diversity"`
	// ReofferInterval: how often gossip members missing from the table (kad-dht drops
	// a peer after one failed request) are offered again (1m; 0 = never).
	ReofferInterval Duration `json:"reoffer_interval"`
	// ProviderTTL is how long provider records stored here live (48h).
	ProviderTTL Duration `json:"provider_ttl"`
	// ReprovideInterval is how often this node re-announces what it provides (22h; 0 = never).
	ReprovideInterval Duration `json:"reprovide_interval"`
}

// DefaultKademliaConfig mirrors kademlia.DefaultConfig.
func DefaultKademliaConfig() KademliaConfig {
	d := kademlia.DefaultConfig()
	return KademliaConfig{
		ProtocolPrefix:    d.ProtocolPrefix,
		BucketSize:        d.BucketSize,
		Concurrency:       d.Concurrency,
		Resiliency:        d.Resiliency,
		Bootstrap:         []string{},
		AutoRefresh:       d.AutoRefresh,
		RefreshInterval:   Duration(d.RefreshInterval),
		IPDiversity:       d.IPDiversity,
		ReofferInterval:   Duration(d.ReofferInterval),
		ProviderTTL:       Duration(d.ProviderTTL),
		ReprovideInterval: Duration(d.ReprovideInterval),
	}
}

// Validate checks the section the way kademlia.New will, so a bad file fails at load.
func (c KademliaConfig) Validate() error {
	_, err := c.routerConfig()
	return err
}

// routerConfig translates the section into kademlia.Config (without logger and
// metrics, which the node supplies).
func (c KademliaConfig) routerConfig() (kademlia.Config, error) {
	cfg := kademlia.DefaultConfig()
	cfg.ProtocolPrefix = c.ProtocolPrefix
	cfg.BucketSize = c.BucketSize
	cfg.Concurrency = c.Concurrency
	cfg.Resiliency = c.Resiliency
	cfg.AutoRefresh = c.AutoRefresh
	cfg.RefreshInterval = c.RefreshInterval.Std()
	cfg.IPDiversity = c.IPDiversity
	cfg.ReofferInterval = c.ReofferInterval.Std()
	cfg.ProviderTTL = c.ProviderTTL.Std()
	cfg.ReprovideInterval = c.ReprovideInterval.Std()
	addrs := make([]ma.Multiaddr, 0, len(c.Bootstrap))
	for _, s := range c.Bootstrap {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return cfg, fmt.Errorf("bootstrap: %q: %w", s, err)
		}
		addrs = append(addrs, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return cfg, fmt.Errorf("bootstrap: addresses must end in /p2p/PEERID: %w", err)
	}
	cfg.BootstrapPeers = infos
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// startKademlia starts the Kademlia router (go-libp2p-kad-dht) on the node's host
// from the "routing.kademlia" section. routers.go feeds it gossip (PeerUp for every
// live member, so its k-buckets fill at once; PeerDown for failed and departed ones)
// and closes it with the node. With a cluster secret its k-buckets, lookups and answers are
// confined to members (gate.go); kademlia.bootstrap peers then count only once
// gossip lists them.
func (n *Node) startKademlia() (routing.Router, error) {
	cfg, err := n.cfg.Routing.Kademlia.routerConfig()
	if err != nil {
		return nil, err
	}
	cfg.Logger = n.logger // the router adds subsystem=kademlia itself
	cfg.Registerer = n.registry
	cfg.IsMember = n.gate.routerFilter("kademlia") // nil without a cluster secret: open
	r, err := kademlia.New(n.host, cfg)
	if err != nil {
		return nil, err
	}
	return r, nil
}
