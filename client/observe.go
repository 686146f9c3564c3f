package client

import (
	"context"
	"net/http"
	"time"

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
func (c *Client) Transfers(ctx context.Context) ([]Transfer, error) {
	var out []Transfer
	return out, c.Call(ctx, http.MethodGet, "transfers", nil, &out)
}

// Piece states in Transfer.Pieces, one byte per piece.
const (
	PieceHeld     = 'h' // verified (in the store or the output)
	PieceInFlight = 'f' // requested from at least one peer, not yet verified
	PieceMissing  = '.' // neither held nor requested
)

// Peer states in TransferPeer.State.
const (
	PeerActive  = "active"  // has requests in flight
	PeerIdle    = "idle"    // usable, but has nothing we still need or no free request slot
	PeerStalled = "stalled" // dropped: it stopped answering within the stall timeout
	PeerBanned  = "banned"  // sent pieces that failed verification
	PeerDropped = "dropped" // left the download for another reason (unreachable, protocol error)
)

// Transfer is one entry of GET transfers: a download in progress, which pieces are held,
// in flight or missing, and what every provider is doing.
type Transfer struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Total       int64         `json:"total"`        // bytes of the whole content
	Bytes       int64         `json:"bytes"`        // verified bytes written so far
	PiecesDone  int           `json:"pieces_done"`  // pieces written
	TotalPieces int           `json:"total_pieces"` // pieces of the whole content
	Resumed     int           `json:"resumed"`      // pieces found in the store at the start
	Elapsed     time.Duration `json:"elapsed_ns"`
	// Pieces has one byte per piece: PieceHeld, PieceInFlight or PieceMissing.
	Pieces string         `json:"pieces"`
	Peers  []TransferPeer `json:"peers"`
}

// TransferPeer is what one download knows about one provider.
type TransferPeer struct {
	PeerID string `json:"peer_id"`
	// State is one of PeerActive, PeerIdle, PeerStalled, PeerBanned, PeerDropped.
	State string `json:"state"`
	// Reason says why the peer is in that state (the error that made it leave, or why
	// an idle peer gets no requests).
	Reason   string  `json:"reason,omitempty"`
	Rate     float64 `json:"rate"`   // bytes/s, exponentially weighted
	Bytes    int64   `json:"bytes"`  // verified bytes received from it
	Pieces   int     `json:"pieces"` // verified pieces received from it
	InFlight int     `json:"in_flight"`
	Window   int     `json:"window"` // how many requests it may have in flight
	Bad      int     `json:"bad"`    // pieces from it that failed verification
}
