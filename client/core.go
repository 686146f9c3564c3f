package client

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// IDInfo is what GET /api/v1/id returns.
type IDInfo struct {
	PeerID string `json:"peer_id"`
	// Name is the gossip member name (the peer ID unless configured otherwise).
	Name string `json:"name"`
	// GossipAddr is what other members pass to join this node: the gossip
	// host:port on the udp gossip transport, a multiaddr ending in /p2p/<peer ID>
	// on libp2p. GossipBind is the socket actually bound (it differs when binding
	// 0.0.0.0); on libp2p it is the member address derived from the peer ID.
	GossipAddr string `json:"gossip_addr"`
	GossipBind string `json:"gossip_bind"`
	// GossipTransport is gossip.transport: "udp" or "libp2p".
	GossipTransport string `json:"gossip_transport"`
	// ListenAddrs are the libp2p addresses actually bound (port 0 resolved).
	ListenAddrs []string `json:"listen_addrs"`
	// Addrs are the libp2p addresses the node advertises to others.
	Addrs   []string `json:"addrs"`
	APIAddr string   `json:"api_addr"`
	Version string   `json:"version"`
	PID     int      `json:"pid"`
	// Cluster says whether the node has joined a gossip cluster, and if not why.
	Cluster ClusterInfo `json:"cluster"`
	// Reach says whether others can dial the node and through which relays.
	Reach ReachInfo `json:"reach"`
}

// ClusterInfo is a node's gossip join state, in GET /api/v1/id and on the
// node's own entry of GET /api/v1/members.
type ClusterInfo struct {
	// State is "joined" (another member is alive), "joining" (no member has
	// answered yet; retry-join keeps trying) or "alone" (no other member and no
	// failed join: the first member of a cluster).
	State  string `json:"state"`
	Joined bool   `json:"joined"`
	// Reason explains a state other than joined in one line, e.g. the last join
	// error with its likely cause (a cluster secret that differs).
	Reason string `json:"reason,omitempty"`
	// Seeds are the configured join addresses.
	Seeds []string `json:"seeds,omitempty"`
}

// MemberInfo is one entry of GET /api/v1/members.
type MemberInfo struct {
	Name   string   `json:"name"`
	Addr   string   `json:"addr"`
	State  string   `json:"state"`
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
	// Self marks the node's own entry, which also carries its join state.
	Self    bool         `json:"self,omitempty"`
	Cluster *ClusterInfo `json:"cluster,omitempty"`
}

// JoinRequest is the body of POST /api/v1/join.
type JoinRequest struct {
	Addrs []string `json:"addrs"`
}

// JoinResponse says how many members a join reached.
type JoinResponse struct {
	Joined int `json:"joined"`
}

// VersionInfo is what GET /api/v1/version returns.
type VersionInfo struct {
	Version string `json:"version"`
}

// StatusResponse acknowledges calls that return nothing else.
type StatusResponse struct {
	Status string `json:"status"`
}

// ErrorResponse is the body of every error an API handler or the Origin/Host guard
// writes. (404 for an unknown path and 405 for a wrong method come from
// http.ServeMux as plain text; Client turns those into an *APIError from the status.)
type ErrorResponse struct {
	Error string `json:"error"`
}

// ID returns the daemon's identity and bound addresses.
func (c *Client) ID(ctx context.Context) (IDInfo, error) {
	var out IDInfo
	return out, c.Call(ctx, http.MethodGet, "id", nil, &out)
}

// Members lists every member the daemon knows.
func (c *Client) Members(ctx context.Context) ([]MemberInfo, error) {
	var out []MemberInfo
	return out, c.Call(ctx, http.MethodGet, "members", nil, &out)
}

// Join makes the daemon join the members at addrs now.
func (c *Client) Join(ctx context.Context, addrs []string) (int, error) {
	var out JoinResponse
	err := c.Call(ctx, http.MethodPost, "join", JoinRequest{Addrs: addrs}, &out)
	return out.Joined, err
}

// Leave makes the daemon leave the cluster gracefully and stop.
func (c *Client) Leave(ctx context.Context) error {
	return c.Call(ctx, http.MethodPost, "leave", nil, nil)
}

// Shutdown stops the daemon without leaving (others see it fail, and reconnect
// to it when it comes back).
func (c *Client) Shutdown(ctx context.Context) error {
	return c.Call(ctx, http.MethodPost, "shutdown", nil, nil)
}

// Version returns the daemon's version.
func (c *Client) Version(ctx context.Context) (string, error) {
	var out VersionInfo
	return out.Version, c.Call(ctx, http.MethodGet, "version", nil, &out)
}

// WaitReady polls the API until it answers or ctx ends; for scripts and tests that
// start a daemon and then talk to it.
func (c *Client) WaitReady(ctx context.Context) error {
	for {
		_, err := c.ID(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("daemon at %s not ready: %w", c.addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
