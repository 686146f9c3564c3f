package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dhtnode/dhtnode/setting"
	ma "github.com/multiformats/go-multiaddr"
)

// ErrInvalidConfig is wrapped by every error Validate and DecodeConfig return,
// so callers can tell a bad config from an I/O failure with errors.Is.
var ErrInvalidConfig = errors.New("invalid config")

//go:generate go test -run TestConfigReference -update-docs .

// Config is everything a node needs to start. It maps one-to-one onto the repo's
// config.json: each field's JSON name is the key in the file, every section has
// defaults in DefaultConfig, and the file may leave out any key it does not change.
type Config struct {
	// Addresses says where the node listens and what it tells others.
	Addresses AddressesConfig `json:"addresses"`
	// Gossip configures SWIM membership (hashicorp/memberlist).
	Gossip GossipConfig `json:"gossip"`
	// Swarm bounds the libp2p host's connections and resources.
	Swarm SwarmConfig `json:"swarm"`
	// Log sets log levels and format.
	Log LogConfig `json:"log"`
	// Routing picks the lookup protocols (see config_routing.go).
	Routing RoutingConfig `json:"routing"`
	// Content configures content import and exchange (see config_content.go).
	Content ContentConfig `json:"content"`
	// Relay configures Circuit Relay v2, service and client (see config_reach.go).
	Relay RelayConfig `json:"relay"`
}

// AddressesConfig lists the node's sockets. Port 0 anywhere means "pick a free one";
// the ports actually bound are reported by the API's id call.
type AddressesConfig struct {
	// Listen are the libp2p listen multiaddrs (TCP and QUIC).
	Listen []string `json:"listen"`
	// Announce, when set, replaces the bound libp2p addresses in what the node
	// advertises (gossip metadata, identify): for NAT or port-forwarding setups.
	Announce []string `json:"announce"`
	// Gossip is the memberlist bind address, host:port (UDP and TCP on the same port).
	Gossip string `json:"gossip"`
	// GossipAdvertise, when set, is the host:port other members should use to reach
	// this node's gossip port (default: derived from Gossip by memberlist).
	GossipAdvertise string `json:"gossip_advertise"`
	// API is the local HTTP API address, host:port; empty disables the API (for
	// embedded nodes). Keep it on loopback: the API can shut the node down and has
	// no authentication.
	API string `json:"api"`
	// Reachability is whether others can dial this node directly: "auto" (default:
	// AutoNAT v1 and v2 ask peers to dial back), "public" or "private" (skip the
	// question, for a server with a public address or a machine known to be behind NAT).
	Reachability string `json:"reachability"`
	// NATPortMap asks the router for a port mapping by UPnP or NAT-PMP (default true).
	// Only a node with a listen address beyond loopback asks.
	NATPortMap bool `json:"nat_port_map"`
	// HolePunching upgrades relayed connections to direct ones with DCUtR, the
	// coordinated simultaneous dial through NATs (default true).
	HolePunching bool `json:"hole_punching"`
}

// GossipConfig configures cluster membership.
type GossipConfig struct {
	// Profile selects memberlist's timing: "lan" (default), "wan" or "local".
	Profile string `json:"profile"`
	// Transport carries gossip: "udp" (memberlist's own UDP and TCP sockets on
	// addresses.gossip) or "libp2p" (streams on the libp2p host, so gossip crosses
	// NAT through relays and hole punching and the node needs one port; see
	// docs/nat.md). Every member of a cluster needs the same transport.
	Transport string `json:"transport"`
	// Join lists members to join at start: gossip addresses (host:port) on the udp
	// transport, multiaddrs ending in /p2p/<peer ID> on libp2p. They are retried
	// in the background until one join succeeds, like Serf's retry_join.
	Join []string `json:"join"`
	// Secret is the cluster key, base64 of 16, 24 or 32 bytes; it turns on
	// memberlist encryption. Every member needs the same key. Empty = no encryption.
	Secret string `json:"secret"`
	// SecretFile names a file holding the base64 key instead; a relative path is
	// relative to the repo. Only one of Secret and SecretFile may be set.
	SecretFile string `json:"secret_file"`
	// RetryJoinInterval is the pause between background join attempts. Short by
	// default (Serf uses 30s) so nodes started together in a script find each
	// other quickly; an attempt is one TCP connect per address.
	RetryJoinInterval Duration `json:"retry_join_interval"`
	// ReconnectInterval is how often the node tries to reach failed members again,
	// which is what re-merges a cluster after a partition heals.
	ReconnectInterval Duration `json:"reconnect_interval"`
	// ReconnectTimeout is how long a failed member is retried before it is forgotten.
	ReconnectTimeout Duration `json:"reconnect_timeout"`
	// LeaveTimeout bounds the graceful leave broadcast on SIGINT/SIGTERM.
	LeaveTimeout Duration `json:"leave_timeout"`
}

