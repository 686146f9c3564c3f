package exchange

import (
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/content"
)

func testSwarm(n int) *swarm {
	cfg := DefaultConfig()
	cfg.Window, cfg.MaxWindow = 2, 8
	return newSwarm(n, func(int) int { return 1000 }, cfg)
}

func full(n int) *content.Bitfield {
	b := content.NewBitfield(n)
	for i := 0; i < n; i++ {
		b.Set(i)
	}
	return b
}

func pickAll(s *swarm, p *peerState, now time.Time) []int {
	var out []int
	for {
		i := s.pick(p, now)
		if i < 0 {
			return out
		}
		out = append(out, i)
	}
}

func TestSwarmPicksInOrderWithinWindow(t *testing.T) {
	now := time.Unix(0, 0)
	s := testSwarm(6)
	s.markDone(1)
	a := s.addPeer("a", full(6), now)
	b := s.addPeer("b", full(6), now)
	if got := pickAll(s, a, now); len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Fatalf("a picked %v", got)
	}
	if got := pickAll(s, b, now); len(got) != 2 || got[0] != 3 || got[1] != 4 {
		t.Fatalf("b picked %v", got)
	}
}

func TestSwarmRespectsHave(t *testing.T) {
	now := time.Unix(0, 0)
	s := testSwarm(4)
	have := content.NewBitfield(4)
	have.Set(3)
	p := s.addPeer("p", have, now)
	if got := pickAll(s, p, now); len(got) != 1 || got[0] != 3 {
		t.Fatalf("picked %v", got)
	}
	// still pieces unrequested (0..2) that p lacks: no endgame duplicates for p
	s.delivered(p, s.pop(p), 1000, now)
	if got := pickAll(s, p, now); len(got) != 0 {
		t.Fatalf("picked %v", got)
	}
}

func TestSwarmEndgameDuplicatesOnlyLatePieces(t *testing.T) {
	now := time.Unix(0, 0)
	s := testSwarm(3)
	a := s.addPeer("a", full(3), now)
	b := s.addPeer("b", full(3), now)
	c := s.addPeer("c", full(3), now)
	pickAll(s, a, now) // 0,1
	pickAll(s, b, now) // 2
	if len(b.inflight) != 1 {
		t.Fatalf("b duplicated a piece a just asked for: %v", b.inflight)
	}
	// a stays silent: its pieces are late, and idle slots elsewhere take them, at most
	// twice per piece.
	later := now.Add(time.Second)
	pickAll(s, b, later)
	got := pickAll(s, c, later)
	if len(b.inflight) != 2 || len(got) == 0 {
		t.Fatalf("late pieces not duplicated: b %v, c %v", b.inflight, got)
	}
	for i, who := range s.asked {
		if len(who) > s.maxDup {
			t.Fatalf("piece %d asked from %d peers", i, len(who))
		}
	}
	// Delivery from one makes the other's copy a duplicate.
	i := s.pop(a)
	if !s.delivered(a, i, 1000, later) {
		t.Fatal("first delivery not new")
	}
	for _, p := range []*peerState{b, c} {
		for len(p.inflight) > 0 && s.head(p) != i {
			s.pop(p)
		}
		if len(p.inflight) > 0 {
			s.pop(p)
			if s.delivered(p, i, 1000, later) {
				t.Fatal("duplicate counted as new")
			}
		}
	}
}

func TestSwarmEndgameLeavesHealthyQueuesAlone(t *testing.T) {
	now := time.Unix(0, 0)
	cfg := DefaultConfig()
	cfg.Window, cfg.MaxWindow = 4, 4
	s := newSwarm(8, func(int) int { return 1 << 20 }, cfg)
	fast := s.addPeer("fast", full(8), now)
	slow := s.addPeer("slow", full(8), now)
	fast.rate, slow.rate = 100e6, 100e6 // both ~10 ms a piece
	pickAll(s, fast, now)
	pickAll(s, slow, now)
	for len(fast.inflight) > 0 {
		s.delivered(fast, s.pop(fast), 1<<20, now)
	}
	if got := pickAll(s, fast, now); len(got) != 0 {
		t.Fatalf("duplicated a healthy peer's short queue: %v", got)
	}
	slow.rate = 1e6 // 1 s a piece: its queue of 4 takes 4 s
	if got := pickAll(s, fast, now); len(got) == 0 {
		t.Fatal("a slow peer's backlog was not duplicated")
	}
}

