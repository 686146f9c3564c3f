package main

import "github.com/spf13/cobra"

// Stub created by the daemon helper; the content wiring (exchange helper) replaces
// this file and returns its commands (add, get, ...) here.
func contentCommands(g *globals) []*cobra.Command { return nil }
