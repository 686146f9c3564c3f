// Package client talks to a running dhtnode daemon over its local HTTP API, and
// defines the API's wire types: the request bodies, the answers and the NDJSON
// progress events. The CLI and the web UI use it; so can any Go program on the
// daemon's machine.
//
// The package depends only on the small vocabulary packages (content, exchange's
// progress, routing), never on node, so a program that only drives a daemon does not
// link a node. The daemon's server (package node) encodes these same types, so
// both ends agree on the wire by construction.
//
//	c := client.New("127.0.0.1:5001")
//	info, err := c.ID(ctx)
//
// Calls that fail because nothing listens wrap ErrNoDaemon; calls the daemon refused
// return an *APIError with its status and message. A Client is safe for concurrent use.
package client
