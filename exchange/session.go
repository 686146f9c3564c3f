package exchange

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	relayclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"github.com/dhtnode/dhtnode/content"
)

// session is the client end of one exchange stream to one provider. Requests are written
// through w and answered in order; the caller keeps the queue of what it asked. A manifest
// fetch uses a session from one goroutine; a download's peer goroutine owns its session and
// starts a reader (read) and a writer (startWriter) beside it, so neither direction waits on
// the other.
type session struct {
	x     *Exchange
	peer  peer.ID
	s     network.Stream
	r     *bufio.Reader
	w     *bufio.Writer
	limit int
	lim   Limits
	id    []byte
	frame []byte // scratch for requests
	// relayed says the stream runs over a relay's limited connection.
	relayed bool

	// Requests are written by a writer goroutine (startWriter) in download sessions, so the
	// goroutine that processes answers never blocks on a write.
	wmu     sync.Mutex
	pending []byte
	werr    error
	signal  chan struct{}
	closed  atomic.Bool // close and reset race (the download's cancel watcher)
}

// RemoteError is a TypeError answer from a peer.
type RemoteError struct {
	Peer peer.ID
	Code byte
	Text string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("peer %s: %s", e.Peer, e.Text)
}

// Is makes a CodeNotFound answer match ErrNotFound.
func (e *RemoteError) Is(target error) bool {
	return target == ErrNotFound && e.Code == CodeNotFound
}

// openSession connects to a provider and opens an exchange stream for content id.
func (x *Exchange) openSession(ctx context.Context, info peer.AddrInfo, id content.ID) (*session, error) {
	if info.ID == x.host.ID() {
		return nil, fmt.Errorf("%w: provider %s is this node", ErrNoProviders, info.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, x.cfg.ConnectTimeout)
	defer cancel()
	if len(info.Addrs) > 0 {
		x.host.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.TempAddrTTL)
	}
	if err := x.host.Connect(ctx, info); err != nil {
		return nil, fmt.Errorf("%w: connect %s: %v", ErrNoProviders, info.ID, err)
	}
	relayed := x.host.Network().Connectedness(info.ID) == network.Limited
	s, err := x.newStream(ctx, info)
	if err != nil && ctx.Err() == nil && x.host.Network().Connectedness(info.ID) == network.NotConnected {
		// libp2p learns that a connection died only when a stream fails on it, and then
		// drops it: a relay ends a relayed connection when its limits are spent, by
		// gossip as much as by content, at any moment. So dial once more.
		x.log.Info("the connection to the provider closed under a new stream: dialling again", "peer", info.ID, "relayed", relayed, "err", err)
		if err = x.host.Connect(ctx, info); err == nil {
			s, err = x.newStream(ctx, info)
		}
	}
	if err != nil {
		if relayed {
			err = fmt.Errorf("%v (over a relay, whose limits end a relayed connection when spent: raise relay.limit_data and relay.limit_duration on the relays, or let the nodes connect directly)", err)
		}
		return nil, fmt.Errorf("%w: open stream to %s: %v", ErrNoProviders, info.ID, err)
	}
	lim := x.cfg.Limits.withDefaults()
	return &session{
		x:       x,
		peer:    info.ID,
		s:       s,
		relayed: s.Conn().Stat().Limited,
		r:       bufio.NewReaderSize(s, 64<<10),
		w:       bufio.NewWriterSize(s, 4096),
		limit:   lim.maxResponseSize(),
		lim:     lim,
		id:      id.Bytes(),
	}, nil
}

