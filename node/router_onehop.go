package node

import (
	"time"

	"github.com/dhtnode/dhtnode/onehop"
	"github.com/dhtnode/dhtnode/routing"
)

// OnehopConfig is the "routing.onehop" section of config.json: onehop.Config as it is
// spelled in the file. Every field is documented on onehop.Config.
//
//	"onehop": {"replicas": 3, "rpc_timeout": "2s", "provider_ttl": "24h", ...}
type OnehopConfig struct {
	// Replicas: the owner and its successors that keep each provider record, and how
	// many owners a lookup returns. Default 3.
	Replicas int `json:"replicas"`
	// RPCTimeout bounds each request. Default "2s".
	RPCTimeout Duration `json:"rpc_timeout"`
	// MaxAttempts bounds the requests of one lookup (redirects and retries). Default 8.
	MaxAttempts int `json:"max_attempts"`
	// ProviderTTL: how long a provider record lives unless republished. Default "24h".
	ProviderTTL Duration `json:"provider_ttl"`
	// RepublishInterval: how often this node re-announces what it provides. Default "12h".
	RepublishInterval Duration `json:"republish_interval"`
	// MaxKeys, MaxProvidersPerKey, MaxRecordsPerPeer bound the provider records this
	// node stores for others. Defaults 65536, 64, 4096.
	MaxKeys            int `json:"max_keys"`
	MaxProvidersPerKey int `json:"max_providers_per_key"`
	MaxRecordsPerPeer  int `json:"max_records_per_peer"`
}

// DefaultOnehopConfig is onehop.DefaultConfig in config-file form.
func DefaultOnehopConfig() OnehopConfig {
	d := onehop.DefaultConfig()
	return OnehopConfig{
		Replicas:           d.Replicas,
		RPCTimeout:         Duration(d.RPCTimeout),
		MaxAttempts:        d.MaxAttempts,
		ProviderTTL:        Duration(d.ProviderTTL),
		RepublishInterval:  Duration(d.RepublishInterval),
		MaxKeys:            d.MaxKeys,
		MaxProvidersPerKey: d.MaxProvidersPerKey,
		MaxRecordsPerPeer:  d.MaxRecordsPerPeer,
	}
}

// OnehopConfig converts the section to onehop.Config (without logger and registry).
func (c OnehopConfig) OnehopConfig() onehop.Config {
	return onehop.Config{
		Replicas:           c.Replicas,
		RPCTimeout:         time.Duration(c.RPCTimeout),
		MaxAttempts:        c.MaxAttempts,
		ProviderTTL:        time.Duration(c.ProviderTTL),
		RepublishInterval:  time.Duration(c.RepublishInterval),
		MaxKeys:            c.MaxKeys,
		MaxProvidersPerKey: c.MaxProvidersPerKey,
		MaxRecordsPerPeer:  c.MaxRecordsPerPeer,
	}
}

// Validate reports the first setting onehop would refuse.
func (c OnehopConfig) Validate() error { return c.OnehopConfig().Validate() }

// startOnehop builds the one-hop router from the "routing.onehop" section. Its view is
// the gossip membership: routers.go feeds it PeerUp for every live member and PeerDown
// for failed or departed ones, which is all the routing state it has.
// With a cluster secret it serves members only (gate.go), so nothing but gossip puts a
// peer into the view.
func (n *Node) startOnehop() (routing.Router, error) {
	cfg := n.cfg.Routing.Onehop.OnehopConfig()
	cfg.Logger = n.logger
	cfg.Registerer = n.registry
	cfg.IsMember = n.gate.routerFilter("onehop") // nil without a cluster secret: open
	return onehop.New(n.host, cfg)
}
