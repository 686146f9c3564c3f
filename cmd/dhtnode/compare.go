package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/dhtnode/dhtnode/compare"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// compareCommands returns `dhtnode compare`.
func compareCommands(_ *globals) []*cobra.Command {
	return []*cobra.Command{newCompareCmd()}
}

const compareLong = `Run Chord, Kademlia and the one-hop baseline side by side in this process (no
daemon needed): for each N, N nodes on a simulated network (in-memory libp2p
hosts, Chord transport and gossip), every protocol on every node, the same seed-derived node IDs,
lookup keys, originators and churn schedule for all. Every lookup is checked
against an oracle of the live set; latency comes from a latency model applied to
each lookup's referral path (median RTT 150 ms with --latency king), so CPU load
does not distort it.

Prints one row per (protocol, N, churn, feed) and, with --out, writes
results.csv, results.json and plots (PNG and SVG): hops vs N with the ½·log2 N
line, latency CDF, success and latency vs churn, latency vs maintenance bandwidth.

--churn takes "none" or session means (exponential, a departed node is replaced at
once), several comma-separated to sweep: --churn none,400s,200s.
--feed gossip lets gossip events fill and prune Chord's and Kademlia's tables (as the
daemon does); --feed none makes them rely on their own join and maintenance traffic.

--paper chord-fig10 and --paper chord-fig11 rerun the Chord paper's Figures 10 and 11
with the real Chord code (on an in-memory network, no libp2p host per node): see
docs/compare.md. A terminal shows progress bars (N, phase, ETA).`

