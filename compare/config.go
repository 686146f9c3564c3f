package compare

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrBadConfig is wrapped by every error Config.Validate and the flag parsers return.
var ErrBadConfig = errors.New("compare: bad config")

// Feed modes.
const (
	// FeedGossip: gossip events fill and prune Chord's and Kademlia's tables, as the
	// daemon runs them.
	FeedGossip = "gossip"
	// FeedNone: Chord and Kademlia build their tables only from their own traffic (join
	// through one live node, stabilization, bucket refresh), as in the papers. One-hop
	// is always fed by gossip: that is what it is.
	FeedNone = "none"
)

// Config describes one comparison run. Start from DefaultConfig.
type Config struct {
	// Nodes lists the network sizes N to run.
	Nodes []int
	// Protocols lists the routers to compare: "chord", "kademlia", "onehop".
	Protocols []string
	// Lookups is the number of lookups per (protocol, N, churn).
	Lookups int
	// Churn lists session means to run; 0 means no churn. Sessions are exponential with
	// this mean; a departed node is replaced at once by a new one, so N stays constant.
	Churn []time.Duration
	// Latency is the latency model name (see NewLatencyModel).
	Latency string
	// Feed is FeedGossip or FeedNone.
	Feed string
	// Seed fixes node IDs, coordinates, keys, originators and the churn schedule.
	Seed uint64
	// Out is the directory for CSV, JSON and plots; empty writes nothing.
	Out string
	// Window is the quiet maintenance-measurement period before the lookups (churn
	// running, no lookups): maintenance traffic per node per second is measured over it.
	Window time.Duration
	// LookupRate paces lookups (per second, each protocol) when churn is on, so churn
	// happens during the lookups. Without churn lookups run back to back.
	LookupRate float64
	// Concurrency bounds lookups in flight.
	Concurrency int
	// TimeoutPenalty is the latency charged per timed-out request in the modelled
	// latency (a real RPC timeout is waited out before the fallback is tried).
	TimeoutPenalty time.Duration
	// WarmupMax bounds the wait for the tables to converge after the initial joins.
	WarmupMax time.Duration
	// Settle is the minimum warm-up after the initial joins, so that finger tables
	// and buckets are complete rather than merely correct.
	Settle time.Duration
	// GossipProfile is the memberlist timing profile of the simulated gossip members:
	// "wan" (default here), "lan" (the daemon's default) or "local". Hundreds of
	// simulated nodes share this machine's cores, so a node's goroutines can be
	// scheduled hundreds of milliseconds late: LAN's 500 ms probe timeout then declares
	// live members failed (measured: N = 256 lost 1–3% of lookups to such false
	// failures, and gossip traffic grew tenfold), while WAN's 3 s timeout rides it out.
	// The price is slower detection of real crashes (tens of seconds), which the
	// routers' own timeouts cover.
	GossipProfile string
	// Byzantine is the fraction of nodes (0 ≤ f < 1) whose Chord lies in every answer
	// (chord.AllLies). Lookups then start only at honest nodes and only look up keys
	// honest nodes own, so a row says how well honest Chord nodes route around liars.
	Byzantine float64
	// Logger receives progress; nil discards.
	Logger *slog.Logger
	// Paper, when set, runs one of the Chord paper's experiments instead of the
	// comparison: PaperChordFig10 or PaperChordFig11 (see paper.go). Nodes, Lookups,
	// Seed, Protocols (Fig. 10 only) and Out apply; Churn and Window do not.
	Paper string
	// FailFractions are Fig. 11's failed fractions p (default Paper11Fractions).
	FailFractions []float64
	// Progress, when set, receives progress bars (N, phase, ETA); for a terminal.
	Progress io.Writer
}

