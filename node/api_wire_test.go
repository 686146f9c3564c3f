package node

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/exchange"
)

// The API's progress and transfer types are the client's own; these tests keep their
// JSON byte-for-byte what the daemon sent when it encoded exchange's types directly, so
// older clients and the web UI read them unchanged.

func TestGetProgressWireUnchanged(t *testing.T) {
	p := exchange.Progress{ID: "bagaaiera", Name: "a.bin", Bytes: 1, Total: 2, Pieces: 3, TotalPieces: 4, Resumed: 5,
		Rate: 6.5, Peers: 7, Elapsed: 8 * time.Second, Done: true}
	sameJSON(t, p, getProgress(p))
}

func TestTransferWireUnchanged(t *testing.T) {
	ts := []exchange.Transfer{{ID: "bagaaiera", Name: "a.bin", Total: 1, Bytes: 2, PiecesDone: 3, TotalPieces: 4, Resumed: 5,
		Elapsed: time.Second, Pieces: "hf.", Peers: []exchange.TransferPeer{{PeerID: "12D3", State: exchange.PeerIdle,
			Reason: "why", Rate: 1.5, Bytes: 2, Pieces: 3, InFlight: 4, Window: 5, Bad: 6}, {PeerID: "12D4", State: exchange.PeerActive}}}}
	sameJSON(t, ts, transfers(ts))
}

func sameJSON(t *testing.T, want, got any) {
	t.Helper()
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(w) != string(g) {
		t.Fatalf("wire form changed:\n got %s\nwant %s", g, w)
	}
}

// TestTransferStatesAgree keeps the client's names for piece and peer states the ones
// the exchange writes.
func TestTransferStatesAgree(t *testing.T) {
	if client.PieceHeld != exchange.PieceHeld || client.PieceInFlight != exchange.PieceInFlight || client.PieceMissing != exchange.PieceMissing {
		t.Error("piece states differ between client and exchange")
	}
	for _, s := range [][2]string{{client.PeerActive, exchange.PeerActive}, {client.PeerIdle, exchange.PeerIdle},
		{client.PeerStalled, exchange.PeerStalled}, {client.PeerBanned, exchange.PeerBanned}, {client.PeerDropped, exchange.PeerDropped}} {
		if s[0] != s[1] {
			t.Errorf("peer state %q in client, %q in exchange", s[0], s[1])
		}
	}
}
