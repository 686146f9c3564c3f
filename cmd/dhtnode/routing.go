package main

import "github.com/spf13/cobra"

// Stub created by the daemon helper; the routers wiring (chord helper) replaces this
// file and returns its commands (lookup, routing table) here.
func routingCommands(g *globals) []*cobra.Command { return nil }
