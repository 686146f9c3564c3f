package p2pgossip

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	msmux "github.com/multiformats/go-multistream"
	"github.com/prometheus/client_golang/prometheus"
)

// The libp2p protocols gossip uses.
const (
	PacketProtocol protocol.ID = "/dhtnode/gossip/packet/1.0.0"
	StreamProtocol protocol.ID = "/dhtnode/gossip/stream/1.0.0"
)

// Protocols lists both gossip protocols, for gates that admit non-members to
// gossip only.
var Protocols = []protocol.ID{PacketProtocol, StreamProtocol}

// Defaults used for zero Config fields.
const (
	// DefaultPort is the port of every derived gossip address (memberlist's usual one).
	DefaultPort = 7946
	// DefaultMaxPacket caps one packet frame. memberlist sends packets of at most
	// UDPBufferSize (1400 bytes in every profile); 64 KiB is the largest UDP datagram.
	DefaultMaxPacket = 64 << 10
	// DefaultPacketQueue is how many received packets wait for memberlist.
	DefaultPacketQueue = 1024
	// DefaultSendQueue is how many packets wait for one peer's sender.
	DefaultSendQueue = 256
	// DefaultDialTimeout bounds opening a packet stream (connect included).
	DefaultDialTimeout = 5 * time.Second
	// DefaultMaxPacketAge drops packets that waited longer in a send queue: a
	// ping or ack that late only misleads failure detection.
	DefaultMaxPacketAge = 3 * time.Second
	// DefaultIdleTimeout closes a peer's packet stream and sender after this long
	// without packets; an inbound packet stream idle twice as long is closed too.
	DefaultIdleTimeout = 2 * time.Minute
	// writeTimeout bounds one batch of frames on a packet stream.
	writeTimeout = 5 * time.Second
	// handoffTimeout bounds waiting for memberlist to take an inbound stream.
	handoffTimeout = 5 * time.Second
	// maxKnown bounds the derived-address table; beyond it an arbitrary entry
	// is forgotten (memberlist names peers in nearly every call anyway).
	maxKnown = 1 << 16
)

// Errors returned by the transport.
var (
	// ErrShutdown is returned after Shutdown.
	ErrShutdown = errors.New("p2pgossip: transport shut down")
	// ErrUnknownPeer: an address without a node name that no known peer has.
	ErrUnknownPeer = errors.New("no libp2p peer known for this gossip address; on the libp2p gossip transport join a multiaddr ending in /p2p/<peer ID>")
)

// NotGossipError says a peer is reachable over libp2p but does not gossip over
// it: it most likely runs the UDP gossip transport. Closed means it closed the
// connection before any stream (what a node gossiping over UDP with a cluster
// secret does to non-members) rather than refusing the protocol.
type NotGossipError struct {
	Peer   peer.ID
	Closed bool
}

// Error says what went wrong and what to check.
func (e *NotGossipError) Error() string {
	if e.Closed {
		return fmt.Sprintf("peer %s closed the libp2p connection before a gossip stream could open: a node with a cluster secret that runs gossip.transport=udp admits only members over libp2p; every member needs the same gossip transport", e.Peer)
	}
	return fmt.Sprintf("peer %s does not gossip over libp2p (protocol %s not supported): it probably runs gossip.transport=udp; every member needs the same gossip transport", e.Peer, StreamProtocol)
}

