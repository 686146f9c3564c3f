package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/dhtnode/dhtnode/routing"
)

// Key kinds: how the daemon read a routing key (RoutingResponse.KeyKind; the daemon's
// reader is node.ParseRoutingKey).
const (
	KeyKindHex    = "key"    // 64 hexadecimal digits, used as the key itself
	KeyKindCID    = "cid"    // a content ID (any CID): the key is its sha2-256 digest
	KeyKindString = "string" // anything else: the key is SHA-256 of the string's bytes
)

// RouterInfo is one entry of GET routing/routers.
type RouterInfo struct {
	Name    string `json:"name"`
	Default bool   `json:"default"`
}

// PeerRef is a peer in a routing answer.
type PeerRef struct {
	PeerID string `json:"peer_id"`
	// Key is the peer's position in the key space, routing.PeerKey(peer ID).
	Key   routing.Key `json:"key"`
	Addrs []string    `json:"addrs,omitempty"`
}

// RoutingResult is one router's answer to a lookup, provide or findprovs.
type RoutingResult struct {
	Router string `json:"router"`
	// Peers are the owners (lookup, closest first) or the providers (findprovs).
	Peers []PeerRef     `json:"peers"`
	Trace routing.Trace `json:"trace"`
	Error string        `json:"error,omitempty"`
}

// RoutingResponse is the answer of lookup, provide and findprovs.
type RoutingResponse struct {
	// Input is the key as given; KeyKind says how it was read (see the KeyKind constants).
	Input   string          `json:"input"`
	KeyKind string          `json:"key_kind"`
	Key     routing.Key     `json:"key"`
	Results []RoutingResult `json:"results"`
}

// ProvideRequest is the body of POST routing/provide.
type ProvideRequest struct {
	Key string `json:"key"`
	Via string `json:"via,omitempty"`
}

// RoutingRouters lists the routers the daemon runs.
func (c *Client) RoutingRouters(ctx context.Context) ([]RouterInfo, error) {
	var out []RouterInfo
	return out, c.Call(ctx, http.MethodGet, "routing/routers", nil, &out)
}

// Lookup asks the daemon for the owner(s) of key through via (a router name, "all",
// or "" for the default). key is read by node.ParseRoutingKey on the daemon.
func (c *Client) Lookup(ctx context.Context, key, via string) (RoutingResponse, error) {
	var out RoutingResponse
	q := url.Values{"key": {key}, "via": {via}}
	return out, c.Call(ctx, http.MethodGet, "routing/lookup?"+q.Encode(), nil, &out)
}

// FindProviders asks the daemon who provides key (limit 0: no limit).
func (c *Client) FindProviders(ctx context.Context, key, via string, limit int) (RoutingResponse, error) {
	var out RoutingResponse
	q := url.Values{"key": {key}, "via": {via}, "limit": {strconv.Itoa(limit)}}
	return out, c.Call(ctx, http.MethodGet, "routing/findprovs?"+q.Encode(), nil, &out)
}

// Provide makes the daemon announce itself as a provider of key.
func (c *Client) Provide(ctx context.Context, key, via string) (RoutingResponse, error) {
	var out RoutingResponse
	return out, c.Call(ctx, http.MethodPost, "routing/provide", ProvideRequest{Key: key, Via: via}, &out)
}

// RoutingTables returns the routing tables of the routers via names.
func (c *Client) RoutingTables(ctx context.Context, via string) ([]routing.Table, error) {
	var out []routing.Table
	q := url.Values{"via": {via}}
	return out, c.Call(ctx, http.MethodGet, "routing/table?"+q.Encode(), nil, &out)
}