// SwarmConfig bounds the libp2p host.
type SwarmConfig struct {
	// ConnMgr trims connections when there are too many.
	ConnMgr ConnMgrConfig `json:"conn_mgr"`
	// ResourceMgr caps what remote peers can make this node spend.
	ResourceMgr ResourceMgrConfig `json:"resource_mgr"`
}

// ConnMgrConfig is libp2p's basic connection manager: above HighWater connections
// it closes the least useful ones down to LowWater, sparing those younger than GracePeriod.
type ConnMgrConfig struct {
	LowWater    int      `json:"low_water"`
	HighWater   int      `json:"high_water"`
	GracePeriod Duration `json:"grace_period"`
}

// ResourceMgrConfig sets libp2p resource manager limits. Zero means "scale from
// the machine" (memory/8, half the file descriptor limit), which is libp2p's default.
type ResourceMgrConfig struct {
	// MaxMemoryMB is the memory libp2p may reserve for connections and streams.
	MaxMemoryMB int `json:"max_memory_mb"`
	// MaxFileDescriptors is the number of descriptors libp2p may use.
	MaxFileDescriptors int `json:"max_file_descriptors"`
	// MaxConns and MaxStreams cap the system-wide connection and stream counts.
	MaxConns   int `json:"max_conns"`
	MaxStreams int `json:"max_streams"`
}

// LogConfig sets logging.
type LogConfig struct {
	// Level is the level for dhtnode's own logs: debug, info, warn or error.
	Level string `json:"level"`
	// Libp2pLevel is the level for go-libp2p and kad-dht logs, which are noisy at
	// info; it stays at warn unless asked for.
	Libp2pLevel string `json:"libp2p_level"`
	// Format is "auto" (text on a terminal, JSON otherwise), "text" or "json".
	Format string `json:"format"`
}

// Default ports. They differ from kubo's (4001/5001) so both can run on one machine.
const (
	DefaultSwarmPort  = 4101
	DefaultGossipPort = 7946
	DefaultAPIPort    = 5101
)

// DefaultConfig returns the configuration `dhtnode init` writes.
func DefaultConfig() Config {
	return Config{
		Addresses: AddressesConfig{
			Listen: []string{
				fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultSwarmPort),
				fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultSwarmPort),
			},
			Announce: []string{},
			Gossip:   fmt.Sprintf("0.0.0.0:%d", DefaultGossipPort),
			API:      fmt.Sprintf("127.0.0.1:%d", DefaultAPIPort),

			Reachability: ReachAuto,
			NATPortMap:   true,
			HolePunching: true,
		},
		Gossip: GossipConfig{
			Profile:           "lan",
			Transport:         DefaultGossipTransport,
			Join:              []string{},
			RetryJoinInterval: Duration(5 * time.Second),
			ReconnectInterval: Duration(30 * time.Second),
			ReconnectTimeout:  Duration(24 * time.Hour),
			LeaveTimeout:      Duration(5 * time.Second),
		},
		Swarm: SwarmConfig{
			ConnMgr: ConnMgrConfig{LowWater: 160, HighWater: 192, GracePeriod: Duration(20 * time.Second)},
		},
		Log:     LogConfig{Level: "info", Libp2pLevel: "warn", Format: "auto"},
		Routing: DefaultRoutingConfig(),
		Content: DefaultContentConfig(),
		Relay:   DefaultRelayConfig(),
	}
}

