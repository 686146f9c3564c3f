package chord_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/chord"
	"github.com/dhtnode/dhtnode/chord/chordtest"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/dhtnode/dhtnode/setting"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
)

// logRecords is a slog handler that keeps every record, for tests that check what a
// node logged.
type logRecords struct {
	mu   sync.Mutex
	recs []slog.Record
}

type recordHandler struct {
	l     *logRecords
	attrs []slog.Attr
}

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.l.mu.Lock()
	h.l.recs = append(h.l.recs, r)
	h.l.mu.Unlock()
	return nil
}

func (h recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return recordHandler{l: h.l, attrs: append(slices.Clone(h.attrs), as...)}
}

func (h recordHandler) WithGroup(string) slog.Handler { return h }

// find returns the attributes of the first record with message msg whose "peer"
// attribute is id, or nil.
func (l *logRecords) find(msg string, id peer.ID) map[string]slog.Value {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.Message != msg {
			continue
		}
		attrs := map[string]slog.Value{}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
		if p, ok := attrs["peer"]; ok && p.String() == id.String() {
			return attrs
		}
	}
	return nil
}

// gathered returns the samples of the metric family name in reg, each as its labels.
func gathered(t *testing.T, reg *prometheus.Registry, name string) (samples []map[string]string, values []float64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			samples = append(samples, labels)
			values = append(values, m.GetCounter().GetValue())
		}
	}
	return samples, values
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	_, values := gathered(t, reg, name)
	var sum float64
	for _, v := range values {
		sum += v
	}
	return sum
}

func inTables(c *chord.Chord, id peer.ID) bool {
	for _, s := range c.RoutingTable().Sections {
		for _, e := range s.Entries {
			if e.Peer == id {
				return true
			}
		}
	}
	return false
}

// TestLieCountedLoggedAndBanned: a member answering stabilization with invented
// neighbours is caught by its predecessor, which stabilizes with it every round. The
// predecessor counts each lie in dhtnode_chord_lies_detected_total by kind (no peer
// label: attackers choose peer IDs), logs a warning naming the liar, and after
// repeated lies drops it from its fingers, successors and predecessor for LiarBan,
// logging until when. During the ban the liar stays out of the tables and is not even
// asked (no new lies); after it, the liar is taken back (it is a member, and honest
// neighbours name it): seen in the tables, or banned a second time, which takes lies
// only a peer back in the tables can tell (it lies again at once, so on fake time the
// second ban comes in the same instant as its return).
func TestLieCountedLoggedAndBanned(t *testing.T) {
	bubble(t, func(t *testing.T) {
		cfg := clusterConfig()
		cfg.LiarBan = setting.Duration(60 * cfg.StabilizeInterval.Std())
		// Chord judges a named non-member 10 rounds later (it may be a member gossip
		// has not announced yet), so lies it suspected before the ban still land in
		// its first rounds.
		lieGrace := 10 * cfg.StabilizeInterval.Std()
		const nodes = 6
		var regs [nodes]*prometheus.Registry
		var logs [nodes]*logRecords
		c := chordtest.New(chordtest.Options{Config: cfg, Gossip: true, Members: true, Seed: 5,
			PerNode: func(i int, cfg *chord.Config) {
				regs[i], logs[i] = prometheus.NewRegistry(), &logRecords{}
				cfg.Registerer, cfg.Logger = regs[i], slog.New(recordHandler{l: logs[i]})
			}})
		t.Cleanup(func() { _ = c.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		holes, err := c.BlackHoles(4)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx, nodes-1); err != nil {
			t.Fatal(err)
		}
		liar, err := c.AddAdversary(ctx, chord.Lies{FakeNeighbours: true}, holes)
		if err != nil {
			t.Fatal(err)
		}
		// The liar's predecessor is the node that asks it for neighbours.
		var a *chordtest.Node
		for _, n := range honestNodes(c) {
			if a == nil || routing.RingDistance(n.Key, liar.Key).Cmp(routing.RingDistance(a.Key, liar.Key)) < 0 {
				a = n
			}
		}
		t.Logf("liar %s, its predecessor %s (node %d)", liar.Key.Short(), a.Key.Short(), a.Index)
		reg, log := regs[a.Index], logs[a.Index]
		const bans = "dhtnode_chord_liar_bans_total"

		for counterSum(t, reg, bans) < 1 {
			if ctx.Err() != nil {
				t.Fatalf("the liar's predecessor never banned it; lies %d", a.Chord.LiesDetected())
			}
			time.Sleep(cfg.StabilizeInterval.Std() / 10)
		}
		samples, values := gathered(t, reg, "dhtnode_chord_lies_detected_total")
		var nonMember, total float64
		for i, l := range samples {
			if _, ok := l["peer"]; ok {
				t.Errorf("lie metric has a peer label: %v", l)
			}
			if l["kind"] == "non_member" {
				nonMember = values[i]
			}
			total += values[i]
		}
		if nonMember < 3 {
			t.Errorf("lies{kind=non_member} = %v, want at least the 3 that earn a ban; samples %v %v", nonMember, samples, values)
		}
		if uint64(total) != a.Chord.LiesDetected() {
			t.Errorf("lie metric sums to %v, LiesDetected %d", total, a.Chord.LiesDetected())
		}
		if lied := log.find("chord peer lied", liar.ID); lied == nil {
			t.Error("no log line naming the liar")
		} else if lied["kind"].String() != "non_member" {
			t.Errorf("lie logged as kind %v", lied["kind"])
		}
		banned := log.find("chord peer dropped from the tables for lying", liar.ID)
		if banned == nil {
			t.Fatal("no log line naming the banned liar")
		}
		until := banned["until"].Time()
		if d := time.Until(until); d <= 0 || d > cfg.LiarBan.Std() {
			t.Fatalf("ban logged until %v, %v from now; want within LiarBan %v", until, d, cfg.LiarBan.Std())
		}

		// Rounds may run late on a loaded machine: leave ten for the last suspicions.
		settled := until.Add(-cfg.LiarBan.Std()).Add(lieGrace + 10*cfg.StabilizeInterval.Std())
		var lies uint64
		checks := 0
		for time.Now().Before(until.Add(-cfg.StabilizeInterval.Std())) {
			if inTables(a.Chord, liar.ID) {
				t.Fatalf("banned liar back in the tables %v before the ban ends: %+v", time.Until(until), a.Chord.RoutingTable())
			}
			if time.Now().After(settled) {
				if lies == 0 {
					lies = a.Chord.LiesDetected()
				} else if got := a.Chord.LiesDetected(); got != lies {
					t.Fatalf("banned liar was asked again: lies %d -> %d", lies, got)
				}
				checks++
			}
			time.Sleep(cfg.StabilizeInterval.Std() / 4)
		}
		if checks < 10 {
			t.Fatalf("only %d checks during the ban", checks)
		}

		for !inTables(a.Chord, liar.ID) && counterSum(t, reg, bans) < 2 {
			if ctx.Err() != nil {
				t.Fatalf("the liar never came back after its ban: %+v", a.Chord.RoutingTable())
			}
			time.Sleep(cfg.StabilizeInterval.Std() / 10)
		}
		t.Logf("%d lies, banned until %v; %d checks during the ban; back after it: in the tables %v, bans %v",
			lies, until.Format(time.TimeOnly), checks, inTables(a.Chord, liar.ID), counterSum(t, reg, bans))
	})
}