// Config configures a Transport. Only Host is required.
type Config struct {
	// Host is the libp2p host gossip rides on. The transport registers the two
	// gossip protocol handlers on it and removes them on Shutdown.
	Host host.Host
	// Addrs, if set, gives multiaddrs for a peer the host has no address for
	// (dhtnode: the member's signed gossip metadata). It must be fast and safe
	// for concurrent use.
	Addrs func(peer.ID) []ma.Multiaddr
	// Port is the port of every derived gossip address; 0 means DefaultPort.
	Port int
	// MaxPacket caps a packet in either direction (0: DefaultMaxPacket). A
	// bigger inbound frame resets the stream.
	MaxPacket int
	// PacketQueue and SendQueue bound the inbound queue and each peer's send
	// queue (0: the defaults). Packets beyond them are dropped.
	PacketQueue, SendQueue int
	// DialTimeout, MaxPacketAge and IdleTimeout: see the defaults.
	DialTimeout, MaxPacketAge, IdleTimeout time.Duration
	// Logger receives debug logs; nil discards.
	Logger *slog.Logger
	// Registerer receives the transport metrics; nil means none.
	Registerer prometheus.Registerer
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Port, DefaultPort)
	def(&c.MaxPacket, DefaultMaxPacket)
	def(&c.PacketQueue, DefaultPacketQueue)
	def(&c.SendQueue, DefaultSendQueue)
	defD(&c.DialTimeout, DefaultDialTimeout)
	defD(&c.MaxPacketAge, DefaultMaxPacketAge)
	defD(&c.IdleTimeout, DefaultIdleTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Transport is a memberlist.NodeAwareTransport over a libp2p host. Create it
// with New and hand it to memberlist (gossip.Config.Transport); memberlist calls
// Shutdown.
type Transport struct {
	cfg      Config
	h        host.Host
	self     Addr
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	ctx      context.Context
	cancel   context.CancelFunc
	m        *metrics

	mu      sync.Mutex
	closed  bool
	senders map[peer.ID]*sender
	inbound map[network.Stream]struct{} // packet streams being read, reset on Shutdown
	known   map[netip.AddrPort]peer.ID
	wg      sync.WaitGroup
	once    sync.Once
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// New registers the gossip protocol handlers on cfg.Host and returns the
// transport. It fails if Host is nil or the metrics cannot be registered.
func New(cfg Config) (*Transport, error) {
	if cfg.Host == nil {
		return nil, errors.New("p2pgossip: no libp2p host")
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{
		cfg:      cfg,
		h:        cfg.Host,
		self:     Addr{ID: cfg.Host.ID(), Port: cfg.Port},
		packetCh: make(chan *memberlist.Packet, cfg.PacketQueue),
		streamCh: make(chan net.Conn, 64),
		ctx:      ctx,
		cancel:   cancel,
		m:        m,
		senders:  make(map[peer.ID]*sender),
		inbound:  make(map[network.Stream]struct{}),
		known:    make(map[netip.AddrPort]peer.ID),
	}
	t.learn(t.self.ID)
	t.h.SetStreamHandler(PacketProtocol, t.handlePackets)
	t.h.SetStreamHandler(StreamProtocol, t.handleStream)
	return t, nil
}

// Addr is a peer's gossip address on this transport: its peer ID, shown to
// memberlist as the derived IP and port (AddrOf).
type Addr struct {
	ID   peer.ID
	Port int
}

// Network implements net.Addr.
func (a Addr) Network() string { return "libp2p" }

// String is the derived "[ip]:port" memberlist parses.
func (a Addr) String() string { return AddrOf(a.ID, a.Port).String() }

// AddrOf derives a peer's gossip address: fd64:68 (unique-local IPv6, so
// memberlist treats it as private) followed by the first 104 bits of
// SHA-256(peer ID), and port.
func AddrOf(id peer.ID, port int) netip.AddrPort {
	sum := sha256.Sum256([]byte(id))
	var b [16]byte
	b[0], b[1], b[2] = 0xfd, 0x64, 0x68
	copy(b[3:], sum[:13])
	return netip.AddrPortFrom(netip.AddrFrom16(b), uint16(port))
}

// JoinAddr turns a multiaddr ending in /p2p/<peer ID> (with or without a
// transport part before it) into memberlist's "name/host:port" join syntax, and
// remembers its transport addresses in the host's peerstore for the dial. A
// bare /p2p/<peer ID> works when the host can find the peer's addresses itself.
func (t *Transport) JoinAddr(s string) (string, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a multiaddr: %w", s, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return "", fmt.Errorf("%q: a libp2p gossip join address must end in /p2p/<peer ID>: %w", s, err)
	}
	if info.ID == t.self.ID {
		return "", fmt.Errorf("%q is this node's own address", s)
	}
	if len(info.Addrs) > 0 {
		// Permanent: a seed is retried until a join works, however long that takes.
		t.h.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.PermanentAddrTTL)
	}
	t.learn(info.ID)
	return info.ID.String() + "/" + AddrOf(info.ID, t.cfg.Port).String(), nil
}

// learn records a peer's derived address, so that calls naming only the address
// find it.
func (t *Transport) learn(id peer.ID) {
	a := AddrOf(id, t.cfg.Port)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.known[a]; ok {
		return
	}
	if len(t.known) >= maxKnown {
		for k := range t.known {
			if k != t.self.addrPort() {
				delete(t.known, k)
				break
			}
		}
	}
	t.known[a] = id
}

func (a Addr) addrPort() netip.AddrPort { return AddrOf(a.ID, a.Port) }

// resolve finds the peer a memberlist address means: the node name when it is a
// peer ID (dhtnode's names are), else the derived-address table.
func (t *Transport) resolve(a memberlist.Address) (peer.ID, error) {
	if a.Name != "" {
		if id, err := peer.Decode(a.Name); err == nil {
			t.learn(id)
			return id, nil
		}
	}
	ap, err := netip.ParseAddrPort(a.Addr)
	if err == nil {
		t.mu.Lock()
		id, ok := t.known[ap]
		t.mu.Unlock()
		if ok {
			return id, nil
		}
	}
	return "", fmt.Errorf("%s: %w", a.String(), ErrUnknownPeer)
}

// FinalAdvertiseAddr returns this node's derived address. A configured IP is an
// error: on this transport the address is the peer ID's, nothing else routes.
func (t *Transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	ap := t.self.addrPort()
	if ip != "" && ip != ap.Addr().String() {
		return nil, 0, fmt.Errorf("p2pgossip: an advertise address (%s) cannot be set on the libp2p gossip transport: the gossip address is derived from the peer ID", ip)
	}
	return net.IP(ap.Addr().AsSlice()), int(ap.Port()), nil
}

// WriteTo sends a packet to the peer with gossip address addr.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress queues a packet for the peer and returns at once. Like UDP, it
// succeeds even if the packet is later dropped (full queue, unreachable peer).
// It fails for an unknown peer, an oversized packet or after Shutdown.
func (t *Transport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	now := time.Now()
	if len(b) > t.cfg.MaxPacket {
		t.m.drop("too_large")
		return now, fmt.Errorf("p2pgossip: packet of %d bytes exceeds %d", len(b), t.cfg.MaxPacket)
	}
	id, err := t.resolve(addr)
	if err != nil {
		return now, err
	}
	if id == t.self.ID {
		// memberlist does not send to itself; deliver locally anyway for completeness.
		t.deliver(&memberlist.Packet{Buf: append([]byte(nil), b...), From: t.self, Timestamp: now})
		return now, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return now, ErrShutdown
	}
	s := t.senders[id]
	if s == nil {
		s = &sender{t: t, id: id, q: make(chan outPacket, t.cfg.SendQueue)}
		t.senders[id] = s
		t.wg.Add(1)
		go s.run()
	}
	select {
	case s.q <- outPacket{b: append([]byte(nil), b...), at: now}:
	default:
		t.m.drop("queue_full")
	}
	return now, nil
}

// PacketCh delivers received packets.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh delivers accepted streams.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout opens a stream to the peer with gossip address addr.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout opens a gossip stream to the peer, connecting first if
// needed. A peer that does not speak the gossip protocol gives *NotGossipError.
func (t *Transport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	id, err := t.resolve(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	s, err := t.open(ctx, id, StreamProtocol)
	if err != nil {
		return nil, err
	}
	t.m.streams.WithLabelValues("sent").Inc()
	return t.newConn(s), nil
}

// open connects to id if needed (with the peerstore's and Config.Addrs'
// addresses, relayed ones included) and opens a stream for proto.
func (t *Transport) open(ctx context.Context, id peer.ID, proto protocol.ID) (network.Stream, error) {
	if t.ctx.Err() != nil {
		return nil, ErrShutdown
	}
	// A member behind NAT may be reachable only through a relay until hole
	// punching gives a direct connection (or for good, behind a symmetric NAT):
	// gossip is small enough for a relay's limited connection.
	ctx = network.WithAllowLimitedConn(ctx, "gossip")
	if c := t.h.Network().Connectedness(id); c != network.Connected && c != network.Limited {
		info := peer.AddrInfo{ID: id}
		if t.cfg.Addrs != nil {
			info.Addrs = t.cfg.Addrs(id)
		}
		if err := t.h.Connect(ctx, info); err != nil {
			return nil, fmt.Errorf("connect to %s: %w", id, err)
		}
	}
	s, err := t.h.NewStream(ctx, id, proto)
	switch {
	case err == nil:
		t.keep(id)
		return s, nil
	case errors.Is(err, msmux.ErrNotSupported[protocol.ID]{}):
		return nil, &NotGossipError{Peer: id}
	case ctx.Err() == nil && t.h.Network().Connectedness(id) == network.NotConnected:
		return nil, &NotGossipError{Peer: id, Closed: true}
	}
	return nil, fmt.Errorf("open %s to %s: %w", proto, id, err)
}

// gossipTagValue is the weight of the connection manager tag on peers we gossip
// with: trimming one means a new handshake for the next probe, and a member
// behind NAT may be reachable only on the connection it opened.
const gossipTagValue = 20

// keep tags id's connections as gossip ones, so the connection manager trims
// others first.
func (t *Transport) keep(id peer.ID) {
	t.h.ConnManager().TagPeer(id, "gossip", gossipTagValue)
}

// deliver hands a packet to memberlist, dropping it if the queue is full.
func (t *Transport) deliver(p *memberlist.Packet) {
	select {
	case t.packetCh <- p:
	default:
		t.m.drop("inbound_full")
	}
}

// handlePackets reads frames from one peer's packet stream until it ends, is
// idle too long, or sends a frame that is empty or too big (then it is reset).
func (t *Transport) handlePackets(s network.Stream) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = s.Reset()
		return
	}
	t.inbound[s] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.inbound, s)
		t.mu.Unlock()
	}()
	from := s.Conn().RemotePeer()
	t.learn(from)
	t.keep(from)
	fromAddr := Addr{ID: from, Port: t.cfg.Port}
	r := bufio.NewReader(s)
	for {
		_ = s.SetReadDeadline(time.Now().Add(2 * t.cfg.IdleTimeout))
		buf, err := readFrame(r, t.cfg.MaxPacket)
		if err != nil {
			if errors.Is(err, io.EOF) {
				_ = s.Close()
				return
			}
			if errors.Is(err, errBadFrame) {
				t.m.drop("malformed")
				t.cfg.Logger.Debug("bad gossip packet frame; resetting the stream", "peer", from, "err", err)
			}
			_ = s.Reset()
			return
		}
		t.m.bytes.WithLabelValues("received", "packet").Add(float64(len(buf)))
		t.m.packets.WithLabelValues("received").Inc()
		t.deliver(&memberlist.Packet{Buf: buf, From: fromAddr, Timestamp: time.Now()})
	}
}

