package compare

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/libp2p/go-libp2p/core/peer"
)

// lookupResult is one lookup of one protocol, judged against the oracle.
type lookupResult struct {
	ok       bool
	err      string
	hops     int
	rpcs     int
	timeouts int
	latency  time.Duration // modelled
	owner    peer.ID       // the first owner returned, if any
}

// Run executes the comparison described by cfg and returns the report; with cfg.Out
// set it also writes the CSV, JSON and plots there. Each (N, churn) gets a fresh
// simulated network carrying every protocol at once.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	model, err := NewLatencyModel(cfg.Latency)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Command: cfg, Started: time.Now().UTC(), GoMaxProcs: runtime.GOMAXPROCS(0),
		Latency: model.Name(), MedianRTTms: float64(KingMedianRTT.Milliseconds()),
	}
	if model.Name() != LatencyKing {
		rep.MedianRTTms = 0
	}
	if cfg.Paper != "" {
		err := runPaper(ctx, cfg, model, rep)
		rep.PeakRSSBytes = peakRSS()
		rep.Elapsed = time.Since(rep.Started).Seconds()
		if err == nil && cfg.Out != "" {
			err = rep.WriteFiles(cfg.Out)
		}
		return rep, err
	}
	for _, n := range cfg.Nodes {
		for _, churn := range cfg.Churn {
			rows, samples, err := runOne(ctx, cfg, model, n, churn)
			if err != nil {
				return rep, err
			}
			rep.Rows = append(rep.Rows, rows...)
			rep.samples = append(rep.samples, samples...)
		}
	}
	rep.PeakRSSBytes = peakRSS()
	rep.Elapsed = time.Since(rep.Started).Seconds()
	if cfg.Out != "" {
		if err := rep.WriteFiles(cfg.Out); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func runOne(ctx context.Context, cfg Config, model *LatencyModel, n int, churn time.Duration) ([]Row, [][]time.Duration, error) {
	log := cfg.Logger.With("n", n, "churn", churnLabel(churn), "feed", cfg.Feed)
	t0 := time.Now()
	s := newSimNet(cfg, n, model)
	defer s.close()

	// 1. The initial network: nodes start a few at a time, each joining through nodes
	//    already up.
	log.Info("starting nodes")
	if err := s.startInitial(ctx, log); err != nil {
		log.Error("start failed", "err", err)
		return nil, nil, err
	}
	joined := time.Since(t0)
	log.Info("nodes started", "took", joined.Round(time.Millisecond))

	// 2. Warm-up: gossip views complete, a minimum settle time for maintenance to fill
	//    the tables, then probes until every protocol answers correctly.
	warm, err := s.warmup(ctx, log)
	if err != nil {
		return nil, nil, err
	}
	setup := time.Since(t0)
	log.Info("warm", "took", setup.Round(time.Millisecond), "probe_rounds", warm)

	w := NewWorkload(cfg.Seed, n, cfg.Lookups, churn, cfg.LookupRate,
		cfg.Window+time.Duration(float64(cfg.Lookups)/cfg.LookupRate*float64(time.Second))+time.Minute)
	churnCtx, stopChurn := context.WithCancel(ctx)
	churnDone := make(chan churnStats, 1)
	if churn > 0 {
		go func() { churnDone <- s.runChurn(churnCtx, w.Churn) }()
	} else {
		close(churnDone)
	}

	// 3. Maintenance window: churn (if any) runs, no lookups.
	before := s.trafficSnapshot()
	windowStart := time.Now()
	select {
	case <-time.After(cfg.Window):
	case <-ctx.Done():
		stopChurn()
		return nil, nil, ctx.Err()
	}
	after := s.trafficSnapshot()
	windowSecs := time.Since(windowStart).Seconds()

	// 4. Lookups.
	log.Info("lookups", "count", len(w.Lookups))
	lt := time.Now()
	results := s.runLookups(ctx, w.Lookups, churn > 0)
	lookupSecs := time.Since(lt).Seconds()
	stopChurn()
	cs := <-churnDone
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}

	// 5. Routing state and the rows.
	entries := s.tableEntries()
	var rows []Row
	var samples [][]time.Duration
	for _, spec := range s.specs {
		res := results[spec.name]
		row := summarize(res)
		row.Protocol, row.N, row.Churn, row.Feed = spec.name, n, churnLabel(churn), cfg.Feed
		row.SessionMeanSec = churn.Seconds()
		row.Departures = cs.departures
		row.JoinFailures = cs.joinFailures
		tr := after.protocols[spec.name].minus(before.protocols[spec.name])
		row.MaintMsgsPerNodeSec = float64(tr.msgs) / float64(n) / windowSecs
		row.MaintBytesPerNodeSec = float64(tr.bytes) / float64(n) / windowSecs
		if spec.gossipFed && s.mem != nil {
			g := after.gossip.minus(before.gossip)
			row.GossipMsgsPerNodeSec = float64(g.msgs) / float64(n) / windowSecs
			row.GossipBytesPerNodeSec = float64(g.bytes) / float64(n) / windowSecs
			row.MaintMsgsPerNodeSec += row.GossipMsgsPerNodeSec
			row.MaintBytesPerNodeSec += row.GossipBytesPerNodeSec
		}
		row.TableEntriesPerNode = entries[spec.name]
		row.SetupSec = setup.Seconds()
		row.LookupSec = lookupSecs
		row.WindowSec = windowSecs
		rows = append(rows, row)
		lat := make([]time.Duration, 0, len(res))
		for _, r := range res {
			if r.ok {
				lat = append(lat, r.latency)
			}
		}
		samples = append(samples, lat)
		if why := failureReasons(res); len(why) > 0 {
			log.Info("failed lookups", "protocol", spec.name, "by_reason", why)
		}
		log.Info("row", "protocol", spec.name, "success_pct", fmt.Sprintf("%.2f", row.SuccessPct),
			"hops_mean", fmt.Sprintf("%.2f", row.HopsMean), "lat_p50_ms", fmt.Sprintf("%.0f", row.LatencyP50Ms))
	}
	return rows, samples, nil
}