// Validate checks every field and returns the first problem found, naming the key
// as it is spelled in config.json. The error wraps ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, key, fmt.Sprintf(format, args...))
	}
	if len(c.Addresses.Listen) == 0 {
		return bad("addresses.listen", "at least one listen multiaddr is needed")
	}
	for _, s := range c.Addresses.Listen {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return bad("addresses.listen", "%q is not a multiaddr: %v", s, err)
		}
	}
	for _, s := range c.Addresses.Announce {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return bad("addresses.announce", "%q is not a multiaddr: %v", s, err)
		}
	}
	if err := checkHostPort(c.Addresses.Gossip, false); err != nil {
		return bad("addresses.gossip", "%v", err)
	}
	if c.Addresses.GossipAdvertise != "" {
		if err := checkHostPort(c.Addresses.GossipAdvertise, false); err != nil {
			return bad("addresses.gossip_advertise", "%v", err)
		}
	}
	if c.Addresses.API != "" {
		if err := checkHostPort(c.Addresses.API, false); err != nil {
			return bad("addresses.api", "%v", err)
		}
	}
	switch c.Gossip.Profile {
	case "lan", "wan", "local":
	default:
		return bad("gossip.profile", "%q is not one of lan, wan, local", c.Gossip.Profile)
	}
	if err := checkGossipTransport(c); err != nil {
		return bad(err.key, "%v", err.err)
	}
	if c.Gossip.Secret != "" && c.Gossip.SecretFile != "" {
		return bad("gossip.secret", "set either secret or secret_file, not both")
	}
	if c.Gossip.Secret != "" {
		if _, err := DecodeSecret(c.Gossip.Secret); err != nil {
			return bad("gossip.secret", "%v", err)
		}
	}
	for _, d := range []struct {
		key string
		val Duration
	}{
		{"gossip.retry_join_interval", c.Gossip.RetryJoinInterval},
		{"gossip.reconnect_interval", c.Gossip.ReconnectInterval},
		{"gossip.reconnect_timeout", c.Gossip.ReconnectTimeout},
		{"gossip.leave_timeout", c.Gossip.LeaveTimeout},
	} {
		if d.val <= 0 {
			return bad(d.key, "must be a positive duration such as \"30s\", got %q", d.val)
		}
	}
	cm := c.Swarm.ConnMgr
	if cm.LowWater < 0 || cm.HighWater <= 0 || cm.LowWater > cm.HighWater {
		return bad("swarm.conn_mgr", "need 0 <= low_water <= high_water and high_water > 0, got %d and %d", cm.LowWater, cm.HighWater)
	}
	if cm.GracePeriod < 0 {
		return bad("swarm.conn_mgr.grace_period", "must not be negative")
	}
	rm := c.Swarm.ResourceMgr
	for _, v := range []struct {
		key string
		val int
	}{
		{"swarm.resource_mgr.max_memory_mb", rm.MaxMemoryMB},
		{"swarm.resource_mgr.max_file_descriptors", rm.MaxFileDescriptors},
		{"swarm.resource_mgr.max_conns", rm.MaxConns},
		{"swarm.resource_mgr.max_streams", rm.MaxStreams},
	} {
		if v.val < 0 {
			return bad(v.key, "must not be negative (0 = scale from the machine), got %d", v.val)
		}
	}
	if _, err := ParseLevel(c.Log.Level); err != nil {
		return bad("log.level", "%v", err)
	}
	if _, err := ParseLevel(c.Log.Libp2pLevel); err != nil {
		return bad("log.libp2p_level", "%v", err)
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		return bad("log.format", "%q is not one of auto, text, json", c.Log.Format)
	}
	if err := c.Routing.Validate(); err != nil {
		return bad("routing", "%v", err)
	}
	if err := c.Content.Validate(); err != nil {
		return bad("content", "%v", err)
	}
	if err := c.Addresses.validateReach(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if err := c.Relay.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return nil
}

// checkHostPort accepts "host:port" with a numeric port; needHost refuses an empty host
// (a join target must say where to go, a bind address may mean "all interfaces").
func checkHostPort(s string, needHost bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if needHost && host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q: port %q is not a number in 0..65535", s, port)
	}
	if needHost && p == 0 {
		return fmt.Errorf("%q: port 0 cannot be joined", s)
	}
	return nil
}

