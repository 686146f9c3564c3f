package compare

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Paper experiments (Config.Paper): the figures of Stoica et al., "Chord: A Scalable
// Peer-to-peer Lookup Protocol for Internet Applications" (IEEE/ACM ToN 2003), run
// with the real Chord code on the in-memory network, --feed none (Chord's own join,
// stabilization and fix-fingers build the tables, as in the paper's simulator).
const (
	// PaperChordFig10 is Fig. 10: path length vs N (mean, 1st and 99th percentiles,
	// with ½·log2 N) for N = 2^3 … 2^14, and the PDF of the path length at N = 2^12.
	PaperChordFig10 = "chord-fig10"
	// PaperChordFig11 is Fig. 11: N = 10^4, a fraction p = 0 … 0.5 of the nodes fails
	// at once, the ring stabilizes, then lookups; the fraction of failed lookups vs p.
	PaperChordFig11 = "chord-fig11"
)

// Paper10Nodes are Fig. 10's network sizes, 2^3 … 2^14.
func Paper10Nodes() []int {
	var out []int
	for e := 3; e <= 14; e++ {
		out = append(out, 1<<e)
	}
	return out
}

// Paper11Fractions are Fig. 11's failed fractions p.
var Paper11Fractions = []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5}

// paper10PDFNodes is the N whose path-length PDF Fig. 10(b) shows.
const paper10PDFNodes = 1 << 12

// paperKeysPerNode: the paper's workload stores 100 keys per node; lookups ask for
// keys drawn from that set.
const paperKeysPerNode = 100

// kademliaPaperMax is the largest N at which a --paper chord-fig10 run adds Kademlia
// (when --protocols lists it). Each Kademlia node has a libp2p host (memhost) and
// keeps a connection to every peer it ever asked, so its memory grows faster than N:
// Kademlia alone with --feed none at N = 4096 took 5 min 30 s with a peak RSS of
// 5.9 GiB under a 6 GiB heap limit, and N = 8192 would need about twice the live heap.
const kademliaPaperMax = 4096

// PathLengthRow is one point of Fig. 10(a): the path length (Trace.Hops) of the
// lookups of one protocol at one N.
type PathLengthRow struct {
	Protocol   string  `json:"protocol"`
	N          int     `json:"n"`
	Lookups    int     `json:"lookups"`
	Correct    int     `json:"correct"`
	Mean       float64 `json:"mean"`
	P1         float64 `json:"p1"`
	P99        float64 `json:"p99"`
	HalfLog2N  float64 `json:"half_log2_n"`
	PerfectRef float64 `json:"perfect_finger_mean"`
	// PDF[h] is the fraction of correct lookups with path length h.
	PDF       []float64 `json:"pdf"`
	SetupSec  float64   `json:"setup_sec"`
	LookupSec float64   `json:"lookup_sec"`
}

// FailureRow is one point of Fig. 11: lookups after a fraction P of N nodes failed at
// once and the ring stabilized.
type FailureRow struct {
	N      int     `json:"n"`
	P      float64 `json:"p"`
	Failed int     `json:"failed_nodes"`
	// Lookups ran from random live nodes for keys of the paper's key set.
	Lookups int `json:"lookups"`
	// OwnerFailedPct: the lookup did not reach the key's original owner (its
	// successor before the failure). Without replication the key died with it: the
	// paper's "failed lookups", expected ≈ p.
	OwnerFailedPct float64 `json:"owner_failed_pct"`
	// SuccessorFailedPct: the lookup did not reach the key's live successor now
	// (the node that would hold the key's replica): Chord's routing itself failed.
	SuccessorFailedPct float64 `json:"successor_failed_pct"`
	TimeoutsPerLookup  float64 `json:"timeouts_per_lookup"`
	HopsMean           float64 `json:"hops_mean"`
}

// runPaper runs cfg.Paper's experiment into rep.
func runPaper(ctx context.Context, cfg Config, model *LatencyModel, rep *Report) error {
	switch cfg.Paper {
	case PaperChordFig10:
		return runFig10(ctx, cfg, model, rep)
	case PaperChordFig11:
		return runFig11(ctx, cfg, model, rep)
	}
	return fmt.Errorf("%w: unknown paper experiment %q", ErrBadConfig, cfg.Paper)
}