// handleStream hands an inbound gossip stream to memberlist, or resets it if
// memberlist does not take it in time.
func (t *Transport) handleStream(s network.Stream) {
	t.learn(s.Conn().RemotePeer())
	t.keep(s.Conn().RemotePeer())
	t.m.streams.WithLabelValues("received").Inc()
	c := t.newConn(s)
	timer := time.NewTimer(handoffTimeout)
	defer timer.Stop()
	select {
	case t.streamCh <- c:
	case <-timer.C:
		t.m.drop("stream_backlog")
		_ = s.Reset()
	case <-t.ctx.Done():
		_ = s.Reset()
	}
}

// Shutdown removes the protocol handlers, stops every sender and resets every
// packet stream, inbound and outbound. memberlist calls it once; more calls do nothing.
func (t *Transport) Shutdown() error {
	t.once.Do(func() {
		t.h.RemoveStreamHandler(PacketProtocol)
		t.h.RemoveStreamHandler(StreamProtocol)
		t.mu.Lock()
		t.closed = true
		for s := range t.inbound {
			_ = s.Reset() // ends its reader, which removes it
		}
		t.mu.Unlock()
		t.cancel()
		t.wg.Wait()
		t.m.unregister(t.cfg.Registerer)
	})
	return nil
}

// outPacket is a queued packet and when it was queued.
type outPacket struct {
	b  []byte
	at time.Time
}

