package exchange

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/content"
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

	have, err := d.askHave(ss, info.ID)
	if err != nil {
		if d.ctx.Err() == nil {
			err = relayCut(ss, err)
			log.Info("provider failed", "err", err)
			d.setPeerErr(info.ID, err)
		}
		return
	}
	wake := make(chan struct{}, 1)
	d.mu.Lock()
	ps := d.sw.addPeer(info.ID, have, time.Now())
	d.wakes[info.ID] = wake
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.wakes, info.ID)
		d.mu.Unlock()
	}()

	readerDone := make(chan struct{})
	defer close(readerDone)
	ss.startWriter(readerDone, x.cfg.StallTimeout)
	now := time.Now()
	r := &peerRun{d: d, ss: ss, ps: ps, id: info.ID, log: log, wake: wake,
		resps: d.startReader(ss, readerDone), lastHave: now, lastRecv: now}
	r.run()
}

// askHave asks the peer which pieces it holds, before any piece is requested.
func (d *download) askHave(ss *session, id peer.ID) (*content.Bitfield, error) {
	err := ss.queue(TypeHaveRequest, 0)
	if err == nil {
		err = ss.flush()
	}
	var m Message
	if err == nil {
		m, _, err = ss.read(d.x.cfg.StallTimeout)
	}
	if err == nil && m.Type == TypeError {
		err = &RemoteError{Peer: id, Code: m.Code, Text: m.Text}
	} else if err == nil && (m.Type != TypeHave || m.Have.Len() != len(d.p.pieces)) {
		err = fmt.Errorf("peer %s: %w: bad answer to a have request", id, ErrMalformed)
	}
	return m.Have, err
}

// response is one message read from a provider's session.
type response struct {
	m    Message
	body []byte
	err  error
}