func newCompareCmd() *cobra.Command {
	def := compare.DefaultConfig()
	var (
		nodes, protos, churn   string
		fail                   string
		quiet                  bool
		cpuProfile, memProfile string
	)
	cfg := def
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Compare Chord, Kademlia and one-hop lookups on a simulated network",
		Long:  compareLong,
		Example: `  dhtnode compare --nodes 64,256 --lookups 1000 --out compare-out
  dhtnode compare --nodes 256 --churn none,400s,200s --feed none --out churn-out
  dhtnode compare --paper chord-fig10 --out fig10        # N = 8 … 16384, Chord alone
  dhtnode compare --paper chord-fig10 --protocols chord,kademlia --out fig10   # Kademlia up to N = 4096
  dhtnode compare --paper chord-fig11 --out fig11        # N = 10000, p = 0 … 0.5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Paper != "" {
				paperDefaults(cmd, &cfg, &nodes, &protos)
			}
			if cfg.Nodes, err = compare.ParseNodes(nodes); err != nil {
				return err
			}
			if cfg.FailFractions, err = compare.ParseFractions(fail); err != nil {
				return err
			}
			if cfg.Churn, err = compare.ParseChurn(churn); err != nil {
				return err
			}
			cfg.Protocols = compare.ParseProtocols(protos)
			level := slog.LevelInfo
			if quiet {
				level = slog.LevelWarn
			}
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			if err := cfg.Validate(); err != nil {
				return err
			}
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && !quiet && cfg.Paper != "" && term.IsTerminal(int(f.Fd())) {
				cfg.Progress = f
				// The bars take the terminal; the log keeps only warnings.
				cfg.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn}))
			}
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
			}
			if os.Getenv("GOGC") == "" {
				// Hundreds of nodes allocate fast and live long: collecting at 5× the
				// live heap instead of 2× halves the CPU the GC takes, for memory this
				// machine has.
				debug.SetGCPercent(400)
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				defer followLiveHeap(physicalMemory())()
			}
			if memProfile != "" {
				// SIGUSR1 snapshots the heap while the run goes on; the end of the run
				// writes one too.
				usr1 := make(chan os.Signal, 1)
				signal.Notify(usr1, syscall.SIGUSR1)
				defer signal.Stop(usr1)
				go func() {
					for range usr1 {
						_ = writeHeapProfile(memProfile)
					}
				}()
				defer func() { _ = writeHeapProfile(memProfile) }()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := compare.Run(ctx, cfg)
			if rep != nil && (len(rep.Fig10) > 0 || len(rep.Fig11) > 0) {
				_ = rep.WritePaperTable(cmd.OutOrStdout())
			}
			if rep != nil && (len(rep.Rows) > 0 || len(rep.Fig10) > 0 || len(rep.Fig11) > 0) {
				if len(rep.Rows) > 0 {
					if werr := rep.WriteTable(cmd.OutOrStdout()); werr != nil && err == nil {
						err = werr
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "\nelapsed %.1fs, peak RSS %.0f MB, latency model %s",
					rep.Elapsed, float64(rep.PeakRSSBytes)/(1<<20), rep.Latency)
				if cfg.Out != "" {
					fmt.Fprintf(cmd.OutOrStdout(), ", files in %s", cfg.Out)
				}
				fmt.Fprintln(cmd.OutOrStdout())
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&nodes, "nodes", "64,256,1024", "network sizes N, comma-separated")
	f.StringVar(&protos, "protocols", "chord,kademlia,onehop", "protocols to compare, comma-separated (or all)")
	f.IntVar(&cfg.Lookups, "lookups", def.Lookups, "lookups per protocol, N and churn setting")
	f.StringVar(&churn, "churn", "none", "none, or exponential session means (e.g. 200s), comma-separated to sweep")
	f.StringVar(&cfg.Latency, "latency", def.Latency, "latency model: king (median RTT 150 ms), none, or const:DURATION")
	f.StringVar(&cfg.Feed, "feed", def.Feed, "gossip (events fill the routing tables, as the daemon) or none (protocols' own traffic only)")
	f.Uint64Var(&cfg.Seed, "seed", def.Seed, "seed for node IDs, keys, originators and churn")
	f.StringVar(&cfg.Out, "out", "", "directory for results.csv, results.json and plots (default: none written)")
	f.DurationVar(&cfg.Window, "window", def.Window, "quiet period over which maintenance traffic is measured")
	f.Float64Var(&cfg.LookupRate, "rate", def.LookupRate, "lookups per second per protocol while churning")
	f.IntVar(&cfg.Concurrency, "concurrency", def.Concurrency, "lookups in flight")
	f.Float64Var(&cfg.Byzantine, "byzantine", 0, "fraction of nodes whose Chord lies in every answer (lookups then start at honest nodes, for honest-owned keys)")
	f.DurationVar(&cfg.TimeoutPenalty, "timeout-penalty", def.TimeoutPenalty, "modelled latency charged per timed-out request")
	f.DurationVar(&cfg.Settle, "settle", def.Settle, "minimum warm-up after the initial joins")
	f.DurationVar(&cfg.WarmupMax, "warmup-max", def.WarmupMax, "give up if the tables have not converged by then")
	f.StringVar(&cfg.GossipProfile, "gossip-profile", def.GossipProfile, "memberlist timing of the simulated gossip: lan, wan or local")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile here (to see what limits the largest N)")
	f.StringVar(&memProfile, "memprofile", "", "write a heap profile here at the end (and on SIGUSR1)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress logs on stderr")
	f.StringVar(&cfg.Paper, "paper", "", "run a figure of the Chord paper instead: chord-fig10 (path length vs N, N = 8…16384) or chord-fig11 (failed lookups vs failed fraction, N = 10000)")
	f.StringVar(&fail, "fail", "", "chord-fig11's failed fractions p, comma-separated (default 0,0.1,…,0.5)")
	return cmd
}

// paperDefaults gives a --paper run the paper's network sizes, Chord alone and
// --feed none, for the flags the user did not set.
func paperDefaults(cmd *cobra.Command, cfg *compare.Config, nodes, protos *string) {
	f := cmd.Flags()
	if !f.Changed("nodes") {
		if cfg.Paper == compare.PaperChordFig11 {
			*nodes = "10000"
		} else {
			*nodes = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(compare.Paper10Nodes())), ","), "[]")
		}
	}
	if !f.Changed("protocols") {
		*protos = compare.ProtoChord
	}
	if !f.Changed("feed") {
		cfg.Feed = compare.FeedNone
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.WriteHeapProfile(f)
}
