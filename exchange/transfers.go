package exchange

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Piece states in Transfer.Pieces, one byte per piece.
const (
	PieceHeld     = 'h' // verified (in the store or the output)
	PieceInFlight = 'f' // requested from at least one peer, not yet verified
	PieceMissing  = '.' // neither held nor requested
)

// Peer states in TransferPeer.State.
const (
	PeerActive  = "active"  // has requests in flight
	PeerIdle    = "idle"    // usable, but has nothing we still need or no free request slot
	PeerStalled = "stalled" // dropped: it stopped answering within the stall timeout
	PeerBanned  = "banned"  // sent pieces that failed verification
	PeerDropped = "dropped" // left the download for another reason (unreachable, protocol error)
)

// Transfer is a read-only snapshot of one download in progress, for a UI: which pieces are
// held, in flight or missing, and what every provider is doing.
type Transfer struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Total       int64         `json:"total"`        // bytes of the whole content
	Bytes       int64         `json:"bytes"`        // verified bytes written so far
	PiecesDone  int           `json:"pieces_done"`  // pieces written
	TotalPieces int           `json:"total_pieces"` // pieces of the whole content
	Resumed     int           `json:"resumed"`      // pieces found in the store at the start
	Elapsed     time.Duration `json:"elapsed_ns"`
	// Pieces has one byte per piece: PieceHeld, PieceInFlight or PieceMissing.
	Pieces string         `json:"pieces"`
	Peers  []TransferPeer `json:"peers"`
}

// TransferPeer is what one download knows about one provider.
type TransferPeer struct {
	PeerID string `json:"peer_id"`
	// State is one of PeerActive, PeerIdle, PeerStalled, PeerBanned, PeerDropped.
	State string `json:"state"`
	// Reason says why the peer is in that state (the error that made it leave, or why
	// an idle peer gets no requests).
	Reason   string  `json:"reason,omitempty"`
	Rate     float64 `json:"rate"`   // bytes/s, exponentially weighted
	Bytes    int64   `json:"bytes"`  // verified bytes received from it
	Pieces   int     `json:"pieces"` // verified pieces received from it
	InFlight int     `json:"in_flight"`
	Window   int     `json:"window"` // how many requests it may have in flight
	Bad      int     `json:"bad"`    // pieces from it that failed verification
}

// Transfers returns a snapshot of every download in progress, oldest first. It takes each
// download's lock only long enough to copy its state, so it is cheap to poll.
func (x *Exchange) Transfers() []Transfer {
	x.mu.Lock()
	type started struct {
		d     *download
		start time.Time
	}
	list := make([]started, 0, len(x.active))
	for d, t := range x.active {
		list = append(list, started{d, t})
	}
	x.mu.Unlock()
	slices.SortFunc(list, func(a, b started) int { return a.start.Compare(b.start) })
	out := make([]Transfer, 0, len(list))
	for _, s := range list {
		out = append(out, s.d.snapshot(s.start))
	}
	return out
}

func (x *Exchange) track(d *download, start time.Time) {
	x.mu.Lock()
	if x.active == nil {
		x.active = make(map[*download]time.Time)
	}
	x.active[d] = start
	x.mu.Unlock()
}

func (x *Exchange) untrack(d *download) {
	x.mu.Lock()
	delete(x.active, d)
	x.mu.Unlock()
}

func (d *download) snapshot(start time.Time) Transfer {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.sw
	t := Transfer{
		ID:          d.p.id.String(),
		Name:        d.p.name,
		Total:       d.p.size,
		Bytes:       d.bytes,
		PiecesDone:  d.written,
		TotalPieces: s.n,
		Resumed:     d.resumed,
		Elapsed:     time.Since(start),
		Peers:       []TransferPeer{},
	}
	pieces := make([]byte, s.n)
	for i := range pieces {
		switch {
		case s.done.Has(i):
			pieces[i] = PieceHeld
		case len(s.asked[i]) > 0:
			pieces[i] = PieceInFlight
		default:
			pieces[i] = PieceMissing
		}
	}
	t.Pieces = string(pieces)
	for id, ps := range s.peers {
		tp := TransferPeer{PeerID: id.String(), Rate: ps.rate, Bytes: ps.bytes, Pieces: ps.pieces,
			InFlight: len(ps.inflight), Window: ps.window, Bad: ps.bad}
		tp.State, tp.Reason = describePeer(ps, d.peerErrs[id], s)
		t.Peers = append(t.Peers, tp)
	}
	// Providers that never got a session (unreachable, banned before the start).
	for id, err := range d.peerErrs {
		if _, ok := s.peers[id]; ok {
			continue
		}
		state := PeerDropped
		if errors.Is(err, ErrVerification) {
			state = PeerBanned
		}
		t.Peers = append(t.Peers, TransferPeer{PeerID: id.String(), State: state, Reason: err.Error()})
	}
	slices.SortFunc(t.Peers, func(a, b TransferPeer) int { return strings.Compare(a.PeerID, b.PeerID) })
	return t
}

// describePeer names what a provider is doing in the download and why. s is held locked.
func describePeer(ps *peerState, err error, s *swarm) (string, string) {
	switch {
	case ps.banned:
		reason := "sent pieces that failed verification"
		if err != nil {
			reason = err.Error()
		}
		return PeerBanned, reason
	case ps.dropped && errors.Is(err, errStall):
		return PeerStalled, err.Error()
	case ps.dropped:
		reason := "left the download"
		if err != nil {
			reason = err.Error()
		}
		return PeerDropped, reason
	case len(ps.inflight) > 0:
		return PeerActive, ""
	}
	for i := range s.n {
		if !s.done.Has(i) && len(s.asked[i]) == 0 && ps.has(i) {
			return PeerIdle, "waiting for a free request slot"
		}
	}
	if s.complete() {
		return PeerIdle, "nothing left to fetch"
	}
	return PeerIdle, "holds none of the pieces still missing"
}