// failureReasons counts the failed lookups by error (a wrong or missing owner, or
// the router's error), for the log.
func failureReasons(res []lookupResult) map[string]int {
	why := map[string]int{}
	for _, r := range res {
		if r.ok {
			continue
		}
		why[r.err]++
	}
	return why
}

// startInitial starts N nodes: the first alone, then the rest by a few workers.
func (s *simNet) startInitial(ctx context.Context, log *slog.Logger) error {
	if _, err := s.startNode(ctx, 0); err != nil {
		return err
	}
	next := make(chan int)
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	for range s.startWorkers {
		wg.Go(func() {
			for slot := range next {
				if _, err := s.startNode(ctx, slot); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
				if s.onStart != nil {
					s.onStart()
				}
			}
		})
	}
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	lag := newLagMeter(lagCtx)
	for slot := 1; slot < s.n; slot++ {
		if slot%128 == 0 {
			log.Info("starting nodes", "started", slot, "sched_lag", lag.recent().Round(time.Millisecond))
		}
		// Admission control: each join sets off a storm of gossip (every member
		// re-broadcasts the newcomer), and while the storms outrun the CPU every
		// goroutine runs late. Past memberlist's probe timeout that makes members
		// suspect live nodes, whose refutations are more storms: at N = 1024 they
		// doubled the gossip work of start-up. So the next node starts only once
		// goroutines run on time again (or after maxStartHold, so that a machine
		// slow for other reasons still gets all its nodes).
		for held := time.Duration(0); lag.recent() > maxStartLag && held < maxStartHold && ctx.Err() == nil; held += lagTick {
			_ = sleepCtx(ctx, lagTick)
		}
		select {
		case next <- slot:
		case err := <-errc:
			close(next)
			wg.Wait()
			return err
		case <-ctx.Done():
			close(next)
			wg.Wait()
			return ctx.Err()
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return nil
}

// maxStartLag is the scheduling lag above which startInitial holds back the next
// node: well under the simulated gossip's 3 s probe timeout (WAN profile).
const maxStartLag = 500 * time.Millisecond

// maxStartHold bounds how long startInitial holds back one node.
const maxStartHold = time.Second

// lagTick is lagMeter's sleep, and startInitial's wait between checks.
const lagTick = 50 * time.Millisecond

// lagMeter measures how late this process wakes a sleeping goroutine: when the
// simulated nodes want more CPU than the machine has, every goroutine (memberlist's
// probes and acks included) waits that long in the run queue.
type lagMeter struct {
	mu      sync.Mutex
	samples [20]time.Duration // the last second at lagTick
	next    int
}

func newLagMeter(ctx context.Context) *lagMeter {
	m := &lagMeter{}
	go func() {
		for ctx.Err() == nil {
			t0 := time.Now()
			if sleepCtx(ctx, lagTick) != nil {
				return
			}
			late := time.Since(t0) - lagTick
			m.mu.Lock()
			m.samples[m.next%len(m.samples)] = late
			m.next++
			m.mu.Unlock()
		}
	}()
	return m
}

// recent is the largest lag of about the last second.
func (m *lagMeter) recent() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var worst time.Duration
	for _, d := range m.samples {
		worst = max(worst, d)
	}
	return worst
}

// warmup waits for complete gossip views, then cfg.Settle, then for a correct Chord
// ring (every successor right), then until a probe of random lookups is 100% correct
// for every protocol. It returns the probe rounds.
func (s *simNet) warmup(ctx context.Context, log *slog.Logger) (int, error) {
	deadline := time.Now().Add(s.cfg.WarmupMax)
	if s.mem != nil {
		lastLog := time.Now()
		lastSync := time.Now()
		syncRng := stream(s.cfg.Seed, "antientropy", uint64(s.n), 0)
		for {
			var behind []*simNode
			nodes := s.liveNodes()
			for _, nd := range nodes {
				if nd.members.Up() < s.n-1 {
					behind = append(behind, nd)
				}
			}
			if len(behind) == 0 {
				break
			}
			if time.Since(lastSync) > syncAfter && len(nodes) > 1 {
				// A member whose alive message had been retransmitted its last time
				// before a node joined (and that the node's seed had not heard of yet)
				// reaches that node only by memberlist's periodic push/pull, minutes
				// apart at these N. Do that anti-entropy exchange now, once per
				// straggler (warm-up traffic is not measured).
				lastSync = time.Now()
				for _, nd := range behind {
					peerNd := nodes[syncRng.IntN(len(nodes))]
					if peerNd != nd && peerNd.gossip != nil && nd.gossip != nil {
						_, _ = nd.gossip.Join([]string{peerNd.gossip.BoundAddr()})
					}
				}
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("compare: gossip views incomplete on %d of %d nodes after %v", len(behind), s.n, s.cfg.WarmupMax)
			}
			if time.Since(lastLog) > 10*time.Second {
				lastLog = time.Now()
				minUp := s.n
				for _, nd := range s.liveNodes() {
					minUp = min(minUp, nd.members.Up())
				}
				log.Info("waiting for gossip views", "incomplete", len(behind), "smallest_view", minUp+1)
			}
			if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
				return 0, err
			}
		}
	}
	settle := s.cfg.Settle
	if s.chordNet != nil {
		settle = max(settle, chordSettle(s.n))
	}
	if err := sleepCtx(ctx, settle); err != nil {
		return 0, err
	}
	// Chord's least settle grows with N (chordSettle) and may outlast WarmupMax by
	// itself: WarmupMax bounds the wait after it.
	deadline = time.Now().Add(s.cfg.WarmupMax)
	if err := s.waitChordRing(ctx, log, deadline); err != nil {
		return 0, err
	}
	rng := stream(s.cfg.Seed, "probe", uint64(s.n), 0)
	for round := 1; ; round++ {
		var specs []LookupSpec
		for range 64 {
			var k routing.Key
			for j := range k {
				k[j] = byte(rng.Uint32())
			}
			specs = append(specs, LookupSpec{Slot: rng.IntN(s.n), Key: k})
		}
		res := s.runLookups(ctx, specs, false)
		bad := map[string]int{}
		for name, rs := range res {
			for _, r := range rs {
				if !r.ok {
					bad[name]++
				}
			}
		}
		if len(bad) == 0 {
			return round, nil
		}
		if time.Now().After(deadline) {
			return round, fmt.Errorf("compare: tables not converged after %v: wrong probe lookups %v", s.cfg.WarmupMax, bad)
		}
		log.Info("warming up", "wrong_probes", bad)
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return round, err
		}
	}
}

