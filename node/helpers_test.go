package node

import "strconv"

// testConfig is a config for in-process nodes: loopback only, every port picked by
// the kernel, the local gossip profile so failure detection is quick.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Addresses.Listen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	cfg.Addresses.Gossip = "127.0.0.1:0"
	cfg.Addresses.API = "127.0.0.1:0"
	cfg.Gossip.Profile = "local"
	// These clusters join by gossip host:port (BoundAddr); gossip over libp2p,
	// the default, has its own tests (gossip_net_test.go).
	cfg.Gossip.Transport = GossipUDP
	cfg.Swarm.ResourceMgr.MaxMemoryMB = 128
	// A get asks the routers once, so tests of unknown content fail at once;
	// TestGetWaitsForALateAnnounce covers asking again.
	cfg.Content.FindTimeout = 0
	return cfg
}

func itoa(i int) string { return strconv.Itoa(i) }