// newStream opens an exchange stream to a connected provider, preferring a direct
// connection to a relayed one: a relay's limits (libp2p's default: 128 KiB and 2 minutes
// per connection) are made to carry a hole punch, not a file. Over a relayed connection
// alone libp2p's hole punching may still make a direct one, and the stream waits for it.
// But the punch runs once, when the relayed connection comes in, and it may have failed
// or never run (the node did not know its public address yet, as right after start). So a
// relayed connection older than a punch is replaced by a fresh one at once, which makes
// the provider punch again, and a young one gets a third of the time to finish its punch
// first. When no direct connection comes, the stream runs over the relay: within the
// relay's limits, or cut by them (see relayCut). The next streams to that peer for a
// while (a get opens one for the manifest, then one for the pieces) take the relay at once.
func (x *Exchange) newStream(ctx context.Context, info peer.AddrInfo) (network.Stream, error) {
	if x.host.Network().Connectedness(info.ID) != network.Limited {
		return x.host.NewStream(ctx, info.ID, ProtocolID)
	}
	if x.fellBackRecently(info.ID) {
		return x.relayedStream(ctx, info.ID)
	}
	budget := x.cfg.ConnectTimeout
	if deadline, ok := ctx.Deadline(); ok {
		budget = time.Until(deadline)
	}
	wait := budget / 3
	if x.youngestLimited(info.ID) < punchTime {
		if s, err := x.directStream(ctx, info.ID, wait); err == nil || ctx.Err() != nil {
			return s, err
		}
	}
	if x.host.Network().Connectedness(info.ID) == network.Limited {
		x.log.Info("no direct connection to the provider: reconnecting through the relay to punch a hole again", "peer", info.ID)
		for _, c := range x.host.Network().ConnsToPeer(info.ID) {
			if c.Stat().Limited {
				_ = c.Close()
			}
		}
		if err := x.host.Connect(ctx, info); err != nil {
			return nil, fmt.Errorf("reconnect through a relay: %w", err)
		}
	}
	if s, err := x.directStream(ctx, info.ID, wait); err == nil || ctx.Err() != nil {
		return s, err
	}
	x.log.Info("no direct connection to the provider: moving content through the relay, within its limits", "peer", info.ID)
	x.noteFallBack(info.ID)
	return x.relayedStream(ctx, info.ID)
}

// relayedStream opens a stream to p that may run over a relay's limited connection
// (libp2p takes a direct connection when there is one).
func (x *Exchange) relayedStream(ctx context.Context, p peer.ID) (network.Stream, error) {
	return x.host.NewStream(network.WithAllowLimitedConn(ctx, "content exchange"), p, ProtocolID)
}

// fallBackMemory is how long a peer that could be reached only through a relay is taken
// through it again without waiting for a direct connection.
const fallBackMemory = time.Minute

// fellBackRecently reports whether a stream to p fell back to a relay within fallBackMemory.
func (x *Exchange) fellBackRecently(p peer.ID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	at, ok := x.fellBack[p]
	return ok && time.Since(at) < fallBackMemory
}

// noteFallBack records that a stream to p had to run over a relay, forgetting old records.
func (x *Exchange) noteFallBack(p peer.ID) {
	now := time.Now()
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, at := range x.fellBack {
		if now.Sub(at) >= fallBackMemory {
			delete(x.fellBack, id)
		}
	}
	x.fellBack[p] = now
}

// punchTime is how long after a relayed connection opens its hole punch is surely over:
// DCUtR makes up to three attempts, each within a few round trips.
const punchTime = 5 * time.Second

// youngestLimited is the age of the newest relayed connection to p.
func (x *Exchange) youngestLimited(p peer.ID) time.Duration {
	age := time.Duration(1<<63 - 1)
	for _, c := range x.host.Network().ConnsToPeer(p) {
		if st := c.Stat(); st.Limited {
			age = min(age, time.Since(st.Opened))
		}
	}
	return age
}

// directStream opens a stream to p over a direct connection, waiting up to wait for one.
func (x *Exchange) directStream(ctx context.Context, p peer.ID, wait time.Duration) (network.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return x.host.NewStream(ctx, p, ProtocolID)
}

// relayCut explains a stream that failed over a relayed connection: the relay's limits
// end such a connection after its data or time allowance, mid-transfer. An answer the
// peer did send (an error message, a malformed frame) is no cut and stays as it is.
func relayCut(ss *session, err error) error {
	var remote *RemoteError
	if !ss.relayed || errors.As(err, &remote) || errors.Is(err, ErrMalformed) {
		return err
	}
	limits := "limits"
	extra := ss.s.Conn().Stat().Extra
	if data, ok := extra[relayclient.StatLimitData].(uint64); ok {
		limits = fmt.Sprintf("limits (%d KiB", data>>10)
		if d, ok := extra[relayclient.StatLimitDuration].(time.Duration); ok {
			limits += fmt.Sprintf(", %v", d)
		}
		limits += " per connection)"
	}
	return fmt.Errorf("%w (the provider is reachable only through a relay, whose %s end a relayed connection mid-transfer: raise relay.limit_data and relay.limit_duration on the relays, or let the nodes connect directly)", err, limits)
}

func (ss *session) close() {
	if ss.closed.CompareAndSwap(false, true) {
		_ = ss.s.Close()
	}
}

// reset aborts the stream (protocol error, stall, ban).
func (ss *session) reset() {
	if ss.closed.CompareAndSwap(false, true) {
		_ = ss.s.Reset()
	}
}

func (ss *session) queue(typ byte, index uint32) error {
	m := Message{Type: typ, ID: ss.id, Index: index}
	if typ == TypePieceRequest {
		m.Flags = FlagProof
	}
	if ss.signal != nil {
		ss.wmu.Lock()
		defer ss.wmu.Unlock()
		ss.pending = AppendFrame(ss.pending, &m)
		return ss.werr
	}
	ss.frame = AppendFrame(ss.frame[:0], &m)
	_, err := ss.w.Write(ss.frame)
	return err
}

