package exchange

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// serverIdleTimeout closes a stream whose client has sent nothing, or read nothing of our
// answers, for this long.
const serverIdleTimeout = 2 * time.Minute

// maxStreamsPerPeer bounds the exchange streams one peer may have open at once: a download
// uses one per provider, so a few cover concurrent gets, and a peer cannot make us hold
// thousands of piece buffers.
const maxStreamsPerPeer = 8

// Read-ahead: a stream prepares up to serverReadAhead answers before they are written, with
// up to serverReaders piece reads (open, read, verify) running at once, so reading and hashing
// the next pieces overlaps with sending this one. Pieces not in the page cache (the blockstore
// writes with O_DIRECT) wait on the disk, ~0.5 ms per 256 KiB here: 2 readers capped a cold
// seeder at ~700 MB/s; 8 keep the disk's queue full (8 × 256 KiB buffers per stream).
const (
	serverReadAhead = 16
	serverReaders   = 8
)

// reply is the answer to one request, prepared ahead of writing. done is closed when frame
// and data are ready.
type reply struct {
	frame []byte // the whole frame, or a piece frame's header
	data  []byte // a piece's data (pooled), written after frame
	// fatal: the request was malformed; after this frame the stream is closed.
	fatal bool
	done  chan struct{}
}

// handleStream serves one client stream: it answers requests in order until the client closes
// its side. A malformed request gets a TypeError naming the problem and the stream is closed;
// nothing a peer sends can make the server panic, and a stream holds at most
// serverReadAhead piece buffers.
//
// Goroutines: this one reads and decodes requests and starts preparing each answer (piece
// reads on their own goroutines, at most serverReaders at once); writeReplies writes the
// answers in request order.
func (x *Exchange) handleStream(s network.Stream) {
	remote := s.Conn().RemotePeer()
	log := x.log.With("peer", remote.String())
	if x.isBanned(remote) {
		log.Debug("refusing stream from banned peer")
		_ = s.Reset()
		return
	}
	if !x.enterStream(remote) {
		log.Info("refusing exchange stream: too many from this peer", "limit", maxStreamsPerPeer)
		_ = s.Reset()
		return
	}
	defer x.leaveStream(remote)
	defer func() { _ = s.Close() }()

	replies := make(chan *reply, serverReadAhead)
	written := make(chan struct{})
	go func() {
		defer close(written)
		x.writeReplies(s, replies)
	}()
	defer func() {
		close(replies)
		<-written
	}()
	readers := make(chan struct{}, serverReaders)
	r := bufio.NewReaderSize(s, 4096)
	var reqBuf [MaxRequestSize]byte
	for {
		_ = s.SetReadDeadline(time.Now().Add(serverIdleTimeout))
		body, err := readFrame(r, reqBuf[:0], MaxRequestSize)
		var m Message
		if err == nil {
			m, err = DecodeRequest(body)
		}
		var id content.ID
		if err == nil {
			if id, err = content.IDFromBytes(m.ID); err != nil {
				err = fmt.Errorf("%w: content ID: %v", ErrMalformed, err)
			}
		}
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
			case errors.Is(err, ErrMalformed):
				x.metrics.streamErrors.Inc()
				log.Info("closing exchange stream: bad request", "err", err)
				rp := &reply{fatal: true, done: make(chan struct{})}
				rp.frame = AppendFrame(nil, &Message{Type: TypeError, Code: CodeBadRequest, Text: truncate(err.Error())})
				close(rp.done)
				replies <- rp
			default:
				log.Debug("exchange stream ended", "err", err)
				_ = s.Reset()
			}
			return
		}
		rp := &reply{done: make(chan struct{})}
		replies <- rp // blocks while serverReadAhead answers wait to be written
		if m.Type != TypePieceRequest {
			x.prepare(rp, id, m)
			close(rp.done)
			continue
		}
		readers <- struct{}{}
		go func() {
			defer func() { <-readers }()
			defer close(rp.done)
			x.prepare(rp, id, m)
		}()
	}
}

