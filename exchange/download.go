package exchange

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/dhtnode/dhtnode/content"
)

// Request describes one download.
type Request struct {
	// ID is the content to fetch.
	ID content.ID
	// Providers are the peers to fetch from (addresses may be empty if the host knows them).
	Providers []peer.AddrInfo
	// Output is where to write the file or directory tree; "" fetches into the store only.
	Output string
	// Progress, if set, is called from one goroutine at most every ProgressInterval and once
	// at the end; it must not block for long.
	Progress func(Progress)
	// ProgressInterval defaults to 200ms.
	ProgressInterval time.Duration
}

// Progress is a snapshot of a download.
type Progress struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Bytes       int64         `json:"bytes"`        // verified bytes, including resumed ones
	Total       int64         `json:"total"`        // bytes of the whole content
	Pieces      int           `json:"pieces"`       // verified pieces
	TotalPieces int           `json:"total_pieces"` // pieces of the whole content
	Resumed     int           `json:"resumed"`      // pieces found in the store at the start
	Rate        float64       `json:"rate"`         // bytes/s over the last few seconds
	Peers       int           `json:"peers"`        // providers in use
	Elapsed     time.Duration `json:"elapsed_ns"`
	Done        bool          `json:"done"`
}

// Result summarises a finished download.
type Result struct {
	ID      content.ID
	Name    string
	Size    int64
	Pieces  int
	Resumed int // pieces that were already in the store
	// Fetched counts verified pieces received per provider.
	Fetched map[peer.ID]int
	// Bad lists providers that sent pieces failing verification, with how many.
	Bad     map[peer.ID]int
	Elapsed time.Duration
}

// storeWriters is the number of goroutines storing verified pieces of one download: a
// store that writes with O_DIRECT (or fsyncs every piece) is latency-bound, so several write
// at once.
const storeWriters = 8

// download is the state of one Download call. mu guards sw and the counters.
type download struct {
	x   *Exchange
	p   *plan
	out *output
	// linker is the store's OutputLinker when the download writes pieces only to out; linked
	// says the store now points at out.
	linker OutputLinker
	linked bool
	log    *slog.Logger
	lim    *rate.Limiter
	ctx    context.Context
	parent context.Context // the caller's: its end means "interrupted", not "failed"
	stop   context.CancelFunc

	mu       sync.Mutex
	sw       *swarm
	written  int   // pieces written (store + output)
	bytes    int64 // bytes written
	fatal    error // a local failure (disk) that ends the download
	wakes    map[peer.ID]chan struct{}
	fetched  map[peer.ID]int
	peerErrs map[peer.ID]error
	writes   chan writeJob // verified pieces for the writer pool
	finished chan struct{} // closed by finish when written == n or fatal
	once     sync.Once
	resumed  int
}

// finish wakes the coordinator; called with or without mu held.
func (d *download) finish() { d.once.Do(func() { close(d.finished) }) }

// FetchManifest returns the manifest block of id, from the store or else from the first
// provider that has it; a manifest from a peer is checked against id before it is used. It
// does not store it (Download does).
// Errors wrap ErrNotFound (nobody has it), ErrNoProviders or ErrVerification.
func (x *Exchange) FetchManifest(ctx context.Context, id content.ID, providers []peer.AddrInfo) ([]byte, error) {
	p, err := x.manifest(ctx, id, providers, false)
	if err != nil {
		return nil, err
	}
	return p.raw, nil
}

