// Package node wires one dhtnode peer: the repo (config and identity), the libp2p
// host, gossip membership, the membership fan-out to routers, feature wiring
// (routers, content exchange) and the local HTTP API. The dhtnode daemon is a thin
// main around it, and other Go programs can embed a node the same way.
//
// # Model
//
// A repo directory holds config.json (Config, decoded strictly: unknown keys are
// errors naming the key) and identity.key (Ed25519, mode 0600). While a daemon runs,
// it also holds repo.lock (an OS file lock plus the holder's PID, so a second daemon
// fails at once and a killed daemon's lock is simply taken over) and api (the API's
// host:port, which the CLI reads to find the daemon).
//
// New starts, in order: the libp2p host (TCP+QUIC, Noise+TLS, resource and
// connection managers, libp2p metrics on the node's private Prometheus registry);
// gossip with the host's peer ID and addresses in its signed metadata; the
// membership dispatcher, which turns gossip events into routing.MembershipListener
// calls; the feature start functions (features.go); the API server. Close stops
// them in reverse order.
//
// # Goroutines
//
// The membership dispatcher is the only goroutine that calls listeners: one event
// at a time, in gossip's order. The API server runs its own goroutines per request.
// Everything else runs on the caller's goroutine.
//
// # Usage
//
//	repo, err := node.OpenRepo(path) // or node.InitRepo(path, node.DefaultConfig())
//	if err != nil { ... }
//	if err := repo.Lock(); err != nil { ... } // *LockedError when a daemon runs
//	defer repo.Unlock()
//	cfg, err := repo.Config()
//	n, err := node.New(cfg, repo, node.WithLogger(logger))
//	if err != nil { ... }
//	defer n.Close()
//	n.AddMembershipListener(myRouter) // PeerUp for every live member, then changes
//	...
//	n.Leave() // graceful: others mark the node "left"
//
// Where things live: the API's endpoints are registered per area in api.go
// (routers_api.go, content_api.go); the optional parts start in features.go; each
// config section is a struct with Default…() and Validate() and one field in Config
// (config_routing.go, config_content.go); docs/configuration.md is generated from them.
package node
