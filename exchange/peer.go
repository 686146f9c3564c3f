package exchange

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// pending is one request on a session whose answer has not arrived.
type pending struct {
	have  bool
	index int
}

// peer drives one provider for the download: it keeps the peer's window of piece requests
// full, reads the answers in order, verifies and writes each piece, and leaves (releasing its
// requests to the others) when the peer stalls, misbehaves, is banned or the download ends.
// It is the only goroutine that touches its session.
func (d *download) peer(info peer.AddrInfo) {
	x := d.x
	log := d.log.With("peer", info.ID.String())
	ss, err := x.openSession(d.ctx, info, d.p.id)
	if err != nil {
		log.Info("provider unreachable", "err", err)
		d.setPeerErr(info.ID, err)
		return
	}
	// The stream is reset when the download ends so a blocked read returns at once.
	go func() {
		<-d.ctx.Done()
		ss.reset()
	}()
	defer ss.close()

	// Ask what the peer holds before asking for pieces.
	err = ss.queue(TypeHaveRequest, 0)
	if err == nil {
		err = ss.flush()
	}
	var m Message
	if err == nil {
		m, _, err = ss.read(x.cfg.StallTimeout)
	}
	if err == nil && m.Type == TypeError {
		err = &RemoteError{Peer: info.ID, Code: m.Code, Text: m.Text}
	} else if err == nil && (m.Type != TypeHave || m.Have.Len() != len(d.p.pieces)) {
		err = fmt.Errorf("peer %s: %w: bad answer to a have request", info.ID, ErrMalformed)
	}
	if err != nil {
		if d.ctx.Err() == nil {
			log.Info("provider failed", "err", err)
			d.setPeerErr(info.ID, err)
		}
		return
	}
	wake := make(chan struct{}, 1)
	d.mu.Lock()
	ps := d.sw.addPeer(info.ID, m.Have, time.Now())
	d.wakes[info.ID] = wake
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.wakes, info.ID)
		d.mu.Unlock()
	}()

	// A reader goroutine hands responses over, so this goroutine can write requests while
	// the peer is still sending: writing and reading on one goroutine deadlocks once both
	// directions' buffers are full.
	type response struct {
		m    Message
		body []byte
		err  error
	}
	resps := make(chan response, 4)
	readerDone := make(chan struct{})
	defer close(readerDone)
	ss.startWriter(readerDone, x.cfg.StallTimeout)
	go func() {
		for {
			m, body, err := ss.read(0)
			select {
			case resps <- response{m, body, err}:
			case <-readerDone:
				if body != nil {
					x.bufs.put(body)
				}
				return
			}
			if err != nil {
				return
			}
		}
	}()
	stall := time.NewTimer(x.cfg.StallTimeout)
	defer stall.Stop()

	var queue []pending
	lastHave := time.Now()
	lastRecv := time.Now()
	haveQueued := false
	var picks []int
	for {
		// Top up the window and decide whether to refresh the peer's have bitfield.
		now := time.Now()
		d.mu.Lock()
		if !ps.usable() || d.sw.complete() || d.ctx.Err() != nil {
			d.mu.Unlock()
			return
		}
		picks = picks[:0]
		for {
			i := d.sw.pick(ps, now)
			if i < 0 {
				break
			}
			picks = append(picks, i)
		}
		partial := ps.have.bits != nil
		d.mu.Unlock()
		if len(queue) == 0 {
			lastRecv = now // the stall clock runs only while we wait for answers
		}
		var werr error
		for _, i := range picks {
			queue = append(queue, pending{index: i})
			if werr == nil {
				werr = ss.queue(TypePieceRequest, uint32(i))
			}
		}
		if partial && !haveQueued && now.Sub(lastHave) >= x.cfg.HaveInterval {
			queue = append(queue, pending{have: true})
			haveQueued = true
			lastHave = now
			if werr == nil {
				werr = ss.queue(TypeHaveRequest, 0)
			}
		}
		if werr == nil {
			werr = ss.flush()
		}
		if werr != nil {
			if d.ctx.Err() == nil {
				log.Info("provider stream failed", "err", werr)
				ss.reset()
				d.leave(ps, fmt.Errorf("peer %s: %w", info.ID, werr))
			}
			return
		}

		// Wait for an answer, a wake-up (a piece released elsewhere), the next have refresh
		// of a peer still downloading, or the stall deadline.
		var refresh <-chan time.Time
		var refreshTimer *time.Timer
		switch {
		case partial && !haveQueued:
			refreshTimer = time.NewTimer(max(x.cfg.HaveInterval-now.Sub(lastHave), time.Millisecond))
		case len(queue) == 0:
			// Idle at the tail: look again soon, another peer may be late with a piece.
			refreshTimer = time.NewTimer(endgameSilence / 2)
		}
		if refreshTimer != nil {
			refresh = refreshTimer.C
		}
		var stallC <-chan time.Time
		if len(queue) > 0 {
			stall.Reset(max(x.cfg.StallTimeout-now.Sub(lastRecv), time.Millisecond))
			stallC = stall.C
		}
		var r response
		got := false
		select {
		case r = <-resps:
			got = true
		case <-wake:
		case <-refresh:
		case <-stallC:
			x.metrics.stalledPeers.Inc()
			log.Warn("provider stalled; fetching its pieces elsewhere", "timeout", x.cfg.StallTimeout)
			ss.reset()
			d.leave(ps, fmt.Errorf("peer %s: %w after %s", info.ID, errStall, x.cfg.StallTimeout))
			return
		case <-d.ctx.Done():
			return
		}
		if refreshTimer != nil {
			refreshTimer.Stop()
		}
		if !got {
			continue
		}
		m, body, err := r.m, r.body, r.err
		if err != nil {
			if d.ctx.Err() != nil {
				return
			}
			log.Info("provider stream failed", "err", err)
			ss.reset()
			d.leave(ps, err)
			return
		}
		lastRecv = time.Now()
		if len(queue) == 0 {
			d.protocolError(ss, ps, log, body, "sent an answer nobody asked for")
			return
		}
		head := queue[0]
		queue = queue[1:]
		if head.have {
			haveQueued = false
			switch {
			case m.Type == TypeHave && m.Have.Len() == len(d.p.pieces):
				d.mu.Lock()
				d.sw.setHave(info.ID, m.Have)
				d.mu.Unlock()
			case m.Type == TypeError:
			default:
				d.protocolError(ss, ps, log, body, "answered a have request with something else")
				return
			}
			continue
		}
		switch m.Type {
		case TypeError:
			d.mu.Lock()
			if d.sw.head(ps) == head.index {
				d.sw.pop(ps)
			}
			d.sw.missing(ps, head.index, time.Now())
			d.wakeAllLocked()
			d.mu.Unlock()
			continue
		case TypePiece:
			if int(m.Index) != head.index {
				d.protocolError(ss, ps, log, body, fmt.Sprintf("sent piece %d, expected %d", m.Index, head.index))
				return
			}
		default:
			d.protocolError(ss, ps, log, body, "answered a piece request with something else")
			return
		}
		if !d.deliver(ss, ps, log, head.index, m, body) {
			return
		}
		lastRecv = time.Now() // time spent verifying and queueing is ours, not the peer's
	}
}