// waitChordRing waits until every Chord node's first successor is the next live node
// on the ring. A probe of random lookups misses the last few nodes whose join came
// back with a successor past nodes that joined at the same moment (stabilization
// walks those back over a few rounds): each such node is wrong for about 1/N of the
// keys. The papers measure a stable ring, so the simulation checks it directly.
func (s *simNet) waitChordRing(ctx context.Context, log *slog.Logger, deadline time.Time) error {
	if s.chordNet == nil || s.cfg.Byzantine > 0 {
		// Honest nodes drop lying successors, so with liars the true ring is not
		// what converges: the probe lookups judge alone.
		return nil
	}
	lastLog := time.Now()
	for {
		wrong := s.chordRingWrong()
		if wrong == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("compare: Chord ring not converged after %v: %d nodes with a wrong successor", s.cfg.WarmupMax, wrong)
		}
		if time.Since(lastLog) > 5*time.Second {
			lastLog = time.Now()
			log.Info("waiting for the Chord ring", "wrong_successors", wrong)
		}
		if err := sleepCtx(ctx, time.Second); err != nil {
			return err
		}
	}
}

// chordRingWrong counts the live nodes whose Chord successor is not the oracle's.
func (s *simNet) chordRingWrong() int {
	s.oracle.mu.Lock()
	ring := slices.Clone(s.oracle.sorted())
	s.oracle.mu.Unlock()
	wrong := 0
	for i, e := range ring {
		s.mu.RLock()
		nd := s.live[e.id]
		s.mu.RUnlock()
		if nd == nil {
			wrong++
			continue
		}
		r, ok := nd.routers[ProtoChord].(interface{ Successor() peer.ID })
		if !ok || r.Successor() != ring[(i+1)%len(ring)].id {
			wrong++
		}
	}
	return wrong
}

