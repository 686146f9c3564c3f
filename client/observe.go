package client

import (
	"context"
	"net/http"
	"time"

	"github.com/dhtnode/dhtnode/exchange"
	"github.com/dhtnode/dhtnode/routing"
)

// What the daemon shows about its peers, its traffic and its downloads; the web UI and
// the peers, stats bw and transfers commands read these.

// PeerInfo is one entry of GET peers: a gossip member, a peer the libp2p host is
// connected to, or both.
type PeerInfo struct {
	PeerID string `json:"peer_id"`
	// Key is the peer's position in the key space, SHA-256 of its peer ID.
	Key routing.Key `json:"key"`
	// Self marks the node answering.
	Self bool `json:"self,omitempty"`
	// Name, GossipAddr and State come from gossip; State is "" for a peer that is
	// connected but not a member.
	Name       string `json:"name,omitempty"`
	GossipAddr string `json:"gossip_addr,omitempty"`
	State      string `json:"state,omitempty"`
	// Latency is libp2p's moving average of round trips to the peer (0 = not measured).
	Latency time.Duration `json:"latency_ns"`
	// Conns are the open libp2p connections to the peer.
	Conns []ConnInfo `json:"conns"`
}

// ConnInfo is one libp2p connection.
type ConnInfo struct {
	Addr string `json:"addr"` // the remote multiaddr
	// Direction is "inbound" or "outbound".
	Direction string `json:"direction"`
	// Relayed is true for a connection through a circuit relay; false is direct.
	Relayed bool      `json:"relayed"`
	Opened  time.Time `json:"opened"`
	Streams int       `json:"streams"`
}

// Bandwidth is bytes moved and the current rate (bytes/s) in each direction.
type Bandwidth struct {
	TotalIn  int64   `json:"total_in"`
	TotalOut int64   `json:"total_out"`
	RateIn   float64 `json:"rate_in"`
	RateOut  float64 `json:"rate_out"`
}

// BandwidthStats is what GET stats/bw returns: libp2p traffic in total and per protocol.
type BandwidthStats struct {
	Total       Bandwidth            `json:"total"`
	ByProtocol  map[string]Bandwidth `json:"by_protocol"`
	CollectedAt time.Time            `json:"collected_at"`
}

// UploadResult is the answer of POST content/upload: the added content.
type UploadResult = AddResult

// Peers lists the daemon's members and connected peers.
func (c *Client) Peers(ctx context.Context) ([]PeerInfo, error) {
	var out []PeerInfo
	return out, c.Call(ctx, http.MethodGet, "peers", nil, &out)
}

// BandwidthStats returns the daemon's libp2p traffic counters.
func (c *Client) BandwidthStats(ctx context.Context) (BandwidthStats, error) {
	var out BandwidthStats
	return out, c.Call(ctx, http.MethodGet, "stats/bw", nil, &out)
}

// Transfers lists the daemon's downloads in progress.
func (c *Client) Transfers(ctx context.Context) ([]exchange.Transfer, error) {
	var out []exchange.Transfer
	return out, c.Call(ctx, http.MethodGet, "transfers", nil, &out)
}
