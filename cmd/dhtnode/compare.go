package main

import "github.com/spf13/cobra"

// Stub created by the daemon helper; the compare helper replaces this file and
// returns its commands here.
func compareCommands(g *globals) []*cobra.Command { return nil }
