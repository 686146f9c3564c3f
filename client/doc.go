// Package client talks to a running dhtnode daemon over its local HTTP API, and
// defines the API's wire types: the request bodies, the answers and the NDJSON
// progress events. The CLI and the web UI use it; so can any Go program on the
// daemon's machine.
//
// The package depends only on the small vocabulary packages (content, routing), never
// on node or exchange, so a program that only drives a daemon does not
// link a node. The daemon's server (package node) encodes these same types, so
// both ends agree on the wire by construction.
//
// The daemon answers only callers holding its repo's API token (<repo>/api.token,
// readable by the repo's owner alone): FromRepo reads the address and the token the
// daemon keeps in its repo, WithToken gives a token found elsewhere.
//
//	c, err := client.FromRepo(os.ExpandEnv("$HOME/.dhtnode"))
//	info, err := c.ID(ctx)
//
// A browser gets in with BrowserLoginURL: a one-time URL that sets a session cookie
// and opens the web UI, so the token itself never enters a URL or a history.
//
// Calls that fail because nothing listens wrap ErrNoDaemon; calls the daemon refused
// return an *APIError with its status and message (errors.Is(err, ErrUnauthorized) for
// a missing or wrong token). A Client is safe for concurrent use.
package client