// paperKeys are the lookups of a paper run: cfg.Lookups keys drawn from the N·100
// keys of the workload, each from a random node.
func paperKeys(seed uint64, n, lookups int) []LookupSpec {
	rng := stream(seed, "paper-keys", uint64(n), 0)
	out := make([]LookupSpec, lookups)
	for i := range out {
		k := rng.IntN(n * paperKeysPerNode)
		out[i] = LookupSpec{Slot: rng.IntN(n), Key: routing.ContentKey(fmt.Appendf(nil, "paper-key-%d-%d", seed, k))}
	}
	return out
}

func runFig10(ctx context.Context, cfg Config, model *LatencyModel, rep *Report) error {
	for _, n := range cfg.Nodes {
		pc := cfg
		pc.Protocols = nil
		for _, p := range cfg.Protocols {
			if p == ProtoKademlia && n > kademliaPaperMax {
				continue
			}
			pc.Protocols = append(pc.Protocols, p)
		}
		if len(pc.Protocols) == 0 {
			continue
		}
		log := cfg.Logger.With("paper", cfg.Paper, "n", n)
		t0 := time.Now()
		s := newSimNet(pc, n, model)
		prog := newProgress(cfg.Progress, fmt.Sprintf("N=%d", n))
		if err := s.bringUp(ctx, log, prog); err != nil {
			s.close()
			return err
		}
		setup := time.Since(t0)
		specs := paperKeys(cfg.Seed, n, cfg.Lookups)
		prog.phase("lookups", len(specs))
		lt := time.Now()
		results := s.runLookupsProgress(ctx, specs, prog)
		lookupSecs := time.Since(lt).Seconds()
		prog.done()
		ref := s.perfectFingerMean(specs)
		s.close()
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, spec := range s.specs {
			row := pathLengthRow(results[spec.name], n)
			row.Protocol = spec.name
			row.SetupSec, row.LookupSec = setup.Seconds(), lookupSecs
			if spec.metric == metricRing {
				row.PerfectRef = ref
			}
			rep.Fig10 = append(rep.Fig10, row)
			log.Info("fig10 point", "protocol", spec.name, "correct", row.Correct, "lookups", row.Lookups,
				"mean", fmt.Sprintf("%.2f", row.Mean), "p1", row.P1, "p99", row.P99,
				"perfect_fingers", fmt.Sprintf("%.2f", ref), "peak_rss_mb", peakRSS()>>20)
		}
	}
	return nil
}

func pathLengthRow(res []lookupResult, n int) PathLengthRow {
	row := PathLengthRow{N: n, Lookups: len(res), HalfLog2N: 0.5 * math.Log2(float64(n))}
	var hops []float64
	for _, r := range res {
		if r.ok {
			row.Correct++
			hops = append(hops, float64(r.hops))
		}
	}
	row.Mean, row.P1, row.P99 = mean(hops), quantile(hops, 0.01), quantile(hops, 0.99)
	if len(hops) == 0 {
		row.Mean, row.P1, row.P99 = -1, -1, -1 // JSON has no NaN
	}
	for _, h := range hops {
		for len(row.PDF) <= int(h) {
			row.PDF = append(row.PDF, 0)
		}
		row.PDF[int(h)]++
	}
	for i := range row.PDF {
		row.PDF[i] /= float64(len(hops))
	}
	return row
}

// perfectFingerMean is the mean Trace.Hops the same lookups, from the same nodes, would
// take on the same live ring with perfect finger tables (see PerfectFingerHops).
func (s *simNet) perfectFingerMean(specs []LookupSpec) float64 {
	s.oracle.mu.Lock()
	ring := slices.Clone(s.oracle.sorted())
	s.oracle.mu.Unlock()
	if len(ring) == 0 {
		return math.NaN()
	}
	keys := make([]routing.Key, len(ring))
	for i, e := range ring {
		keys[i] = e.key
	}
	total, count := 0, 0
	for _, ls := range specs {
		nd := s.node(ls.Slot)
		if nd == nil {
			continue
		}
		from, ok := slices.BinarySearchFunc(keys, routing.PeerKey(nd.id), routing.Key.Cmp)
		if !ok {
			continue
		}
		total += PerfectFingerHops(keys, from, ls.Key)
		count++
	}
	return float64(total) / float64(max(count, 1))
}