// flush sends the queued requests: at once, or by waking the writer goroutine.
func (ss *session) flush() error {
	if ss.signal == nil {
		return ss.w.Flush()
	}
	select {
	case ss.signal <- struct{}{}:
	default:
	}
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	return ss.werr
}

// startWriter moves request writing to a goroutine that ends when done is closed or a write
// fails. A write that makes no progress for stall fails (the peer stopped reading).
func (ss *session) startWriter(done <-chan struct{}, stall time.Duration) {
	ss.signal = make(chan struct{}, 1)
	go func() {
		var out []byte
		for {
			select {
			case <-ss.signal:
			case <-done:
				return
			}
			ss.wmu.Lock()
			out, ss.pending = ss.pending, out[:0]
			ss.wmu.Unlock()
			if len(out) == 0 {
				continue
			}
			_ = ss.s.SetWriteDeadline(time.Now().Add(stall))
			_, err := ss.w.Write(out)
			if err == nil {
				err = ss.w.Flush()
			}
			if err != nil {
				ss.wmu.Lock()
				ss.werr = err
				ss.wmu.Unlock()
				return
			}
		}
	}()
}

// read reads and decodes the next response, waiting at most timeout (0: no deadline). Piece
// bodies are read into a pooled buffer returned as body (the caller gives it back with
// bufs.put once the data is written); other responses get their own buffer and body is nil.
func (ss *session) read(timeout time.Duration) (m Message, body []byte, err error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	_ = ss.s.SetReadDeadline(deadline)
	n, err := readLength(ss.r)
	if err != nil {
		return m, nil, ss.wrap(err)
	}
	if n == 0 || n > uint64(ss.limit) {
		return m, nil, fmt.Errorf("peer %s: %w (frame of %d bytes)", ss.peer, ErrTooLarge, n)
	}
	t, err := ss.r.Peek(1)
	if err != nil {
		return m, nil, ss.wrap(err)
	}
	// Peek's slice is the reader's buffer, which the reads below refill: keep the byte.
	piece := t[0] == TypePiece
	var buf, full []byte
	if piece {
		// Read the frame into a pooled buffer at the offset that leaves the piece data
		// (after type, index, proof count and proof) aligned for direct I/O.
		hdr := 0
		if h, err := ss.r.Peek(6); err == nil && n > 6 {
			hdr = 6 + 32*int(h[5])
		}
		full = ss.x.bufs.get(int(n) + dataAlign)
		off := 0
		if hdr > 0 && hdr < int(n) {
			off = alignedAt(full, hdr)
		}
		buf = full[off : off+int(n)]
	} else {
		buf = make([]byte, n) // rare (have, error, manifest): a fresh buffer keeps them valid
	}
	if _, err := io.ReadFull(ss.r, buf); err != nil {
		if piece {
			ss.x.bufs.put(full)
		}
		return m, nil, ss.wrap(err)
	}
	m, err = DecodeResponse(buf, ss.lim)
	if err != nil {
		if piece {
			ss.x.bufs.put(full)
		}
		return m, nil, fmt.Errorf("peer %s: %w", ss.peer, err)
	}
	if piece {
		body = full
	}
	return m, body, nil
}

// errStall marks a read that timed out.
var errStall = errors.New("exchange: peer stalled")

func (ss *session) wrap(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("peer %s: %w", ss.peer, errStall)
	}
	return fmt.Errorf("peer %s: %w", ss.peer, err)
}

// fetchManifest asks for the manifest and checks it against the ID.
func (ss *session) fetchManifest() (*plan, error) {
	if err := ss.queue(TypeManifestRequest, 0); err != nil {
		return nil, ss.wrap(err)
	}
	if err := ss.flush(); err != nil {
		return nil, ss.wrap(err)
	}
	m, _, err := ss.read(ss.x.cfg.StallTimeout)
	if err != nil {
		return nil, err
	}
	switch m.Type {
	case TypeManifest:
	case TypeError:
		return nil, &RemoteError{Peer: ss.peer, Code: m.Code, Text: m.Text}
	default:
		return nil, fmt.Errorf("peer %s: %w: answered a manifest request with type %#x", ss.peer, ErrMalformed, m.Type)
	}
	id, _ := content.IDFromBytes(ss.id)
	raw := append([]byte(nil), m.Data...)
	p, err := ss.x.decodePlan(id, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: manifest from peer %s: %v", ErrVerification, ss.peer, err)
	}
	return p, nil
}
