package exchange

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/merkle"
)

// serverIdleTimeout closes a stream whose client has sent nothing, or read nothing of our
// answers, for this long.
const serverIdleTimeout = 2 * time.Minute

// maxStreamsPerPeer bounds the exchange streams one peer may have open at once: a download
// uses one per provider, so a few cover concurrent gets, and a peer cannot make us hold
// thousands of piece buffers.
const maxStreamsPerPeer = 8

// handleStream serves one client stream: it answers requests in order until the client closes
// its side. A malformed request gets a TypeError naming the problem and the stream is closed;
// nothing a peer sends can make the server panic or allocate more than MaxRequestSize per
// request plus one piece buffer.
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
	r := bufio.NewReaderSize(s, 4096)
	w := bufio.NewWriterSize(s, 64<<10)
	var reqBuf [MaxRequestSize]byte
	var hdr []byte
	for {
		deadline := time.Now().Add(serverIdleTimeout)
		_ = s.SetReadDeadline(deadline)
		_ = s.SetWriteDeadline(deadline)
		body, err := readFrame(r, reqBuf[:0], MaxRequestSize)
		if err == nil {
			var m Message
			m, err = DecodeRequest(body)
			if err == nil {
				hdr, err = x.serve(w, hdr, m)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				_ = w.Flush()
				return
			}
			if errors.Is(err, ErrMalformed) {
				x.metrics.streamErrors.Inc()
				log.Info("closing exchange stream: bad request", "err", err)
				frame := AppendFrame(nil, &Message{Type: TypeError, Code: CodeBadRequest, Text: truncate(err.Error())})
				_, _ = w.Write(frame)
				_ = w.Flush()
				return
			}
			log.Debug("exchange stream ended", "err", err)
			_ = s.Reset()
			return
		}
		// Flush only when the client has no more requests queued: a window of piece
		// requests is then answered with large writes.
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				_ = s.Reset()
				return
			}
		}
	}
}

func truncate(s string) string {
	if len(s) > MaxErrorMessage {
		s = s[:MaxErrorMessage]
	}
	return s
}

// serve answers one decoded request. Errors about the request itself (unknown content, a
// piece we lack) are answered with TypeError and return nil; only malformed requests and
// write errors end the stream.
func (x *Exchange) serve(w *bufio.Writer, hdr []byte, m Message) ([]byte, error) {
	id, err := cid.Cast(m.ID)
	if err != nil {
		return hdr, fmt.Errorf("%w: content ID: %v", ErrMalformed, err)
	}
	replyErr := func(code byte, text string) ([]byte, error) {
		hdr = AppendFrame(hdr[:0], &Message{Type: TypeError, Code: code, Text: truncate(text)})
		_, err := w.Write(hdr)
		return hdr, err
	}
	p, err := x.loadPlan(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return replyErr(CodeNotFound, "no manifest for "+id.String())
		}
		x.log.Warn("cannot load manifest to serve it", "id", id.String(), "err", err)
		return replyErr(CodeInternal, "manifest unreadable")
	}
	switch m.Type {
	case TypeManifestRequest:
		hdr = AppendFrame(hdr[:0], &Message{Type: TypeManifest, Data: p.raw})
		_, err := w.Write(hdr)
		return hdr, err
	case TypeHaveRequest:
		bf := NewBitfield(len(p.pieces))
		for i, pc := range p.pieces {
			if x.store.HasPiece(pc.id) {
				bf.Set(i)
			}
		}
		hdr = AppendFrame(hdr[:0], &Message{Type: TypeHave, Have: bf})
		_, err := w.Write(hdr)
		return hdr, err
	case TypePieceRequest:
		i := int(m.Index)
		if i >= len(p.pieces) {
			return replyErr(CodeBadRequest, fmt.Sprintf("piece %d of %d", i, len(p.pieces)))
		}
		pc := p.pieces[i]
		buf := x.bufs.get(pc.length)
		defer x.bufs.put(buf)
		if err := x.store.ReadPiece(pc.id, buf); err != nil {
			if !errors.Is(err, ErrNotFound) {
				// A corrupt or unreadable piece is never served; say we lack it.
				x.log.Warn("stored piece unusable, not serving it", "piece", pc.id.String(), "err", err)
			}
			return replyErr(CodeNotFound, fmt.Sprintf("piece %d not held", i))
		}
		var proof []merkle.Hash
		if m.Flags&FlagProof != 0 {
			if proof, err = p.proof(i); err != nil {
				return replyErr(CodeInternal, "proof: "+err.Error())
			}
		}
		hdr = appendPieceHeader(hdr[:0], m.Index, proof, len(buf))
		if _, err := w.Write(hdr); err != nil {
			return hdr, err
		}
		if _, err := w.Write(buf); err != nil {
			return hdr, err
		}
		x.metrics.servedPieces.Inc()
		x.metrics.servedBytes.Add(float64(len(buf)))
		return hdr, nil
	}
	return hdr, fmt.Errorf("%w: request type %#x", ErrMalformed, m.Type)
}

// loadPlan returns the plan of a manifest in our own store.
func (x *Exchange) loadPlan(id cid.Cid) (*plan, error) {
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