// DefaultConfig returns the defaults of `dhtnode compare`.
func DefaultConfig() Config {
	return Config{
		Nodes:          []int{64, 256, 1024},
		Protocols:      []string{ProtoChord, ProtoKademlia, ProtoOnehop},
		Lookups:        2000,
		Churn:          []time.Duration{0},
		Latency:        LatencyKing,
		Feed:           FeedGossip,
		Seed:           1,
		Window:         10 * time.Second,
		LookupRate:     100,
		Concurrency:    16,
		TimeoutPenalty: 500 * time.Millisecond,
		WarmupMax:      3 * time.Minute,
		Settle:         10 * time.Second,
		GossipProfile:  "wan",
	}
}

// Validate reports the first unusable field, wrapped in ErrBadConfig.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadConfig}, args...)...)
	}
	if len(c.Nodes) == 0 {
		return bad("no network sizes")
	}
	for _, n := range c.Nodes {
		if n < 2 || n > 100_000 {
			return bad("network size %d not in 2..100000", n)
		}
	}
	if len(c.Protocols) == 0 {
		return bad("no protocols")
	}
	for _, p := range c.Protocols {
		if _, ok := protocols[p]; !ok {
			return bad("unknown protocol %q (known: %s)", p, strings.Join(KnownProtocols(), ", "))
		}
	}
	switch {
	case c.Lookups < 1:
		return bad("lookups must be at least 1")
	case len(c.Churn) == 0:
		return bad("no churn setting (use 0 for none)")
	case c.Feed != FeedGossip && c.Feed != FeedNone:
		return bad("feed %q: want %s or %s", c.Feed, FeedGossip, FeedNone)
	case c.Window < 0 || c.TimeoutPenalty < 0 || c.Settle < 0:
		return bad("negative duration")
	case c.LookupRate <= 0:
		return bad("lookup rate must be positive")
	case c.Concurrency < 1:
		return bad("concurrency must be at least 1")
	case c.WarmupMax <= 0:
		return bad("warm-up bound must be positive")
	case c.Byzantine < 0 || c.Byzantine >= 1:
		return bad("byzantine fraction %v not in [0, 1)", c.Byzantine)
	}
	for _, s := range c.Churn {
		if s < 0 || (s > 0 && s < time.Second) {
			return bad("session mean %v: want 0 (none) or at least 1s", s)
		}
	}
	switch c.GossipProfile {
	case "lan", "wan", "local":
	default:
		return bad("gossip profile %q: want lan, wan or local", c.GossipProfile)
	}
	switch c.Paper {
	case "", PaperChordFig10:
	case PaperChordFig11:
		for _, p := range c.FailFractions {
			if p < 0 || p >= 1 {
				return bad("failed fraction %v not in [0, 1)", p)
			}
		}
	default:
		return bad("paper experiment %q: want %s or %s", c.Paper, PaperChordFig10, PaperChordFig11)
	}
	if c.Paper != "" && c.Feed != FeedNone {
		return bad("the paper experiments run with feed %s (Chord's own maintenance, as in the paper)", FeedNone)
	}
	if _, err := NewLatencyModel(c.Latency); err != nil {
		return err
	}
	return nil
}

// ParseNodes parses "64,256,1024".
func ParseNodes(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%w: network size %q: %v", ErrBadConfig, f, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseChurn parses "none", "200s" or a list "none,400s,200s" into session means
// (0 = none).
func ParseChurn(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range splitList(s) {
		if f == "none" || f == "0" {
			out = append(out, 0)
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, fmt.Errorf("%w: session mean %q: want none or a duration like 200s", ErrBadConfig, f)
		}
		out = append(out, d)
	}
	return out, nil
}

// ParseFractions parses "0,0.1,0.25" (empty: none).
func ParseFractions(s string) ([]float64, error) {
	var out []float64
	for _, f := range splitList(s) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: fraction %q: %v", ErrBadConfig, f, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseProtocols parses "chord,kademlia,onehop" ("all" means every known protocol).
func ParseProtocols(s string) []string {
	if s == "all" {
		return KnownProtocols()
	}
	return splitList(s)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// churnLabel names a session mean in reports.
func churnLabel(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return d.String()
}
