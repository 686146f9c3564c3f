package onehop

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dhtnode/dhtnode/setting"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrBadConfig is returned by Validate and New for an unusable Config.
var ErrBadConfig = errors.New("onehop: bad config")

// Config tunes a one-hop router; its JSON form is the daemon config file's
// "routing.onehop" section (fields tagged "-" are set in code only). The zero value is not usable; start from DefaultConfig.
type Config struct {
	// Replicas is how many nodes (the owner and its successors) keep each provider
	// record, and how many owners a Lookup returns. Default 3.
	Replicas int `json:"replicas"`
	// RPCTimeout bounds one request to one peer. Default 2 s.
	RPCTimeout setting.Duration `json:"rpc_timeout"`
	// MaxAttempts bounds the requests of one lookup (redirects plus retries after
	// timeouts), so a badly stale view can't make a lookup run forever. Default 8.
	MaxAttempts int `json:"max_attempts"`
	// ProviderTTL is how long a stored provider record lives without a republish.
	// Default 24 h (as IPFS).
	ProviderTTL setting.Duration `json:"provider_ttl"`
	// RepublishInterval is how often this node re-announces the keys it provides.
	// Default 12 h, half the TTL, so one missed round does not lose a record.
	RepublishInterval setting.Duration `json:"republish_interval"`
	// MaxKeys bounds the distinct keys in the provider store. Default 65,536.
	MaxKeys int `json:"max_keys"`
	// MaxProvidersPerKey bounds the providers kept for one key. Default 64.
	MaxProvidersPerKey int `json:"max_providers_per_key"`
	// MaxRecordsPerPeer bounds how many records one providing peer may hold in this
	// node's store. Default 4,096.
	MaxRecordsPerPeer int `json:"max_records_per_peer"`
	// IsMember, when set, admits a remote peer to this router: requests from peers it
	// rejects have their stream reset unanswered, so they never enter the view (a
	// peer asking for the owner of its own key is otherwise taken in as a joiner)
	// and learn nothing. Set it to the cluster membership when only members may
	// route; nil serves everyone. It is called on each incoming stream and must be
	// fast and safe for concurrent use.
	IsMember func(peer.ID) bool `json:"-"`
	// Logger receives debug logs; nil means slog.Default().
	Logger *slog.Logger `json:"-"`
	// Registerer receives the metrics (labelled algo="onehop"); nil means none.
	Registerer prometheus.Registerer `json:"-"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Replicas:           3,
		RPCTimeout:         setting.Duration(2 * time.Second),
		MaxAttempts:        8,
		ProviderTTL:        setting.Duration(24 * time.Hour),
		RepublishInterval:  setting.Duration(12 * time.Hour),
		MaxKeys:            1 << 16,
		MaxProvidersPerKey: 64,
		MaxRecordsPerPeer:  4096,
	}
}

// Validate reports the first unusable field, wrapped in ErrBadConfig.
func (c Config) Validate() error {
	switch {
	case c.Replicas < 1 || c.Replicas > MaxPeersPerMessage:
		return fmt.Errorf("%w: replicas %d not in [1,%d]", ErrBadConfig, c.Replicas, MaxPeersPerMessage)
	case c.RPCTimeout <= 0:
		return fmt.Errorf("%w: rpc timeout must be positive", ErrBadConfig)
	case c.MaxAttempts < 1:
		return fmt.Errorf("%w: max attempts must be at least 1", ErrBadConfig)
	case c.ProviderTTL <= 0:
		return fmt.Errorf("%w: provider TTL must be positive", ErrBadConfig)
	case c.RepublishInterval <= 0:
		return fmt.Errorf("%w: republish interval must be positive", ErrBadConfig)
	case c.MaxKeys < 1 || c.MaxProvidersPerKey < 1 || c.MaxRecordsPerPeer < 1:
		return fmt.Errorf("%w: store bounds must be at least 1", ErrBadConfig)
	}
	return nil
}