// deliver verifies a piece and queues it for the writers. It takes ownership of body (the
// pooled buffer m.Data lives in). It reports whether the peer may go on.
func (d *download) deliver(ss *session, ps *peerState, log *slog.Logger, i int, m Message, body []byte) bool {
	x := d.x
	verr := d.p.verify(i, m.Data, m.Proof)
	now := time.Now()
	d.mu.Lock()
	if d.sw.head(ps) == i {
		d.sw.pop(ps)
	}
	if d.sw.takeStarved() {
		d.wakeAllLocked()
	}
	if verr != nil {
		banned := d.sw.corrupt(ps, now)
		bad := ps.bad
		d.wakeAllLocked()
		d.mu.Unlock()
		x.bufs.put(body)
		x.metrics.badPieces.Inc()
		log.Warn("provider sent a piece that failed verification", "piece", i, "strikes", bad, "err", verr)
		if banned {
			x.metrics.bannedPeers.Inc()
			why := fmt.Sprintf("%d pieces failed verification", bad)
			x.ban(ss.peer, why)
			log.Warn("banning provider", "reason", why)
			d.setPeerErr(ss.peer, fmt.Errorf("%w: peer %s sent %s", ErrVerification, ss.peer, why))
			ss.reset()
			return false
		}
		return true
	}
	isNew := d.sw.delivered(ps, i, len(m.Data), now)
	var also []int
	if isNew {
		// Pieces with the same ID elsewhere in the content are filled by this one delivery.
		for _, k := range d.p.same[d.p.pieces[i].id] {
			if k != i && !d.sw.done.Has(k) {
				d.sw.markDone(k)
				also = append(also, k)
			}
		}
	}
	d.mu.Unlock()
	if !isNew {
		x.bufs.put(body)
		x.metrics.dupPieces.Inc()
		return true // an endgame duplicate
	}
	if d.lim != nil {
		if err := d.lim.WaitN(d.ctx, len(m.Data)); err != nil {
			x.bufs.put(body)
			return false
		}
	}
	// Storing waits on fsync: hand the piece to the writer pool and go on reading.
	select {
	case d.writes <- writeJob{peer: ss.peer, index: i, data: m.Data, body: body, also: also}:
		return true
	case <-d.ctx.Done():
		x.bufs.put(body)
		return false
	}
}