// sender owns one peer's outbound packet stream; its goroutine is the only one
// that touches the stream.
type sender struct {
	t  *Transport
	id peer.ID
	q  chan outPacket
}

func (s *sender) run() {
	t := s.t
	defer t.wg.Done()
	var st network.Stream
	var w *bufio.Writer
	defer func() {
		if st != nil {
			_ = st.Reset()
		}
	}()
	idle := time.NewTimer(t.cfg.IdleTimeout)
	defer idle.Stop()
	for {
		var p outPacket
		select {
		case <-t.ctx.Done():
			return
		case <-idle.C:
			t.mu.Lock()
			if len(s.q) == 0 {
				// Under t.mu no packet can be queued to us any more once we are gone.
				delete(t.senders, s.id)
				t.mu.Unlock()
				if st != nil {
					_ = st.Close()
					st = nil
				}
				return
			}
			t.mu.Unlock()
			idle.Reset(t.cfg.IdleTimeout)
			continue
		case p = <-s.q:
		}
		idle.Reset(t.cfg.IdleTimeout)
		if time.Since(p.at) > t.cfg.MaxPacketAge {
			t.m.drop("stale")
			continue
		}
		if st != nil && st.Conn().Stat().Limited && t.h.Network().Connectedness(s.id) == network.Connected {
			// A direct connection has appeared (a hole punch, or the peer dialled
			// us): leave the relay, whose limits and bandwidth are for others too.
			_ = st.Close()
			st = nil
		}
		if st == nil {
			ctx, cancel := context.WithTimeout(t.ctx, t.cfg.DialTimeout)
			var err error
			st, err = t.open(ctx, s.id, PacketProtocol)
			cancel()
			if err != nil {
				st = nil
				t.m.drop("unreachable")
				t.cfg.Logger.Debug("gossip packet dropped: cannot open a stream", "peer", s.id, "err", err)
				continue
			}
			w = bufio.NewWriterSize(st, 4096)
		}
		// Write this packet and whatever else is already queued, then flush once.
		_ = st.SetWriteDeadline(time.Now().Add(writeTimeout))
		n, bytes, err := s.writeBatch(w, p)
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			t.m.drop("send_error")
			t.cfg.Logger.Debug("gossip packet stream failed", "peer", s.id, "err", err)
			_ = st.Reset()
			st = nil
			continue
		}
		t.m.packets.WithLabelValues("sent").Add(float64(n))
		t.m.bytes.WithLabelValues("sent", "packet").Add(float64(bytes))
	}
}

