package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/dhtnode/dhtnode/client"
)

// printReach is the reach part of id's text output: whether others can dial the
// node, and the relays it can be reached through when they cannot.
func printReach(w io.Writer, r client.ReachInfo) {
	line := r.Reachability
	if r.RelayService {
		line += " (relaying for others)"
	}
	fmt.Fprintf(w, "reach:    %s\n", line)
	if len(r.Relays) > 0 {
		fmt.Fprintf(w, "relays:   %s\n", strings.Join(r.Relays, ", "))
	} else if r.Reachability == "private" {
		fmt.Fprintf(w, "relays:   none reserved yet\n")
	}
}
