package exchange

import (
	"testing"
	"time"
)

func testSwarm(n int) *swarm {
	cfg := DefaultConfig()
	cfg.Window, cfg.MaxWindow = 2, 8
	return newSwarm(n, func(int) int { return 1000 }, cfg)
}

func full(n int) Bitfield {
	b := NewBitfield(n)
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
	have := NewBitfield(4)
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

func TestSwarmEndgameDuplicatesTailOnce(t *testing.T) {
	now := time.Unix(0, 0)
	s := testSwarm(3)
	a := s.addPeer("a", full(3), now)
	b := s.addPeer("b", full(3), now)
	c := s.addPeer("c", full(3), now)
	pickAll(s, a, now) // 0,1
	pickAll(s, b, now) // 2
	if len(b.inflight) != 2 {
		t.Fatalf("b should duplicate one piece in endgame: %v", b.inflight)
	}
	got := pickAll(s, c, now)
	for _, i := range got {
		if len(s.asked[i]) > s.maxDup {
			t.Fatalf("piece %d asked from %d peers", i, len(s.asked[i]))
		}
	}
	// Delivery from one makes the other's copy a duplicate.
	i := s.pop(a)
	if !s.delivered(a, i, 1000, now) {
		t.Fatal("first delivery not new")
	}
	for _, p := range []*peerState{b, c} {
		for len(p.inflight) > 0 && s.head(p) != i {
			s.pop(p)
		}
		if len(p.inflight) > 0 {
			s.pop(p)
			if s.delivered(p, i, 1000, now) {
				t.Fatal("duplicate counted as new")
			}
		}
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
	for k := 1; k <= 20; k++ {
		s.account(fast, 1000, now.Add(time.Duration(k)*time.Millisecond)) // 1 MB/s
		s.account(slow, 1000, now.Add(time.Duration(k)*100*time.Millisecond))
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