// manifest returns the checked plan of id: from the store, else from the plan cache (a
// manifest fetched earlier without storing it), else from the first provider that has it.
// With store set, a manifest not in the store is put there (a download needs it stored
// before its pieces).
func (x *Exchange) manifest(ctx context.Context, id content.ID, providers []peer.AddrInfo, store bool) (*plan, error) {
	// Ask the store, not only the plan cache: a GC may have removed the manifest since, and a
	// download must store it again before its pieces.
	raw, err := x.store.Manifest(id)
	if err == nil {
		if p := x.plans.get(id); p != nil {
			return p, nil
		}
		p, err := x.decodePlan(id, raw)
		if err != nil {
			return nil, fmt.Errorf("exchange: stored manifest %s: %w", id, err)
		}
		x.plans.add(p)
		return p, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	keep := func(p *plan) (*plan, error) {
		if store {
			if err := x.store.PutManifest(id, p.raw); err != nil {
				return nil, fmt.Errorf("exchange: store manifest: %w", err)
			}
		}
		x.plans.add(p)
		return p, nil
	}
	if p := x.plans.get(id); p != nil {
		return keep(p)
	}
	var errs []error
	for _, info := range providers {
		if x.isBanned(info.ID) {
			errs = append(errs, fmt.Errorf("peer %s is banned", info.ID))
			continue
		}
		ss, err := x.openSession(ctx, info, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p, err := ss.fetchManifest()
		ss.close()
		if err != nil {
			if errors.Is(err, ErrVerification) {
				x.log.Warn("peer sent a manifest that does not match the content ID", "peer", info.ID.String(), "id", id.String())
			}
			errs = append(errs, err)
			continue
		}
		return keep(p)
	}
	return nil, summarise(id, errs)
}

// summarise turns the per-provider failures of a manifest fetch into one error that says what
// went wrong in the most useful terms.
func summarise(id content.ID, errs []error) error {
	if len(errs) == 0 {
		return fmt.Errorf("%w: no providers for %s", ErrNoProviders, id)
	}
	msgs := make([]string, len(errs))
	notFound, unreachable, bad := 0, 0, 0
	for i, e := range errs {
		msgs[i] = detail(e)
		switch {
		case errors.Is(e, ErrNotFound):
			notFound++
		case errors.Is(e, ErrVerification):
			bad++
		default:
			unreachable++
		}
	}
	all := strings.Join(msgs, "; ")
	switch {
	case bad > 0:
		return fmt.Errorf("%w: %s", ErrVerification, all)
	case notFound > 0:
		return fmt.Errorf("%w: %s: %s", ErrNotFound, id, all)
	default:
		return fmt.Errorf("%w: %s", ErrNoProviders, all)
	}
}

// detail is an error's message on one line, without the sentinel prefixes the summary adds
// again, so a CLI error stays one readable line.
func detail(err error) string {
	s := err.Error()
	for _, sentinel := range []error{ErrNoProviders, ErrVerification, ErrNotFound, ErrIncomplete} {
		s = strings.ReplaceAll(s, sentinel.Error()+": ", "")
	}
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(lines[i]), "* "))
	}
	return strings.Join(lines, " ")
}

// Download fetches req.ID from req.Providers into the store, and into req.Output when set.
// Pieces already in the store are not fetched again (so an interrupted download resumes);
// every fetched piece is verified before it is stored or written. It returns when the content
// is complete or cannot be completed: errors wrap ErrNotFound, ErrNoProviders, ErrVerification
// (naming the peers), ErrIncomplete, ErrExists, ErrUnsafePath, ErrClosed or the context's
// error.
func (x *Exchange) Download(ctx context.Context, req Request) (Result, error) {
	start := time.Now()
	res := Result{ID: req.ID}
	x.mu.Lock()
	closed := x.closed
	x.mu.Unlock()
	if closed {
		return res, ErrClosed
	}
	p, err := x.manifest(ctx, req.ID, req.Providers, true)
	if err != nil {
		return res, err
	}
	res.Name, res.Size, res.Pieces = p.name, p.size, len(p.pieces)

	parent := ctx
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	d := &download{
		x:        x,
		p:        p,
		log:      x.log.With("id", req.ID.String()),
		ctx:      ctx,
		parent:   parent,
		stop:     stop,
		sw:       newSwarm(len(p.pieces), p.pieceLen, x.cfg),
		wakes:    make(map[peer.ID]chan struct{}),
		fetched:  make(map[peer.ID]int),
		peerErrs: make(map[peer.ID]error),
		finished: make(chan struct{}),
	}
	if x.cfg.MaxRate > 0 {
		burst := 1
		for _, pc := range p.pieces {
			burst = max(burst, pc.length)
		}
		d.lim = rate.NewLimiter(rate.Limit(x.cfg.MaxRate), burst)
	}
	if req.Output != "" {
		d.linker, _ = x.store.(OutputLinker)
		if d.out, err = openOutput(p, req.Output, d.linker != nil); err != nil {
			return res, err
		}
	}
	committed := false
	defer func() {
		if d.out != nil && !committed {
			d.abortOutput()
		}
	}()

	res.Resumed, err = d.resume()
	d.resumed = res.Resumed
	if err != nil {
		return res, err
	}
	if err := d.link(); err != nil {
		return res, err
	}
	if d.written < len(p.pieces) {
		x.track(d, start)
		defer x.untrack(d)
		if err := d.run(req, start); err != nil {
			res.Fetched, res.Bad = d.stats()
			return res, err
		}
	} else if req.Progress != nil {
		req.Progress(d.progress(start, 0, true))
	}
	if d.out != nil {
		if err := d.out.commit(); err != nil {
			return res, err
		}
		committed = true
		if d.linked {
			// Reads fall back to the target until this lands, so a failure costs nothing.
			if err := d.linker.LinkOutput(p.id, d.out.target, d.out.target); err != nil {
				d.log.Warn("cannot record where the finished output is", "path", d.out.target, "err", err)
			}
		}
	}
	res.Fetched, res.Bad = d.stats()
	res.Elapsed = time.Since(start)
	return res, nil
}