// PerfectFingerHops is the Trace.Hops of Chord's iterative lookup for key from node
// ring[from] on a ring of the sorted node keys, every finger table exact: 0 when the
// querier owns key or key lies in (querier, successor]; otherwise each node asked
// (depth 1, 2, …) answers when key lies in (itself, its successor], or refers to its
// closest preceding finger, as Chord's own lookup does.
func PerfectFingerHops(ring []routing.Key, from int, key routing.Key) int {
	n := len(ring)
	succOf := func(k routing.Key) int { // the first node at or after k
		i, _ := slices.BinarySearchFunc(ring, k, routing.Key.Cmp)
		return i % n
	}
	cur := from
	if n == 1 || routing.InOpenClosed(key, ring[(from+n-1)%n], ring[from]) {
		return 0
	}
	for depth := 0; depth <= n; depth++ {
		next := (cur + 1) % n
		if routing.InOpenClosed(key, ring[cur], ring[next]) {
			return depth
		}
		best := next
		for i := routing.KeyBits - 1; i >= 0; i-- {
			f := succOf(ring[cur].Add(routing.PowerOfTwo(i)))
			if routing.InOpen(ring[f], ring[cur], key) {
				best = f
				break
			}
		}
		cur = best
	}
	return n
}

func runFig11(ctx context.Context, cfg Config, model *LatencyModel, rep *Report) error {
	fractions := cfg.FailFractions
	if len(fractions) == 0 {
		fractions = Paper11Fractions
	}
	for _, n := range cfg.Nodes {
		for _, p := range fractions {
			log := cfg.Logger.With("paper", cfg.Paper, "n", n, "p", p)
			pc := cfg
			pc.Protocols = []string{ProtoChord}
			s := newSimNet(pc, n, model)
			prog := newProgress(cfg.Progress, fmt.Sprintf("N=%d p=%.1f", n, p))
			if err := s.bringUp(ctx, log, prog); err != nil {
				s.close()
				return err
			}
			specs := paperKeys(cfg.Seed, n, cfg.Lookups)
			original := make([]peer.ID, len(specs))
			for i, ls := range specs {
				original[i] = s.oracle.Successor(ls.Key)
			}
			// The failure: a seed-chosen fraction p of the slots crashes at once.
			rng := stream(cfg.Seed, "fig11-fail", uint64(n), uint64(p*1000))
			victims := rng.Perm(n)[:int(math.Round(p*float64(n)))]
			prog.phase("failing", len(victims))
			for _, slot := range victims {
				s.killNode(slot)
				prog.add(1)
			}
			// The ring stabilizes: a few stabilization rounds repair the successor
			// lists; fingers are left as the rounds leave them (as in the paper).
			stab := 3 * chordMaintenancePeriod(n)
			prog.phase("stabilizing", 0)
			if err := sleepCtx(ctx, stab); err != nil {
				s.close()
				return err
			}
			prog.phase("lookups", len(specs))
			results := s.runLookupsProgress(ctx, specs, prog)[ProtoChord]
			prog.done()
			s.close()
			if err := ctx.Err(); err != nil {
				return err
			}
			row := FailureRow{N: n, P: p, Failed: len(victims), Lookups: len(specs)}
			ownerFail, succFail, tos := 0, 0, 0
			var hops []float64
			for i, r := range results {
				tos += r.timeouts
				if r.owner != original[i] {
					ownerFail++
				}
				if !r.ok {
					succFail++
				} else {
					hops = append(hops, float64(r.hops))
				}
			}
			row.OwnerFailedPct = 100 * float64(ownerFail) / float64(len(results))
			row.SuccessorFailedPct = 100 * float64(succFail) / float64(len(results))
			row.TimeoutsPerLookup = float64(tos) / float64(len(results))
			row.HopsMean = mean(hops)
			if len(hops) == 0 {
				row.HopsMean = -1 // JSON has no NaN
			}
			rep.Fig11 = append(rep.Fig11, row)
			log.Info("fig11 point", "owner_failed_pct", fmt.Sprintf("%.2f", row.OwnerFailedPct),
				"successor_failed_pct", fmt.Sprintf("%.2f", row.SuccessorFailedPct),
				"timeouts_per_lookup", fmt.Sprintf("%.3f", row.TimeoutsPerLookup), "peak_rss_mb", peakRSS()>>20)
		}
	}
	return nil
}

