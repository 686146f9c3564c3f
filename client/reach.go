package client

// ReachInfo is how others can reach a node, in GET /api/v1/id.
type ReachInfo struct {
	// Reachability is AutoNAT's verdict, or the configured one: "public" (others can
	// dial the node), "private" (behind NAT: reached through relays) or "unknown"
	// (not settled yet).
	Reachability string `json:"reachability"`
	// ReachableAddrs are the addresses AutoNAT v2 confirmed others can dial.
	ReachableAddrs []string `json:"reachable_addrs"`
	// Relays are the peer IDs of the relays this node holds a reservation on.
	Relays []string `json:"relays"`
	// RelayService is whether this node relays for others right now.
	RelayService bool `json:"relay_service"`
}
