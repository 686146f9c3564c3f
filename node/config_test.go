package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/kademlia"
	"github.com/dhtnode/dhtnode/onehop"
	"github.com/dhtnode/dhtnode/setting"
)

func TestDefaultConfigIsValidAndRoundTrips(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	var buf bytes.Buffer
	if err := EncodeConfig(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"retry_join_interval": "5s"`) {
		t.Errorf("durations should be written as strings:\n%s", buf.String())
	}
	got, err := DecodeConfig(&buf)
	if err != nil {
		t.Fatalf("decode own output: %v", err)
	}
	if got.Gossip.ReconnectTimeout.Std() != 24*time.Hour || got.Addresses.API != cfg.Addresses.API {
		t.Errorf("round trip changed the config: %+v", got)
	}
}

func TestDecodeConfigPartialFileKeepsDefaults(t *testing.T) {
	cfg, err := DecodeConfig(strings.NewReader(`{"gossip": {"profile": "wan", "retry_join_interval": "1m30s"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gossip.Profile != "wan" || cfg.Gossip.RetryJoinInterval.Std() != 90*time.Second {
		t.Errorf("overrides not applied: %+v", cfg.Gossip)
	}
	if cfg.Addresses.API != DefaultConfig().Addresses.API || cfg.Content.PieceSize != 262144 {
		t.Errorf("defaults lost: %+v", cfg)
	}
}

func TestDecodeConfigErrorsNameTheProblem(t *testing.T) {
	cases := []struct {
		name, json string
		want       string
	}{
		{"unknown top-level key", `{"bogus": 1}`, `unknown key "bogus"`},
		{"unknown nested key", `{"gossip": {"retry_joins": []}}`, `unknown key "gossip.retry_joins"`},
		{"unknown deep key", `{"swarm": {"conn_mgr": {"low": 1}}}`, `unknown key "swarm.conn_mgr.low"`},
		{"key case matters", `{"Gossip": {}}`, `unknown key "Gossip"`},
		{"bad duration", `{"gossip": {"reconnect_interval": "soon"}}`, `gossip.reconnect_interval: "soon" is not a duration`},
		{"number for duration", `{"gossip": {"leave_timeout": 5}}`, `gossip.leave_timeout: want a duration string`},
		{"wrong type", `{"swarm": {"conn_mgr": {"low_water": "ten"}}}`, `swarm.conn_mgr.low_water: want int`},
		{"malformed", "{\n  \"log\": {\"level\": \"info\",}\n}", "malformed JSON at line 2"},
		{"truncated", `{"log": {`, "malformed JSON"},
		{"empty", ``, "empty file"},
		{"trailing data", `{} {}`, "unexpected data after"},
		{"not an object", `[1,2]`, "want"},
		{"invalid value", `{"log": {"level": "loud"}}`, `log.level: unknown log level "loud"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeConfig(strings.NewReader(tc.json))
			if err == nil {
				t.Fatalf("decoded %q without error", tc.json)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestValidateRejectsBadValues(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		key    string
	}{
		{"no listen addrs", func(c *Config) { c.Addresses.Listen = nil }, "addresses.listen"},
		{"bad multiaddr", func(c *Config) { c.Addresses.Listen = []string{"/ip4/1.2.3/tcp/1"} }, "addresses.listen"},
		{"bad announce", func(c *Config) { c.Addresses.Announce = []string{"nope"} }, "addresses.announce"},
		{"gossip no port", func(c *Config) { c.Addresses.Gossip = "127.0.0.1" }, "addresses.gossip"},
		{"gossip port range", func(c *Config) { c.Addresses.Gossip = "127.0.0.1:70000" }, "addresses.gossip"},
		{"api not host:port", func(c *Config) { c.Addresses.API = "localhost" }, "addresses.api"},
		{"profile", func(c *Config) { c.Gossip.Profile = "mars" }, "gossip.profile"},
		{"join port 0", func(c *Config) { c.Gossip.Join = []string{"127.0.0.1:0"} }, "gossip.join"},
		{"join no host", func(c *Config) { c.Gossip.Join = []string{":7946"} }, "gossip.join"},
		{"secret not base64", func(c *Config) { c.Gossip.Secret = "%%%" }, "gossip.secret"},
		{"secret wrong length", func(c *Config) { c.Gossip.Secret = "AAAA" }, "gossip.secret"},
		{"secret and file", func(c *Config) {
			c.Gossip.Secret = "AAAAAAAAAAAAAAAAAAAAAA=="
			c.Gossip.SecretFile = "x"
		}, "gossip.secret"},
		{"zero retry", func(c *Config) { c.Gossip.RetryJoinInterval = 0 }, "gossip.retry_join_interval"},
		{"negative timeout", func(c *Config) { c.Gossip.ReconnectTimeout = -1 }, "gossip.reconnect_timeout"},
		{"conn mgr order", func(c *Config) { c.Swarm.ConnMgr.LowWater = 500 }, "swarm.conn_mgr"},
		{"rcmgr negative", func(c *Config) { c.Swarm.ResourceMgr.MaxConns = -1 }, "swarm.resource_mgr.max_conns"},
		{"log format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{"libp2p level", func(c *Config) { c.Log.Libp2pLevel = "chatty" }, "log.libp2p_level"},
		{"unknown router", func(c *Config) { c.Routing.Routers = []string{"pastry"} }, "routing"},
		{"default not run", func(c *Config) { c.Routing.Default = "onehop" }, "routing"},
		{"piece size", func(c *Config) { c.Content.PieceSize = 100000 }, "content"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate accepted a bad config")
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q should wrap ErrInvalidConfig and name %q", err, tc.key)
			}
		})
	}
}

func TestDecodeSecret(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		s := base64.StdEncoding.EncodeToString(make([]byte, n))
		if key, err := DecodeSecret(s + "\n"); err != nil || len(key) != n {
			t.Errorf("%d-byte key: got %d bytes, %v", n, len(key), err)
		}
	}
}

// TestDecodeChordSectionKeys loads a routing.chord section written with every key the
// file has always had, so configs from before chord.Config carried the JSON tags still
// load, into the same fields, with the settings the file leaves out at their defaults.
func TestDecodeChordSectionKeys(t *testing.T) {
	in := `{"routing": {"routers": ["chord"], "default": "chord", "chord": {
		"successors": 5, "stabilize_interval": "2s", "fix_fingers_interval": "3s",
		"check_predecessor_interval": "4s", "rpc_timeout": "5s", "referral_width": 2,
		"route_via_successors": true, "max_lookup_rpcs": 20, "provider_ttl": "12h",
		"republish_interval": "30m", "max_providers_per_key": 7, "max_records_per_peer": 8,
		"max_records": 9}}}`
	cfg, err := DecodeConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := chord.DefaultConfig()
	want.Successors = 5
	want.StabilizeInterval = setting.Duration(2 * time.Second)
	want.FixFingersInterval = setting.Duration(3 * time.Second)
	want.CheckPredecessorInterval = setting.Duration(4 * time.Second)
	want.RPCTimeout = setting.Duration(5 * time.Second)
	want.ReferralWidth = 2
	want.RouteViaSuccessors = true
	want.MaxLookupRPCs = 20
	want.ProviderTTL = setting.Duration(12 * time.Hour)
	want.RepublishInterval = setting.Duration(30 * time.Minute)
	want.MaxProvidersPerKey, want.MaxRecordsPerPeer, want.MaxRecords = 7, 8, 9
	got := cfg.Routing.Chord
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("routing.chord decoded to\n%+v\nwant\n%+v", got, want)
	}
	// Settings only code sets are no keys of the file.
	for _, key := range []string{"lookup_stall", "liar_ban", "is_member", "IsMember", "-"} {
		_, err := DecodeConfig(strings.NewReader(`{"routing": {"chord": {"` + key + `": "1s"}}}`))
		if err == nil {
			t.Errorf("routing.chord.%s accepted", key)
		}
	}
}

// TestDecodeOnehopSectionKeys is TestDecodeChordSectionKeys for routing.onehop.
func TestDecodeOnehopSectionKeys(t *testing.T) {
	in := `{"routing": {"onehop": {"replicas": 4, "rpc_timeout": "3s", "max_attempts": 5,
		"provider_ttl": "6h", "republish_interval": "2h", "max_keys": 7,
		"max_providers_per_key": 8, "max_records_per_peer": 9}}}`
	cfg, err := DecodeConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := onehop.DefaultConfig()
	want.Replicas, want.MaxAttempts = 4, 5
	want.RPCTimeout = setting.Duration(3 * time.Second)
	want.ProviderTTL = setting.Duration(6 * time.Hour)
	want.RepublishInterval = setting.Duration(2 * time.Hour)
	want.MaxKeys, want.MaxProvidersPerKey, want.MaxRecordsPerPeer = 7, 8, 9
	if got := cfg.Routing.Onehop; fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("routing.onehop decoded to\n%+v\nwant\n%+v", got, want)
	}
}

// TestDecodeKademliaSectionKeys is TestDecodeChordSectionKeys for routing.kademlia.
func TestDecodeKademliaSectionKeys(t *testing.T) {
	const boot = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK"
	in := `{"routing": {"kademlia": {"protocol_prefix": "/test", "bucket_size": 16,
		"concurrency": 4, "resiliency": 2, "bootstrap": ["` + boot + `"], "auto_refresh": false,
		"refresh_interval": "5m", "ip_diversity": "off", "reoffer_interval": "30s",
		"provider_ttl": "24h", "reprovide_interval": "12h"}}}`
	cfg, err := DecodeConfig(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := kademlia.DefaultConfig()
	want.ProtocolPrefix, want.BucketSize, want.Concurrency, want.Resiliency = "/test", 16, 4, 2
	want.AutoRefresh, want.IPDiversity = false, kademlia.DiversityOff
	want.RefreshInterval = setting.Duration(5 * time.Minute)
	want.ReofferInterval = setting.Duration(30 * time.Second)
	want.ProviderTTL = setting.Duration(24 * time.Hour)
	want.ReprovideInterval = setting.Duration(12 * time.Hour)
	got := cfg.Routing.Kademlia
	if len(got.BootstrapPeers) != 1 || got.BootstrapPeers[0].String() == "" {
		t.Fatalf("bootstrap decoded to %v", got.BootstrapPeers)
	}
	if back, err := json.Marshal(got.BootstrapPeers); err != nil || string(back) != `["`+boot+`"]` {
		t.Errorf("bootstrap encodes as %s, %v; want the multiaddr given", back, err)
	}
	got.BootstrapPeers = nil
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("routing.kademlia decoded to\n%+v\nwant\n%+v", got, want)
	}
}