// syncAfter is how long warm-up lets gossip converge by itself before it starts
// push/pull exchanges for the nodes whose views are still incomplete.
const syncAfter = 10 * time.Second

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type churnStats struct{ departures, joinFailures int }

// runChurn plays the schedule: at each event the slot's node crashes and its next
// incarnation starts joining at once (in the background, so that slow joins don't
// delay the schedule).
func (s *simNet) runChurn(ctx context.Context, events []ChurnEvent) churnStats {
	var st churnStats
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for _, ev := range events {
		if err := sleepCtx(ctx, time.Until(start.Add(ev.At))); err != nil {
			break
		}
		wg.Go(func() {
			s.slotMu[ev.Slot].Lock()
			defer s.slotMu[ev.Slot].Unlock()
			if ctx.Err() != nil {
				return
			}
			if s.killNode(ev.Slot) == nil {
				return
			}
			_, err := s.startNode(ctx, ev.Slot)
			mu.Lock()
			st.departures++
			if err != nil {
				st.joinFailures++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return st
}

// runLookups runs every spec on every protocol; paced by spec.At when paced.
func (s *simNet) runLookups(ctx context.Context, specs []LookupSpec, paced bool) map[string][]lookupResult {
	results := make(map[string][]lookupResult, len(s.specs))
	for _, spec := range s.specs {
		results[spec.name] = make([]lookupResult, len(specs))
	}
	// skipped lookups (a liar's, Config.Byzantine) leave no result, not a failed one.
	skipped := make([]bool, len(specs))
	defer func() {
		for name, rs := range results {
			kept := rs[:0]
			for i, r := range rs {
				if !skipped[i] {
					kept = append(kept, r)
				}
			}
			results[name] = kept
		}
	}()
	sem := make(chan struct{}, s.cfg.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i, ls := range specs {
		if paced {
			if err := sleepCtx(ctx, time.Until(start.Add(ls.At))); err != nil {
				break
			}
		}
		// The originator: the slot's node, or the next slot's while it is replaced.
		var nd *simNode
		for j := 0; j < s.n && nd == nil; j++ {
			nd = s.node((ls.Slot + j) % s.n)
		}
		if nd == nil {
			continue
		}
		if s.skipByzantine(nd, ls.Key) {
			skipped[i] = true
			continue
		}
		for _, spec := range s.specs {
			want := s.oracleAnswer(spec, ls.Key)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				wg.Wait()
				return results
			}
			wg.Go(func() {
				defer func() { <-sem }()
				results[spec.name][i] = s.lookupOne(ctx, nd, spec, ls.Key, want)
				if s.onLookup != nil {
					s.onLookup()
				}
			})
		}
	}
	wg.Wait()
	return results
}

func (s *simNet) oracleAnswer(spec protocolSpec, key routing.Key) peer.ID {
	if spec.metric == metricXOR {
		return s.oracle.ClosestXOR(spec.target(key))
	}
	return s.oracle.Successor(key)
}

func (s *simNet) lookupOne(ctx context.Context, nd *simNode, spec protocolSpec, key routing.Key, want peer.ID) lookupResult {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	owners, tr, err := nd.routers[spec.name].Lookup(lctx, key)
	r := lookupResult{hops: tr.Hops, rpcs: tr.RPCs, timeouts: tr.Timeouts}
	if len(owners) > 0 {
		r.owner = owners[0].ID
	}
	switch {
	case err != nil:
		r.err = err.Error()
	case len(owners) == 0:
		r.err = "no owner returned"
	case owners[0].ID != want && !s.oracle.IsLive(owners[0].ID):
		r.err = "wrong owner: a departed node"
	case owners[0].ID != want:
		r.err = "wrong owner: a live node"
	default:
		r.ok = true
	}
	r.latency = s.modelLatency(nd.id, tr)
	return r
}

// modelLatency is a lookup's latency under the model: the RTT from the querier to
// every node on the referral chain that answered, plus TimeoutPenalty for every
// request on the chain that timed out or failed. Chord and one-hop contact the chain
// one node after another and list failed requests in Trace.Path, so this is their
// critical path. Kademlia sends α requests in parallel and its path lists only the
// referrals that led to the answer: a timed-out request off that chain overlaps with
// useful ones and is not charged (it still counts in timeouts per lookup).
func (s *simNet) modelLatency(from peer.ID, tr routing.Trace) time.Duration {
	src, _ := s.coord(from)
	var d time.Duration
	for _, h := range tr.Path {
		if h.Error != "" {
			d += s.cfg.TimeoutPenalty
			continue
		}
		c, ok := s.coord(h.Peer)
		if !ok {
			d += KingMedianRTT
			continue
		}
		d += s.model.RTT(src, c)
	}
	return d
}

type netTraffic struct {
	protocols map[string]trafficSnapshot
	gossip    trafficSnapshot
}

func (a trafficSnapshot) minus(b trafficSnapshot) trafficSnapshot {
	return trafficSnapshot{msgs: a.msgs - b.msgs, bytes: a.bytes - b.bytes}
}

func (s *simNet) trafficSnapshot() netTraffic {
	t := netTraffic{protocols: make(map[string]trafficSnapshot)}
	for name, c := range s.traffic {
		t.protocols[name] = c.snapshot()
	}
	if s.mem != nil {
		g := s.mem.TotalTraffic()
		t.gossip = trafficSnapshot{msgs: g.PacketsSent + g.StreamsOpened, bytes: g.BytesSent}
	}
	return t
}

// tableEntries is the mean routing-state size per live node, per protocol.
func (s *simNet) tableEntries() map[string]float64 {
	out := make(map[string]float64)
	nodes := s.liveNodes()
	for _, spec := range s.specs {
		total := 0
		for _, nd := range nodes {
			total += nd.routers[spec.name].RoutingTable().Entries()
		}
		if len(nodes) > 0 {
			out[spec.name] = float64(total) / float64(len(nodes))
		}
	}
	return out
}

// peakRSS reads the process's peak resident set size (VmHWM) from /proc; 0 elsewhere.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseUint(f[0], 10, 64)
				if err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}
