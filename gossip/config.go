package gossip

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// Profile names accepted in Config.Profile. Each maps onto one of memberlist's
// tuned defaults; the timings are memberlist's, documented in its config.go.
// The one change we make is MinRetransmitMult.
const (
	// ProfileLAN is memberlist.DefaultLANConfig: probe every 1 s, 500 ms probe
	// timeout, push/pull every 30 s. A killed node is declared failed in about 5–10 s.
	ProfileLAN = "lan"
	// ProfileWAN is memberlist.DefaultWANConfig: probe every 5 s, 3 s timeout,
	// push/pull every 60 s, for links with high or variable latency.
	ProfileWAN = "wan"
	// ProfileLocal is memberlist.DefaultLocalConfig: tighter timeouts for nodes on
	// one host (loopback), faster failure detection.
	ProfileLocal = "local"
)

// Defaults used by DefaultConfig.
const (
	// DefaultBindAddr is memberlist's usual port on every interface.
	DefaultBindAddr          = "0.0.0.0:7946"
	DefaultRetryJoinInterval = 5 * time.Second
	// DefaultReconnectInterval and DefaultReconnectTimeout are Serf's defaults:
	// try a failed member again every 30 s, give up (and forget it) after 24 h.
	DefaultReconnectInterval = 30 * time.Second
	DefaultReconnectTimeout  = 24 * time.Hour
	// DefaultTombstoneTimeout is how long a member that left stays in Members().
	DefaultTombstoneTimeout = 24 * time.Hour
	// DefaultLeaveTimeout bounds Leave's wait for its broadcasts when the caller passes 0.
	DefaultLeaveTimeout = 5 * time.Second
)

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("invalid gossip config")

// Config configures one gossip member. The zero value is not usable: start from
// DefaultConfig. Fields map one-to-one onto the node's JSON config section.
type Config struct {
	// NodeName is the member's unique name in the cluster. Empty means the
	// libp2p peer ID string, which is unique by construction.
	NodeName string
	// BindAddr is the "host:port" memberlist listens on (UDP and TCP, same port).
	// Port 0 picks a free port; BoundAddr reports it. Ignored when Transport is set.
	BindAddr string
	// AdvertiseAddr is the optional "host:port" other members should use to reach
	// us (behind NAT, or when bound to 0.0.0.0). Empty lets memberlist pick.
	AdvertiseAddr string
	// Profile selects memberlist's timing defaults: "lan" (default), "wan", "local".
	Profile string
	// SecretKey, if set, turns on memberlist encryption (AES-GCM). It must be
	// 16, 24 or 32 bytes. Members with a different or no key cannot join.
	SecretKey []byte
	// RetryJoin lists "host:port" (or memberlist's "name/host:port") seeds joined in the background, retrying every
	// RetryJoinInterval until one join succeeds (Serf's retry_join).
	RetryJoin         []string
	RetryJoinInterval time.Duration
	// ReconnectInterval is how often we try to Join one member we saw fail, so
	// that a healed partition re-merges by itself; ReconnectTimeout is how long
	// a failed member is remembered (and retried) before it is forgotten.
	ReconnectInterval, ReconnectTimeout time.Duration
	// TombstoneTimeout is how long a member that left gracefully is remembered.
	TombstoneTimeout time.Duration
	// Transport replaces real UDP/TCP sockets, e.g. with MemNetwork.NewTransport.
	Transport memberlist.NodeAwareTransport
	// TransportName labels the per-transport byte metric: empty means "udp" for
	// the built-in sockets and "custom" for a Transport.
	TransportName string
	// MetaCache, if set, is the verified-metadata cache this member uses; members in
	// one process may share one (see MetaCache). Nil gives the member its own.
	MetaCache *MetaCache
	// Logger receives our logs and memberlist's (at debug/warn). Nil discards.
	Logger *slog.Logger
	// Registerer receives the gossip metrics. Nil means no metrics.
	Registerer prometheus.Registerer
	// Tune, if set, is called on the memberlist config after the profile and all
	// the fields above are applied: an escape hatch for tests and simulations that
	// need other timings. It must not replace the delegates or the transport.
	Tune func(*memberlist.Config)
}

// DefaultConfig returns the LAN profile bound to 0.0.0.0:7946 with Serf-like
// retry-join and reconnect timings.
func DefaultConfig() Config {
	return Config{
		BindAddr:          DefaultBindAddr,
		Profile:           ProfileLAN,
		RetryJoinInterval: DefaultRetryJoinInterval,
		ReconnectInterval: DefaultReconnectInterval,
		ReconnectTimeout:  DefaultReconnectTimeout,
		TombstoneTimeout:  DefaultTombstoneTimeout,
	}
}

