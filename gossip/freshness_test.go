package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// countingHandler counts warn records.
type countingHandler struct {
	mu    sync.Mutex
	warns int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn {
		h.mu.Lock()
		h.warns++
		h.mu.Unlock()
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.warns
}

// A replaying rogue sends the same refused message many times a second; each
// one is counted, but the log gets one warning per member and reason per
// refusalLogEvery, and the rate-limit memory stays bounded under many names.
func TestRefusalCountedEveryTimeLoggedOncePerWhile(t *testing.T) {
	bubble(t, func(t *testing.T) {
		h := &countingHandler{}
		reg := prometheus.NewRegistry()
		g := memNode(t, NewMemNetwork(), 0, func(c *Config) { c.Logger, c.Registerer = slog.New(h), reg })
		defer shutdownAll([]*Gossip{g})
		base := h.count()
		n := &memberlist.Node{Name: "victim", Addr: net.ParseIP("10.6.6.6"), Port: 7946}
		replay := fmt.Errorf("%w: test", ErrAnnouncedElsewhere)
		for range 100 {
			g.refuse(n, replay, "alive message")
		}
		g.refuse(n, fmt.Errorf("%w: test", ErrStaleMeta), "alive message")
		if got := h.count() - base; got != 2 {
			t.Fatalf("%d warnings for 100 replays from elsewhere and one stale record, want 2", got)
		}
		if c := refusedCount(t, reg, refusedAddress); c != 100 {
			t.Fatalf("counted %v address refusals, want 100", c)
		}
		time.Sleep(refusalLogEvery)
		g.refuse(n, replay, "alive message")
		if got := h.count() - base; got != 3 {
			t.Fatalf("%d warnings after %v, want 3", got, refusalLogEvery)
		}
		for i := range 3 * maxRefusalLog {
			g.refuse(&memberlist.Node{Name: fmt.Sprint("sybil-", i), Addr: n.Addr, Port: n.Port}, replay, "alive message")
		}
		g.mu.Lock()
		size := len(g.refusalLog)
		g.mu.Unlock()
		if size > maxRefusalLog {
			t.Fatalf("refusal log remembers %d names, bound is %d", size, maxRefusalLog)
		}
	})
}

// Freshness floors outlive the member record (a forgotten member's old record
// stays refused) but are bounded: beyond maxForgotten the oldest go first.
func TestForgottenFloorsBounded(t *testing.T) {
	bubble(t, func(t *testing.T) {
		g := memNode(t, NewMemNetwork(), 0, nil)
		defer shutdownAll([]*Gossip{g})
		g.mu.Lock()
		for i := range maxForgotten + 10 {
			name := fmt.Sprint("m", i)
			g.members[name] = &memberRecord{Member: Member{Name: name}, issued: uint64(1000 + i)}
			g.forgetLocked(name)
			delete(g.members, name)
		}
		size, oldest, newest := len(g.forgotten), g.minIssuedLocked("m0"), g.minIssuedLocked(fmt.Sprint("m", maxForgotten+9))
		g.mu.Unlock()
		if size != maxForgotten || oldest != 0 || newest != uint64(1000+maxForgotten+9) {
			t.Fatalf("size %d, floor of the oldest %d, of the newest %d", size, oldest, newest)
		}
	})
}

func TestRefusalReasons(t *testing.T) {
	for err, want := range map[error]string{
		fmt.Errorf("%w: x", ErrMalformedMeta):                  refusedMalformed,
		fmt.Errorf("%w: %w", ErrMalformedMeta, ErrMetaVersion): refusedFormat,
		fmt.Errorf("%w: x", ErrMetaSignature):                  refusedSignature,
		fmt.Errorf("%w: x", ErrAnnouncedElsewhere):             refusedAddress,
		fmt.Errorf("%w: x", ErrStaleMeta):                      refusedStale,
		errors.New("other"):                                    refusedMalformed,
	} {
		if got := refusalReason(err); got != want {
			t.Errorf("%v: reason %s, want %s", err, got, want)
		}
	}
}

// BenchmarkVetAlive is the cost of checking one repeat of a member's alive
// message (the common case: cached signature, address and freshness checks).
func BenchmarkVetAlive(b *testing.B) {
	g := memNode(b, NewMemNetwork(), 0, nil)
	defer g.Shutdown()
	key := newKey(b)
	meta, err := SignMeta("m", key, testGossipAddr, uint64(time.Now().UnixNano()), testAddrs(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	n := &memberlist.Node{Name: "m", Addr: testGossipAddr.Addr().AsSlice(), Port: testGossipAddr.Port(), Meta: meta}
	if _, err := g.vetAlive(n); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := g.vetAlive(n); err != nil {
			b.Fatal(err)
		}
	}
}