// bringUp starts the initial nodes and warms the network up, reporting progress.
func (s *simNet) bringUp(ctx context.Context, log *slog.Logger, prog *progress) error {
	prog.phase("starting nodes", s.n)
	s.onStart = func() { prog.add(1) }
	err := s.startInitial(ctx, log)
	s.onStart = nil
	if err != nil {
		return err
	}
	prog.phase("warming up", 0)
	_, err = s.warmup(ctx, log)
	return err
}

// runLookupsProgress is runLookups with a progress tick per finished lookup.
func (s *simNet) runLookupsProgress(ctx context.Context, specs []LookupSpec, prog *progress) map[string][]lookupResult {
	s.onLookup = func() { prog.add(1) }
	defer func() { s.onLookup = nil }()
	return s.runLookups(ctx, specs, false)
}

// WriteFig10CSV writes Fig. 10's points.
func (r *Report) WriteFig10CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"protocol", "n", "lookups", "correct", "mean", "p1", "p99", "half_log2_n", "perfect_finger_mean", "pdf"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	for _, x := range r.Fig10 {
		pdf := ""
		for i, v := range x.PDF {
			if i > 0 {
				pdf += " "
			}
			pdf += f(v)
		}
		_ = cw.Write([]string{x.Protocol, strconv.Itoa(x.N), strconv.Itoa(x.Lookups), strconv.Itoa(x.Correct),
			f(x.Mean), f(x.P1), f(x.P99), f(x.HalfLog2N), f(x.PerfectRef), pdf})
	}
	cw.Flush()
	return cw.Error()
}

// WriteFig11CSV writes Fig. 11's points.
func (r *Report) WriteFig11CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"n", "p", "failed_nodes", "lookups", "owner_failed_pct", "successor_failed_pct", "timeouts_per_lookup", "hops_mean"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	for _, x := range r.Fig11 {
		_ = cw.Write([]string{strconv.Itoa(x.N), f(x.P), strconv.Itoa(x.Failed), strconv.Itoa(x.Lookups),
			f(x.OwnerFailedPct), f(x.SuccessorFailedPct), f(x.TimeoutsPerLookup), f(x.HopsMean)})
	}
	cw.Flush()
	return cw.Error()
}

// WritePaperTable prints the paper experiment's points.
func (r *Report) WritePaperTable(w io.Writer) error {
	if len(r.Fig10) > 0 {
		fmt.Fprintf(w, "%-9s %6s %8s %8s %6s %4s %4s %10s %14s\n", "protocol", "N", "lookups", "correct", "mean", "p1", "p99", "½·log2 N", "perfect mean")
		for _, x := range r.Fig10 {
			fmt.Fprintf(w, "%-9s %6d %8d %8d %6.2f %4.0f %4.0f %10.2f %14.2f\n", x.Protocol, x.N, x.Lookups, x.Correct, x.Mean, x.P1, x.P99, x.HalfLog2N, x.PerfectRef)
		}
	}
	if len(r.Fig11) > 0 {
		fmt.Fprintf(w, "%6s %5s %7s %8s %16s %20s %13s %6s\n", "N", "p", "failed", "lookups", "owner missed %", "live succ missed %", "timeouts/lkp", "hops")
		for _, x := range r.Fig11 {
			fmt.Fprintf(w, "%6d %5.2f %7d %8d %16.2f %20.2f %13.3f %6.2f\n", x.N, x.P, x.Failed, x.Lookups, x.OwnerFailedPct, x.SuccessorFailedPct, x.TimeoutsPerLookup, x.HopsMean)
		}
	}
	return nil
}