// startReader reads the session on a goroutine of its own and hands the responses over,
// so the peer's goroutine can write requests while the peer is still sending: writing and
// reading on one goroutine deadlocks once both directions' buffers are full. The reader
// stops after an error or when done is closed (returning an unclaimed buffer to the pool).
func (d *download) startReader(ss *session, done <-chan struct{}) <-chan response {
	resps := make(chan response, 4)
	go func() {
		for {
			m, body, err := ss.read(0)
			select {
			case resps <- response{m, body, err}:
			case <-done:
				if body != nil {
					d.x.bufs.put(body)
				}
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return resps
}

// peerRun is the state of one provider's request loop, owned by its peer goroutine.
type peerRun struct {
	d     *download
	ss    *session
	ps    *peerState
	id    peer.ID
	log   *slog.Logger
	wake  chan struct{}   // a piece was released elsewhere: look for work again
	resps <-chan response // from startReader

	queue      []pending // requests sent, answers due in this order
	lastHave   time.Time // when the peer's have bitfield was last asked for
	lastRecv   time.Time // when the peer last sent something we waited for
	haveQueued bool      // a have request is in queue
	picks      []int
}

// run tops up the peer's window, waits for the next event and handles it, until the peer
// or the download is done.
func (r *peerRun) run() {
	stall := time.NewTimer(r.d.x.cfg.StallTimeout)
	defer stall.Stop()
	for {
		now := time.Now()
		partial, ok := r.request(now)
		if !ok {
			return
		}
		resp, got, ok := r.wait(now, partial, stall)
		if !ok {
			return
		}
		if got && !r.handle(resp) {
			return
		}
	}
}

// request tops up the window and decides whether to refresh the peer's have bitfield,
// then sends what it queued. It reports whether the peer still holds pieces we lack
// (partial) and whether the loop goes on.
func (r *peerRun) request(now time.Time) (partial, ok bool) {
	d, x := r.d, r.d.x
	d.mu.Lock()
	if !r.ps.usable() || d.sw.complete() || d.ctx.Err() != nil {
		d.mu.Unlock()
		return false, false
	}
	r.picks = r.picks[:0]
	for {
		i := d.sw.pick(r.ps, now)
		if i < 0 {
			break
		}
		r.picks = append(r.picks, i)
	}
	partial = !r.ps.all
	d.mu.Unlock()
	if len(r.queue) == 0 {
		r.lastRecv = now // the stall clock runs only while we wait for answers
	}
	var werr error
	for _, i := range r.picks {
		r.queue = append(r.queue, pending{index: i})
		if werr == nil {
			werr = r.ss.queue(TypePieceRequest, uint32(i))
		}
	}
	if partial && !r.haveQueued && now.Sub(r.lastHave) >= x.cfg.HaveInterval {
		r.queue = append(r.queue, pending{have: true})
		r.haveQueued = true
		r.lastHave = now
		if werr == nil {
			werr = r.ss.queue(TypeHaveRequest, 0)
		}
	}
	if werr == nil {
		werr = r.ss.flush()
	}
	if werr != nil {
		if d.ctx.Err() == nil {
			r.log.Info("provider stream failed", "err", werr)
			r.ss.reset()
			d.leave(r.ps, relayCut(r.ss, fmt.Errorf("peer %s: %w", r.id, werr)))
		}
		return partial, false
	}
	return partial, true
}

// wait waits for an answer, a wake-up (a piece released elsewhere), the next have refresh
// of a peer still downloading, or the stall deadline. got says whether resp holds an
// answer; ok is false when the peer stalled or the download ended.
func (r *peerRun) wait(now time.Time, partial bool, stall *time.Timer) (resp response, got, ok bool) {
	d, x := r.d, r.d.x
	var refresh <-chan time.Time
	var refreshTimer *time.Timer
	switch {
	case partial && !r.haveQueued:
		refreshTimer = time.NewTimer(max(x.cfg.HaveInterval-now.Sub(r.lastHave), time.Millisecond))
	case len(r.queue) == 0:
		// Idle at the tail: look again soon, another peer may be late with a piece.
		refreshTimer = time.NewTimer(endgameSilence / 2)
	}
	if refreshTimer != nil {
		refresh = refreshTimer.C
		defer refreshTimer.Stop()
	}
	var stallC <-chan time.Time
	if len(r.queue) > 0 {
		stall.Reset(max(x.cfg.StallTimeout-now.Sub(r.lastRecv), time.Millisecond))
		stallC = stall.C
	}
	select {
	case resp = <-r.resps:
		return resp, true, true
	case <-r.wake:
	case <-refresh:
	case <-stallC:
		x.metrics.stalledPeers.Inc()
		r.log.Warn("provider stalled; fetching its pieces elsewhere", "timeout", x.cfg.StallTimeout)
		r.ss.reset()
		d.leave(r.ps, fmt.Errorf("peer %s: %w after %s", r.id, errStall, x.cfg.StallTimeout))
		return resp, false, false
	case <-d.ctx.Done():
		return resp, false, false
	}
	return resp, false, true
}

// handle matches an answer with the oldest request: a have refresh updates the swarm, a
// refusal releases the piece to other peers, a piece is verified and queued for writing.
// It reports whether the peer may go on.
func (r *peerRun) handle(resp response) bool {
	d := r.d
	m, body, err := resp.m, resp.body, resp.err
	if err != nil {
		if d.ctx.Err() != nil {
			return false
		}
		err = relayCut(r.ss, err)
		r.log.Info("provider stream failed", "err", err)
		r.ss.reset()
		d.leave(r.ps, err)
		return false
	}
	r.lastRecv = time.Now()
	if len(r.queue) == 0 {
		d.protocolError(r.ss, r.ps, r.log, body, "sent an answer nobody asked for")
		return false
	}
	head := r.queue[0]
	r.queue = r.queue[1:]
	if head.have {
		r.haveQueued = false
		switch {
		case m.Type == TypeHave && m.Have.Len() == len(d.p.pieces):
			d.mu.Lock()
			d.sw.setHave(r.id, m.Have)
			d.mu.Unlock()
		case m.Type == TypeError:
		default:
			d.protocolError(r.ss, r.ps, r.log, body, "answered a have request with something else")
			return false
		}
		return true
	}
	switch m.Type {
	case TypeError:
		d.mu.Lock()
		if d.sw.head(r.ps) == head.index {
			d.sw.pop(r.ps)
		}
		d.sw.missing(r.ps, head.index, time.Now())
		d.wakeAllLocked()
		d.mu.Unlock()
		return true
	case TypePiece:
		if int(m.Index) != head.index {
			d.protocolError(r.ss, r.ps, r.log, body, fmt.Sprintf("sent piece %d, expected %d", m.Index, head.index))
			return false
		}
	default:
		d.protocolError(r.ss, r.ps, r.log, body, "answered a piece request with something else")
		return false
	}
	if !d.deliver(r.ss, r.ps, r.log, head.index, m, body) {
		return false
	}
	r.lastRecv = time.Now() // time spent verifying and queueing is ours, not the peer's
	return true
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