// Validate reports the first problem in c, wrapped around ErrInvalidConfig.
// Zero durations are accepted and replaced by the defaults in New.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if _, err := profileConfig(c.Profile); err != nil {
		return bad("%v", err)
	}
	if c.Transport == nil {
		host, _, err := splitHostPort(c.bindAddr())
		if err != nil {
			return bad("bind address: %v", err)
		}
		if host != "" && net.ParseIP(host) == nil {
			return bad("bind address %q: host must be an IP address", c.BindAddr)
		}
	}
	if c.AdvertiseAddr != "" {
		host, _, err := splitHostPort(c.AdvertiseAddr)
		if err != nil {
			return bad("advertise address: %v", err)
		}
		if net.ParseIP(host) == nil {
			return bad("advertise address %q: host must be an IP address", c.AdvertiseAddr)
		}
	}
	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		return bad("cluster secret is %d bytes; it must be 16, 24 or 32 bytes (AES-128/192/256)", len(c.SecretKey))
	}
	for _, a := range c.RetryJoin {
		if _, _, err := splitHostPort(stripNodeName(a)); err != nil {
			return bad("retry-join address: %v", err)
		}
	}
	for name, d := range map[string]time.Duration{
		"retry-join interval": c.RetryJoinInterval, "reconnect interval": c.ReconnectInterval,
		"reconnect timeout": c.ReconnectTimeout, "tombstone timeout": c.TombstoneTimeout,
	} {
		if d < 0 {
			return bad("%s is negative (%v)", name, d)
		}
	}
	if len(c.NodeName) > 255 {
		return bad("node name is %d bytes, at most 255 allowed", len(c.NodeName))
	}
	return nil
}

func (c Config) transportName() string {
	switch {
	case c.TransportName != "":
		return c.TransportName
	case c.Transport == nil:
		return "udp"
	}
	return "custom"
}

func (c Config) bindAddr() string {
	if c.BindAddr == "" {
		return DefaultBindAddr
	}
	return c.BindAddr
}

// withDefaults fills zero durations and the profile.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Profile == "" {
		c.Profile = d.Profile
	}
	if c.RetryJoinInterval == 0 {
		c.RetryJoinInterval = d.RetryJoinInterval
	}
	if c.ReconnectInterval == 0 {
		c.ReconnectInterval = d.ReconnectInterval
	}
	if c.ReconnectTimeout == 0 {
		c.ReconnectTimeout = d.ReconnectTimeout
	}
	if c.TombstoneTimeout == 0 {
		c.TombstoneTimeout = d.TombstoneTimeout
	}
	if c.MetaCache == nil {
		c.MetaCache = NewMetaCache()
	}
	return c
}

// MinRetransmitMult is the floor we put under memberlist's RetransmitMult in
// every profile. memberlist sends each membership broadcast RetransmitMult ×
// ceil(log10(N+1)) times, which is only 4 (LAN, WAN) or 2 (local) below ten
// members; measured on MemNetwork, a fresh 8-node cluster then left some member
// unaware of another until the next push/pull (up to 30 s) in 25% of runs, and
// in 3% with 6. The cost is a few more copies of rare membership messages.
const MinRetransmitMult = 6

// profileConfig returns memberlist's defaults for a profile name, with
// RetransmitMult raised to MinRetransmitMult.
func profileConfig(profile string) (*memberlist.Config, error) {
	var c *memberlist.Config
	switch profile {
	case "", ProfileLAN:
		c = memberlist.DefaultLANConfig()
	case ProfileWAN:
		c = memberlist.DefaultWANConfig()
	case ProfileLocal:
		c = memberlist.DefaultLocalConfig()
	default:
		return nil, fmt.Errorf("unknown profile %q (want %q, %q or %q)", profile, ProfileLAN, ProfileWAN, ProfileLocal)
	}
	c.RetransmitMult = max(c.RetransmitMult, MinRetransmitMult)
	return c, nil
}

// stripNodeName drops the optional "name/" memberlist accepts before a join
// address ("name/host:port"), which node-aware transports use to find the peer.
func stripNodeName(addr string) string {
	if i := strings.IndexByte(addr, '/'); i > 0 {
		return addr[i+1:]
	}
	return addr
}

// splitHostPort parses "host:port" with a numeric port in 0..65535.
func splitHostPort(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port must be a number 0-65535", addr)
	}
	return host, port, nil
}