// DecodeSecret decodes a base64 cluster key and checks its length (16, 24 or 32 bytes,
// AES-128/192/256 as memberlist requires). Generate one with `head -c 32 /dev/urandom | base64`.
func DecodeSecret(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("cluster secret is not base64: %w", err)
	}
	switch len(key) {
	case 16, 24, 32:
		return key, nil
	}
	return nil, fmt.Errorf("cluster secret is %d bytes, want 16, 24 or 32", len(key))
}

// DecodeConfig reads a config file strictly: unknown keys, trailing data and type
// mismatches are errors that name the key. Keys missing from the file keep their
// DefaultConfig values. The result is validated.
func DecodeConfig(r io.Reader) (Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigSize+1))
	if err != nil {
		return Config{}, err
	}
	if len(data) > maxConfigSize {
		return Config{}, fmt.Errorf("%w: larger than %d bytes", ErrInvalidConfig, maxConfigSize)
	}
	// First pass: find unknown keys and bad durations with their full path
	// ("gossip.retry_join_interval"); encoding/json names neither the section of an
	// unknown key nor the field whose UnmarshalJSON failed.
	var tree any
	if err := json.Unmarshal(data, &tree); err == nil {
		if err := checkKeys(reflect.TypeOf(Config{}), tree, ""); err != nil {
			return Config{}, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
	}
	cfg := DefaultConfig()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("%w: %s", ErrInvalidConfig, describeJSONError(data, err))
	}
	if dec.More() {
		return Config{}, fmt.Errorf("%w: unexpected data after the JSON object", ErrInvalidConfig)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// maxConfigSize bounds what DecodeConfig reads; a real config is a few KiB.
const maxConfigSize = 1 << 20

// describeJSONError turns encoding/json's errors into messages that say where the
// problem is: the key for unknown fields and type errors, line:column for syntax errors.
func describeJSONError(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := lineCol(data, syn.Offset)
		return fmt.Sprintf("malformed JSON at line %d, column %d: %v", line, col, syn)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("%s: want %s, got JSON %s", typ.Field, typ.Type, typ.Value)
		}
		return fmt.Sprintf("want a JSON object, got JSON %s", typ.Value)
	case errors.Is(err, io.EOF):
		return "empty file (want a JSON object)"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: file ends early"
	}
	// DisallowUnknownFields reports `json: unknown field "x"`; keep it, it names the key.
	return strings.TrimPrefix(err.Error(), "json: ")
}

var durationType = reflect.TypeOf(Duration(0))

// checkKeys walks a decoded JSON value alongside the Go type it will fill and
// reports the first key (in sorted order) that has no field, or a duration that
// does not parse, by its dotted path.
func checkKeys(t reflect.Type, v any, path string) error {
	if t == durationType {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want a duration string such as \"30s\", got %v", path, v)
		}
		if _, err := time.ParseDuration(s); err != nil {
			return fmt.Errorf("%s: %q is not a duration such as \"30s\" or \"1h30m\"", path, s)
		}
		return nil
	}
	obj, isObj := v.(map[string]any)
	if t.Kind() != reflect.Struct || !isObj {
		return nil // type mismatches are reported by the decoder with their path
	}
	fields := make(map[string]reflect.Type)
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue // set in code only (a logger, a callback)
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		full := k
		if path != "" {
			full = path + "." + k
		}
		ft, ok := fields[k]
		if !ok {
			return fmt.Errorf("unknown key %q", full)
		}
		if err := checkKeys(ft, obj[k], full); err != nil {
			return err
		}
	}
	return nil
}

func lineCol(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// EncodeConfig writes cfg as indented JSON, the format of config.json.
func EncodeConfig(w io.Writer, cfg Config) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(cfg)
}

// LoadConfigFile reads and validates a config file.
func LoadConfigFile(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	cfg, err := DecodeConfig(f)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Duration is a time.Duration written as a Go duration string ("30s", "24h") in JSON:
// the type every package's config shares (setting.Duration).
type Duration = setting.Duration