// writeReplies writes prepared answers in order, flushing when no further answer is queued
// (a window of piece requests is answered with large writes). After a write error it resets
// the stream (so the reader stops) and only drains.
func (x *Exchange) writeReplies(s network.Stream, replies <-chan *reply) {
	w := bufio.NewWriterSize(s, 64<<10)
	failed := false
	for rp := range replies {
		<-rp.done
		if !failed {
			_ = s.SetWriteDeadline(time.Now().Add(serverIdleTimeout))
			_, err := w.Write(rp.frame)
			if err == nil && rp.data != nil {
				_, err = w.Write(rp.data)
			}
			if err == nil && (rp.fatal || len(replies) == 0) {
				err = w.Flush()
			}
			if err != nil {
				failed = true
				_ = s.Reset()
			} else if rp.data != nil {
				x.metrics.servedPieces.Inc()
				x.metrics.servedBytes.Add(float64(len(rp.data)))
			}
			if rp.fatal {
				failed = true // nothing more is written; the reader has stopped
				_ = s.CloseWrite()
			}
		}
		if rp.data != nil {
			x.bufs.put(rp.data)
		}
	}
	if !failed {
		_ = w.Flush()
	}
}

func truncate(s string) string {
	if len(s) > MaxErrorMessage {
		s = s[:MaxErrorMessage]
	}
	return s
}

// prepare builds the answer to one decoded request. Problems with the request itself
// (unknown content, a piece we lack, an index out of range) are answered with TypeError;
// the stream goes on.
func (x *Exchange) prepare(rp *reply, id content.ID, m Message) {
	replyErr := func(code byte, text string) {
		rp.frame = AppendFrame(nil, &Message{Type: TypeError, Code: code, Text: truncate(text)})
	}
	p, err := x.loadPlan(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			replyErr(CodeNotFound, "no manifest for "+id.String())
			return
		}
		x.log.Warn("cannot load manifest to serve it", "id", id.String(), "err", err)
		replyErr(CodeInternal, "manifest unreadable")
		return
	}
	switch m.Type {
	case TypeManifestRequest:
		rp.frame = AppendFrame(nil, &Message{Type: TypeManifest, Data: p.raw})
	case TypeHaveRequest:
		rp.frame = AppendFrame(nil, &Message{Type: TypeHave, Have: x.have(p)})
	case TypePieceRequest:
		i := int(m.Index)
		if i >= len(p.pieces) {
			replyErr(CodeBadRequest, fmt.Sprintf("piece %d of %d", i, len(p.pieces)))
			return
		}
		pc := p.pieces[i]
		buf := x.bufs.get(pc.length)
		if err := x.store.ReadPiece(id, i, pc.id, buf); err != nil {
			x.bufs.put(buf)
			if !errors.Is(err, ErrNotFound) {
				// A corrupt or unreadable piece is never served; say we lack it.
				x.log.Warn("stored piece unusable, not serving it", "piece", pc.id.String(), "err", err)
			}
			replyErr(CodeNotFound, fmt.Sprintf("piece %d not held", i))
			return
		}
		var proof []merkle.Hash
		if m.Flags&FlagProof != 0 {
			if proof, err = p.proof(i); err != nil {
				x.bufs.put(buf)
				replyErr(CodeInternal, "proof: "+err.Error())
				return
			}
		}
		rp.frame = appendPieceHeader(nil, m.Index, proof, len(buf))
		rp.data = buf
	}
}

// have is the bitfield of the pieces of p we hold.
func (x *Exchange) have(p *plan) *content.Bitfield {
	if hr, ok := x.store.(HaveReporter); ok {
		if b, err := hr.Have(p.id, len(p.pieces)); err == nil {
			if bf, err := content.BitfieldFromBytes(len(p.pieces), b); err == nil {
				return bf
			}
		}
	}
	bf := content.NewBitfield(len(p.pieces))
	for i, pc := range p.pieces {
		if x.store.HasPiece(pc.id) {
			bf.Set(i)
		}
	}
	return bf
}

// loadPlan returns the plan of a manifest in our own store.
func (x *Exchange) loadPlan(id content.ID) (*plan, error) {
	if p := x.plans.get(id); p != nil {
		return p, nil
	}
	raw, err := x.store.Manifest(id)
	if err != nil {
		return nil, err
	}
	p, err := x.decodePlan(id, raw)
	if err != nil {
		return nil, err
	}
	x.plans.add(p)
	return p, nil
}

func (x *Exchange) enterStream(p peer.ID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.streams[p] >= maxStreamsPerPeer {
		return false
	}
	x.streams[p]++
	return true
}

func (x *Exchange) leaveStream(p peer.ID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.streams[p]--; x.streams[p] <= 0 {
		delete(x.streams, p)
	}
}
