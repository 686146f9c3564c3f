package exchange

import (
	"strings"
	"testing"
	"time"
)

// A download in progress is listed by Transfers with a pieces map that fills, its
// providers and their states; a finished one is no longer listed.
func TestTransfersSnapshotDuringDownload(t *testing.T) {
	nodes := newTestNodes(t, 3, func(i int, cfg *Config, s *memStore) Store {
		if i == 2 {
			cfg.MaxRate = 2 << 20 // about a second for 2 MiB: time to watch it
		}
		return nil
	})
	data := randomBytes(2<<20, 3)
	id := addFile(t, nodes[0].store, "watched", data, 64<<10)
	addFile(t, nodes[1].store, "watched", data, 64<<10)
	done := make(chan error, 1)
	go func() {
		_, err := nodes[2].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[:2]...)})
		done <- err
	}()
	var seen []Transfer
	deadline := time.After(60 * time.Second)
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		case <-deadline:
			t.Fatal("download did not finish")
		case <-time.After(20 * time.Millisecond):
			if ts := nodes[2].x.Transfers(); len(ts) == 1 {
				seen = append(seen, ts[0])
			}
		}
	}
	if len(seen) < 2 {
		t.Fatalf("saw the transfer %d times, want several", len(seen))
	}
	first, last := seen[0], seen[len(seen)-1]
	if first.ID != id.String() || first.TotalPieces != 32 || len(first.Pieces) != 32 {
		t.Fatalf("snapshot %+v does not describe the download", first)
	}
	held := func(tr Transfer) int { return strings.Count(tr.Pieces, string(rune(PieceHeld))) }
	if held(last) <= held(first) {
		t.Fatalf("pieces map did not fill: %q then %q", first.Pieces, last.Pieces)
	}
	if len(last.Peers) != 2 {
		t.Fatalf("peers %+v, want both providers", last.Peers)
	}
	for _, p := range last.Peers {
		if p.State != PeerActive && p.State != PeerIdle {
			t.Fatalf("peer %s is %s (%s), want active or idle", p.PeerID, p.State, p.Reason)
		}
	}
	if ts := nodes[2].x.Transfers(); len(ts) != 0 {
		t.Fatalf("finished download still listed: %+v", ts)
	}
}
