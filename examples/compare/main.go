// Command compare runs a small comparison of the three routers from Go: 32 simulated
// nodes in this process (libp2p mocknet with a latency model, gossip-fed tables), 200
// lookups of random keys per router, each checked against an oracle of the live set,
// and prints the report's table (hops, RPCs, modelled latency, maintenance traffic).
// `dhtnode compare` is the same run with more knobs; the same Seed gives the same
// node IDs, keys and originators.
//
//	go run ./examples/compare
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dhtnode/dhtnode/compare"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) (*compare.Report, error) {
	cfg := compare.DefaultConfig()
	cfg.Nodes = []int{32}
	cfg.Lookups = 200
	cfg.Window = time.Second     // maintenance traffic measured over one quiet second
	cfg.Settle = 2 * time.Second // tables settle this long after the joins
	cfg.WarmupMax = 2 * time.Minute
	rep, err := compare.Run(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return rep, rep.WriteTable(w)
}
