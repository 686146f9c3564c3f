package node

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/dhtnode/dhtnode/routing"
)

// RoutingRouters lists the routers the daemon runs.
func (c *Client) RoutingRouters(ctx context.Context) ([]RouterInfo, error) {
	var out []RouterInfo
	return out, c.Call(ctx, http.MethodGet, "routing/routers", nil, &out)
}

// Lookup asks the daemon for the owner(s) of key through via (a router name, "all",
// or "" for the default). key is read by ParseRoutingKey on the daemon.
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