// writeJob is a verified piece on its way to the store and the output.
type writeJob struct {
	peer  peer.ID
	index int
	data  []byte
	body  []byte // the pooled buffer data lives in
	also  []int
}

// writer stores and writes verified pieces until writes is closed. Pieces queued when the
// download is cancelled are still stored (a resume then need not fetch them); after a local
// failure nothing more is written.
func (d *download) writer() {
	for j := range d.writes {
		d.mu.Lock()
		failed := d.fatal != nil
		d.mu.Unlock()
		if !failed {
			d.store(j)
		}
		d.x.bufs.put(j.body)
	}
}

func (d *download) store(j writeJob) {
	if err := d.write(j.index, j.data, j.also); err != nil {
		d.log.Error("cannot store piece", "piece", j.index, "err", err)
		d.fail(err)
		return
	}
	d.x.metrics.fetchedPieces.Inc()
	d.x.metrics.fetchedBytes.Add(float64(len(j.data)))
	d.mu.Lock()
	d.fetched[j.peer]++
	d.written += 1 + len(j.also)
	d.bytes += int64(len(j.data))
	for _, k := range j.also {
		d.bytes += int64(d.p.pieces[k].length)
	}
	if d.written == len(d.p.pieces) {
		d.finish()
	}
	d.mu.Unlock()
}

// write puts a verified piece at every place it occurs in the output, and in the store
// unless the store serves it from the output (linked).
func (d *download) write(i int, data []byte, also []int) error {
	for _, k := range append([]int{i}, also...) {
		if !d.linked {
			if err := d.x.store.PutPiece(d.p.id, k, d.p.pieces[i].id, data); err != nil {
				return fmt.Errorf("exchange: store piece %d: %w", k, err)
			}
		}
		if d.out != nil {
			if err := d.out.writePiece(k, data); err != nil {
				return err
			}
		}
		if d.linked {
			if err := d.linker.OutputPieceWritten(d.p.id, k); err != nil {
				return fmt.Errorf("exchange: record piece %d: %w", k, err)
			}
		}
	}
	return nil
}

// fail ends the download with a local error (disk full, permission).
func (d *download) fail(err error) {
	d.mu.Lock()
	if d.fatal == nil {
		d.fatal = err
	}
	d.finish()
	d.mu.Unlock()
	d.stop()
}

// leave drops a peer from the download and hands its requests to the others.
func (d *download) leave(ps *peerState, err error) {
	d.mu.Lock()
	d.sw.drop(ps)
	d.peerErrs[ps.id] = err
	d.wakeAllLocked()
	d.mu.Unlock()
}

// protocolError drops a peer that broke the protocol.
func (d *download) protocolError(ss *session, ps *peerState, log *slog.Logger, body []byte, what string) {
	if body != nil {
		d.x.bufs.put(body)
	}
	d.x.metrics.streamErrors.Inc()
	err := fmt.Errorf("peer %s: %w: %s", ss.peer, ErrMalformed, what)
	log.Warn("provider broke the protocol; dropping it", "err", err)
	ss.reset()
	d.leave(ps, err)
}