func TestSwarmBansAfterMaxBadAndReleases(t *testing.T) {
	now := time.Unix(0, 0)
	s := testSwarm(10)
	bad := s.addPeer("bad", full(10), now)
	for k := 1; k <= s.maxBad; k++ {
		pickAll(s, bad, now)
		s.pop(bad)
		banned := s.corrupt(bad, now)
		if banned != (k == s.maxBad) {
			t.Fatalf("strike %d: banned=%v", k, banned)
		}
	}
	if len(bad.inflight) != 0 || len(s.asked) != 0 {
		t.Fatal("banned peer still holds requests")
	}
	if s.pick(bad, now) >= 0 {
		t.Fatal("banned peer picked")
	}
	good := s.addPeer("good", full(10), now)
	if s.pick(good, now) != 0 {
		t.Fatal("released pieces not offered again from the start")
	}
}

func TestSwarmDropReleasesRequests(t *testing.T) {
	now := time.Unix(0, 0)
	s := testSwarm(4)
	p := s.addPeer("p", full(4), now)
	q := s.addPeer("q", full(4), now)
	pickAll(s, p, now)
	s.drop(p)
	if got := pickAll(s, q, now); len(got) != 2 || got[0] != 0 {
		t.Fatalf("q picked %v after p dropped", got)
	}
	if s.live() != 1 {
		t.Fatal("live count")
	}
}

func TestSwarmWindowGrowsWithRate(t *testing.T) {
	now := time.Unix(0, 0)
	s := testSwarm(1000)
	fast := s.addPeer("fast", full(1000), now)
	slow := s.addPeer("slow", full(1000), now)
	for k := 1; k <= 3000; k++ {
		s.account(fast, 1000, now.Add(time.Duration(k)*time.Millisecond)) // 1 MB/s
	}
	for k := 1; k <= 30; k++ {
		s.account(slow, 1000, now.Add(time.Duration(k)*100*time.Millisecond)) // 10 kB/s
	}
	if fast.rate < 0.9e6 || fast.rate > 1.1e6 || slow.rate < 9e3 || slow.rate > 11e3 {
		t.Fatalf("rates fast=%.0f slow=%.0f", fast.rate, slow.rate)
	}
	if fast.window <= slow.window || fast.window != s.maxWindow || slow.window != s.minWindow {
		t.Fatalf("windows fast=%d slow=%d", fast.window, slow.window)
	}
}

func TestSwarmMissingClearsHave(t *testing.T) {
	now := time.Unix(0, 0)
	s := testSwarm(3)
	p := s.addPeer("p", full(3), now)
	i := s.pick(p, now)
	s.pop(p)
	s.missing(p, i, now)
	if p.has(i) || !p.has(1) {
		t.Fatal("missing did not clear just that piece")
	}
}

func TestSwarmCapsBytesInFlight(t *testing.T) {
	now := time.Unix(0, 0)
	cfg := DefaultConfig()
	cfg.Window, cfg.MaxWindow = 8, 8
	cfg.MaxInflightBytes = 3000
	s := newSwarm(20, func(int) int { return 1000 }, cfg)
	a := s.addPeer("a", full(20), now)
	b := s.addPeer("b", full(20), now)
	c := s.addPeer("c", full(20), now)
	if got := pickAll(s, a, now); len(got) != 3 {
		t.Fatalf("a picked %v under a 3-piece cap", got)
	}
	// Every peer still gets one request, so none starves for good.
	if got := pickAll(s, b, now); len(got) != 1 {
		t.Fatalf("b picked %v", got)
	}
	if !s.takeStarved() || s.takeStarved() {
		t.Fatal("starved flag not set once")
	}
	s.delivered(a, s.pop(a), 1000, now)
	s.delivered(a, s.pop(a), 1000, now)
	if got := pickAll(s, c, now); len(got) != 1 {
		t.Fatalf("c picked %v at the cap", got)
	}
	if s.inflightBytes != 3000 {
		t.Fatalf("in flight %d", s.inflightBytes)
	}
	s.drop(a)
	s.drop(b)
	s.drop(c)
	if s.inflightBytes != 0 {
		t.Fatalf("in flight %d after every peer left", s.inflightBytes)
	}
}