// writeBatch frames p and every packet already waiting (fresh ones only).
func (s *sender) writeBatch(w *bufio.Writer, p outPacket) (n, bytes int, err error) {
	for {
		if err := writeFrame(w, p.b); err != nil {
			return n, bytes, err
		}
		n++
		bytes += len(p.b)
		select {
		case p = <-s.q:
			if time.Since(p.at) > s.t.cfg.MaxPacketAge {
				s.t.m.drop("stale")
				return n, bytes, nil
			}
		default:
			return n, bytes, nil
		}
	}
}

// errBadFrame marks a frame that breaks the framing rules.
var errBadFrame = errors.New("bad frame")

// writeFrame writes one frame: uvarint length, then b.
func writeFrame(w io.Writer, b []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(hdr[:k]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// readFrame reads one frame of 1..max bytes. A clean end before a frame is
// io.EOF; an empty, oversized or non-minimally encoded length, or a truncated
// frame, wraps errBadFrame.
func readFrame(r *bufio.Reader, max int) ([]byte, error) {
	cr := countingByteReader{r: r}
	n, err := binary.ReadUvarint(&cr)
	if err != nil {
		if errors.Is(err, io.EOF) && cr.n == 0 {
			return nil, io.EOF
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "overflow") {
			return nil, fmt.Errorf("%w: length: %v", errBadFrame, err)
		}
		return nil, err
	}
	if n == 0 || n > uint64(max) {
		return nil, fmt.Errorf("%w: length %d not in 1..%d", errBadFrame, n, max)
	}
	var hdr [binary.MaxVarintLen64]byte
	if cr.n != binary.PutUvarint(hdr[:], n) {
		return nil, fmt.Errorf("%w: length %d encoded in %d bytes, not minimally", errBadFrame, n, cr.n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: stream ended inside a frame of %d bytes", errBadFrame, n)
		}
		return nil, err
	}
	return buf, nil
}

// countingByteReader counts the bytes a varint took.
type countingByteReader struct {
	r *bufio.Reader
	n int
}

// ReadByte reads one byte and counts it.
func (c *countingByteReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// conn is a libp2p stream as the net.Conn memberlist wants, counting bytes.
type conn struct {
	network.Stream
	local, remote Addr
	m             *metrics
}

func (t *Transport) newConn(s network.Stream) *conn {
	return &conn{Stream: s, local: t.self, remote: Addr{ID: s.Conn().RemotePeer(), Port: t.cfg.Port}, m: t.m}
}

// Read reads from the stream, counting the bytes.
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Stream.Read(p)
	c.m.bytes.WithLabelValues("received", "stream").Add(float64(n))
	return n, err
}

// Write writes to the stream, counting the bytes.
func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Stream.Write(p)
	c.m.bytes.WithLabelValues("sent", "stream").Add(float64(n))
	return n, err
}

// LocalAddr is this node's gossip address.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr is the remote peer's gossip address.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

var _ net.Conn = (*conn)(nil)