func (d *download) stats() (map[peer.ID]int, map[peer.ID]int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fetched := make(map[peer.ID]int, len(d.fetched))
	for k, v := range d.fetched {
		fetched[k] = v
	}
	bad := make(map[peer.ID]int)
	for id, ps := range d.sw.peers {
		if ps.bad > 0 {
			bad[id] = ps.bad
		}
	}
	return fetched, bad
}

// link points the store at the output, once resume has copied into it what the store held
// elsewhere, and records every piece the output now holds.
func (d *download) link() error {
	if d.linker == nil || d.out == nil {
		return nil
	}
	if err := d.linker.LinkOutput(d.p.id, d.out.tmp, d.out.target); err != nil {
		return fmt.Errorf("exchange: link output: %w", err)
	}
	d.linked = true
	for i := range d.p.pieces {
		if d.sw.done.Has(i) {
			if err := d.linker.OutputPieceWritten(d.p.id, i); err != nil {
				return fmt.Errorf("exchange: link output: %w", err)
			}
		}
	}
	return nil
}

// abortOutput ends an output that will not be committed: a linked one that holds pieces
// stays for the next run to resume from (so does one reused from an earlier run that this one
// failed to link); any other is removed.
func (d *download) abortOutput() {
	d.mu.Lock()
	keep := (d.linked || d.out.reused) && d.written > 0
	d.mu.Unlock()
	d.out.abort(keep)
	if d.linked && !keep {
		if err := d.linker.UnlinkOutput(d.p.id); err != nil {
			d.log.Warn("cannot unlink removed output", "err", err)
		}
	}
}

// resume marks the pieces already in the store as done and copies them into the output; in
// an output reused from an earlier run, a held piece that verifies where it is needs no copy.
// A stored piece that fails its read check is fetched again.
func (d *download) resume() (int, error) {
	n := 0
	var buf []byte
	defer func() {
		if buf != nil {
			d.x.bufs.put(buf)
		}
	}()
	// One bitfield lookup when the store keeps one (it knows pieces shared with other
	// content too), else a HasPiece per piece.
	var have *content.Bitfield
	if hr, ok := d.x.store.(HaveReporter); ok {
		if b, err := hr.Have(d.p.id, len(d.p.pieces)); err == nil {
			have, _ = content.BitfieldFromBytes(len(d.p.pieces), b)
		}
	}
	held := func(i int) bool {
		if have.Len() == len(d.p.pieces) && have.Len() > 0 {
			return have.Has(i)
		}
		return d.x.store.HasPiece(d.p.pieces[i].id)
	}
	for i, pc := range d.p.pieces {
		if d.sw.done.Has(i) || !held(i) {
			continue
		}
		if d.out == nil {
			d.sw.markDone(i)
		} else {
			if buf == nil || cap(buf) < pc.length {
				if buf != nil {
					d.x.bufs.put(buf)
				}
				buf = d.x.bufs.get(pc.length)
			}
			buf = buf[:pc.length]
			if d.out.reused && d.out.readPiece(i, buf) == nil && pc.id.Verify(buf) == nil {
				d.sw.markDone(i)
				n++
				d.written++
				d.bytes += int64(pc.length)
				continue
			}
			if err := d.x.store.ReadPiece(d.p.id, i, pc.id, buf); err != nil {
				d.log.Warn("stored piece unusable, fetching it again", "piece", i, "err", err)
				continue
			}
			if err := d.out.writePiece(i, buf); err != nil {
				return n, err
			}
			d.sw.markDone(i)
		}
		n++
		d.written++
		d.bytes += int64(pc.length)
	}
	return n, nil
}

// run connects to the providers and drives the peer goroutines until the content is complete
// or no provider can finish it.
func (d *download) run(req Request, start time.Time) error {
	providers := make([]peer.AddrInfo, 0, len(req.Providers))
	seen := make(map[peer.ID]bool)
	for _, info := range req.Providers {
		if seen[info.ID] || info.ID == d.x.host.ID() {
			continue
		}
		seen[info.ID] = true
		if d.x.isBanned(info.ID) {
			d.peerErrs[info.ID] = fmt.Errorf("%w: peer %s is banned", ErrVerification, info.ID)
			continue
		}
		providers = append(providers, info)
		if len(providers) == d.x.cfg.MaxPeers {
			break
		}
	}
	d.writes = make(chan writeJob, storeWriters)
	var writers sync.WaitGroup
	for range storeWriters {
		writers.Add(1)
		go func() {
			defer writers.Done()
			d.writer()
		}()
	}
	var wg sync.WaitGroup
	for _, info := range providers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.peer(info)
		}()
	}
	allDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(allDone)
	}()

	interval := req.ProgressInterval
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var rs rateSampler
	lastBytes, lastProgress := int64(-1), time.Now()
	for {
		select {
		case <-d.finished:
		case <-allDone:
		case <-d.ctx.Done():
		case now := <-tick.C:
			d.mu.Lock()
			b := d.bytes
			busy := len(d.sw.asked) > 0
			d.mu.Unlock()
			if req.Progress != nil {
				req.Progress(d.progress(start, rs.add(now, b), false))
			}
			// Peers that stall mid-request are dropped by their own read timeout; this
			// catches the other dead end: peers connected but none holding what is missing.
			if b != lastBytes || busy {
				lastBytes, lastProgress = b, now
			} else if now.Sub(lastProgress) > d.x.cfg.StallTimeout {
				d.log.Info("no provider can supply the missing pieces")
				break
			}
			continue
		}
		break
	}
	d.stop() // ends every peer goroutine (stream reads see the reset)
	<-allDone
	close(d.writes) // no peer goroutine is left to send
	writers.Wait()
	d.mu.Lock()
	err := d.fatal
	written := d.written
	complete := written == len(d.p.pieces)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if complete {
		if req.Progress != nil {
			elapsed := time.Since(start).Seconds()
			req.Progress(d.progress(start, float64(d.bytes)/max(elapsed, 1e-9), true))
		}
		return nil
	}
	if err := d.parent.Err(); err != nil {
		return fmt.Errorf("exchange: download of %s stopped with %d of %d pieces: %w", d.p.id, written, len(d.p.pieces), err)
	}
	if req.Progress != nil {
		req.Progress(d.progress(start, 0, false))
	}
	return d.failure()
}

// failure explains why the download could not complete.
func (d *download) failure() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var banned, others []string
	ids := make([]peer.ID, 0, len(d.peerErrs))
	for id := range d.peerErrs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		e := d.peerErrs[id]
		if errors.Is(e, ErrVerification) {
			banned = append(banned, detail(e))
		} else {
			others = append(others, detail(e))
		}
	}
	missing := len(d.p.pieces) - d.written
	switch {
	case len(d.sw.peers) == 0 && len(banned) == 0:
		return fmt.Errorf("%w: %s", ErrNoProviders, strings.Join(others, "; "))
	case len(banned) > 0:
		return fmt.Errorf("%w: %d pieces missing: %s", ErrVerification, missing, strings.Join(append(banned, others...), "; "))
	case len(others) == 0:
		return fmt.Errorf("%w: %d of %d pieces missing: %s", ErrIncomplete, missing, len(d.p.pieces), d.unservedLocked())
	default:
		return fmt.Errorf("%w: %d of %d pieces missing: %s", ErrIncomplete, missing, len(d.p.pieces), strings.Join(others, "; "))
	}
}

// unservedLocked says why pieces are missing when no provider reported an error: how
// many of them no provider still in the swarm has (partial copies), and how many
// providers there were.
func (d *download) unservedLocked() string {
	nobody, usable := 0, 0
	for _, p := range d.sw.peers {
		if p.usable() {
			usable++
		}
	}
	for i := range d.sw.n {
		if d.sw.done.Has(i) {
			continue
		}
		held := false
		for _, p := range d.sw.peers {
			if p.usable() && p.has(i) {
				held = true
				break
			}
		}
		if !held {
			nobody++
		}
	}
	if nobody > 0 {
		return fmt.Sprintf("%d of them held by none of the %d providers left (they have partial copies; try again when one has it all)", nobody, usable)
	}
	return fmt.Sprintf("the %d providers left stopped sending them without an error", usable)
}

func (d *download) progress(start time.Time, rate float64, done bool) Progress {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Progress{
		ID:          d.p.id.String(),
		Name:        d.p.name,
		Bytes:       d.bytes,
		Total:       d.p.size,
		Pieces:      d.written,
		TotalPieces: len(d.p.pieces),
		Resumed:     d.resumed,
		Rate:        rate,
		Peers:       d.sw.live(),
		Elapsed:     time.Since(start),
		Done:        done,
	}
}

// setPeerErr records why a peer left the download and wakes the others, one of which may
// now have to take over its pieces.
func (d *download) setPeerErr(id peer.ID, err error) {
	d.mu.Lock()
	d.peerErrs[id] = err
	d.wakeAllLocked()
	d.mu.Unlock()
}

func (d *download) wakeAllLocked() {
	for _, ch := range d.wakes {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// rateSampler computes a transfer rate over the last few seconds.
type rateSampler struct {
	t []time.Time
	b []int64
}

func (r *rateSampler) add(now time.Time, bytes int64) float64 {
	r.t = append(r.t, now)
	r.b = append(r.b, bytes)
	for len(r.t) > 2 && now.Sub(r.t[0]) > 3*time.Second {
		r.t, r.b = r.t[1:], r.b[1:]
	}
	dt := now.Sub(r.t[0]).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(bytes-r.b[0]) / dt
}
