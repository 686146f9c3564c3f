package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultMemQueueDepth is how many packets and how many pending streams each
// MemNetwork transport buffers before it drops, like a full socket buffer.
const DefaultMemQueueDepth = 1024

// ErrUnreachable is returned by a MemNetwork dial to an address that has no
// transport, is partitioned away, or whose accept queue is full.
var ErrUnreachable = errors.New("memnet: address unreachable")

// MemNetwork is an in-memory network for memberlist: one NewTransport per node,
// all in one process. Unlike memberlist's MockNetwork it never blocks a sender:
// every queue is bounded and a packet that does not fit is dropped (UDP
// semantics), so it runs under testing/synctest and with hundreds of nodes.
// Streams (push/pull, TCP fallback pings) are net.Pipe pairs.
//
// It can add one-way latency per packet (WithLatency), cut the network into
// groups (Partition, Heal) and counts traffic per address (Traffic).
// All methods are safe for concurrent use.
type MemNetwork struct {
	mu         sync.Mutex
	nodes      map[string]*memTransport // live transports by "ip:port"
	group      map[string]int           // partition group by address; nil when healed
	latency    func(from, to string) time.Duration
	queueDepth int
	nextHost   uint32
	traffic    map[string]*trafficCounters // kept after a transport shuts down
}

// MemOption configures a MemNetwork.
type MemOption func(*MemNetwork)

// WithLatency sets a one-way delay for every packet and every stream dial from
// one address to another. The function must be fast and safe for concurrent use.
func WithLatency(fn func(from, to string) time.Duration) MemOption {
	return func(n *MemNetwork) { n.latency = fn }
}

// WithQueueDepth sets the per-transport packet and stream queue size
// (default DefaultMemQueueDepth).
func WithQueueDepth(depth int) MemOption {
	return func(n *MemNetwork) {
		if depth > 0 {
			n.queueDepth = depth
		}
	}
}

// NewMemNetwork returns an empty network.
func NewMemNetwork(opts ...MemOption) *MemNetwork {
	n := &MemNetwork{
		nodes:      make(map[string]*memTransport),
		traffic:    make(map[string]*trafficCounters),
		queueDepth: DefaultMemQueueDepth,
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

// SetLatency replaces the latency function (nil = none) at run time.
func (n *MemNetwork) SetLatency(fn func(from, to string) time.Duration) {
	n.mu.Lock()
	n.latency = fn
	n.mu.Unlock()
}

// NewTransport attaches a transport at addr ("ip:port"; the host must be an IP
// literal so memberlist never resolves it through DNS). An empty addr picks the
// next free address 10.x.y.z:7946. An address may be reused once its previous
// transport has shut down, which is how a test restarts a node.
func (n *MemNetwork) NewTransport(addr string) (memberlist.NodeAwareTransport, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if addr == "" {
		for {
			n.nextHost++
			ip := make(net.IP, 4)
			binary.BigEndian.PutUint32(ip, 10<<24|n.nextHost)
			addr = net.JoinHostPort(ip.String(), "7946")
			if n.nodes[addr] == nil {
				break
			}
		}
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("memnet: %w", err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("memnet: %q: host must be an IP address", addr)
	}
	addr = net.JoinHostPort(ip.String(), strconv.Itoa(port))
	if n.nodes[addr] != nil {
		return nil, fmt.Errorf("memnet: address %s already in use", addr)
	}
	tc := n.traffic[addr]
	if tc == nil {
		tc = &trafficCounters{}
		n.traffic[addr] = tc
	}
	t := &memTransport{
		net:      n,
		addr:     addr,
		ip:       ip,
		port:     port,
		packetCh: make(chan *memberlist.Packet, n.queueDepth),
		streamCh: make(chan net.Conn, n.queueDepth),
		traffic:  tc,
	}
	n.nodes[addr] = t
	return t, nil
}

// Partition cuts the network into the given groups of addresses: packets and
// dials between addresses in different groups are dropped. Addresses in no group
// still reach everyone. Established streams are not cut. Partition replaces any
// earlier partition.
func (n *MemNetwork) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group = make(map[string]int)
	for i, g := range groups {
		for _, a := range g {
			n.group[a] = i + 1
		}
	}
}

// Heal removes any partition.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	n.group = nil
	n.mu.Unlock()
}

// Traffic is a snapshot of one address's counters (or, from TotalTraffic, the
// sum over all addresses). Stream bytes count into BytesSent/BytesReceived too.
type Traffic struct {
	PacketsSent, PacketsReceived uint64
	// PacketsDropped counts packets this address sent that never arrived
	// (no such address, partitioned, or receiver queue full).
	PacketsDropped                 uint64
	BytesSent, BytesReceived       uint64
	StreamsOpened, StreamsAccepted uint64
}

// Traffic returns the counters for addr (zero if it never existed).
func (n *MemNetwork) Traffic(addr string) Traffic {
	n.mu.Lock()
	tc := n.traffic[addr]
	n.mu.Unlock()
	if tc == nil {
		return Traffic{}
	}
	return tc.snapshot()
}

// TotalTraffic sums Traffic over every address ever attached.
func (n *MemNetwork) TotalTraffic() Traffic {
	n.mu.Lock()
	defer n.mu.Unlock()
	var sum Traffic
	for _, tc := range n.traffic {
		s := tc.snapshot()
		sum.PacketsSent += s.PacketsSent
		sum.PacketsReceived += s.PacketsReceived
		sum.PacketsDropped += s.PacketsDropped
		sum.BytesSent += s.BytesSent
		sum.BytesReceived += s.BytesReceived
		sum.StreamsOpened += s.StreamsOpened
		sum.StreamsAccepted += s.StreamsAccepted
	}
	return sum
}

type trafficCounters struct {
	pktSent, pktRecv, pktDropped atomic.Uint64
	bytesSent, bytesRecv         atomic.Uint64
	streamsOpened, streamsAcc    atomic.Uint64
}

func (tc *trafficCounters) snapshot() Traffic {
	return Traffic{
		PacketsSent: tc.pktSent.Load(), PacketsReceived: tc.pktRecv.Load(), PacketsDropped: tc.pktDropped.Load(),
		BytesSent: tc.bytesSent.Load(), BytesReceived: tc.bytesRecv.Load(),
		StreamsOpened: tc.streamsOpened.Load(), StreamsAccepted: tc.streamsAcc.Load(),
	}
}

// route looks up the destination and the latency under the lock. It returns nil
// if to is unknown or partitioned from from.
func (n *MemNetwork) route(from, to string) (*memTransport, time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	dst := n.nodes[to]
	if dst == nil {
		return nil, 0
	}
	if n.group != nil {
		if gf, gt := n.group[from], n.group[to]; gf != 0 && gt != 0 && gf != gt {
			return nil, 0
		}
	}
	var d time.Duration
	if n.latency != nil {
		d = n.latency(from, to)
	}
	return dst, d
}

// reachable re-checks at delivery time, so a packet in flight when a partition
// starts is lost, as on a real network.
func (n *MemNetwork) reachable(from string, dst *memTransport) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodes[dst.addr] != dst {
		return false
	}
	if n.group != nil {
		if gf, gt := n.group[from], n.group[dst.addr]; gf != 0 && gt != 0 && gf != gt {
			return false
		}
	}
	return true
}

// memTransport is one node's attachment to a MemNetwork.
type memTransport struct {
	net      *MemNetwork
	addr     string
	ip       net.IP
	port     int
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	traffic  *trafficCounters
	closed   atomic.Bool
}

var _ memberlist.NodeAwareTransport = (*memTransport)(nil)

func (t *memTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, t.port, nil
}

func (t *memTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (t *memTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	if t.closed.Load() {
		return now, fmt.Errorf("memnet: %s is shut down", t.addr)
	}
	t.traffic.pktSent.Add(1)
	t.traffic.bytesSent.Add(uint64(len(b)))
	dst, delay := t.net.route(t.addr, a.Addr)
	if dst == nil {
		t.traffic.pktDropped.Add(1)
		return now, nil // UDP: a lost packet is not an error for the sender
	}
	// The packet keeps b without copying it, as memberlist's own MockTransport does:
	// memberlist builds a fresh buffer for every packet it sends and never touches it
	// again, and at N = 1024 the copy was 6% of everything simulated gossip allocated.
	p := &memberlist.Packet{
		Buf:  b,
		From: &net.UDPAddr{IP: t.ip, Port: t.port},
	}
	deliver := func() {
		if !t.net.reachable(t.addr, dst) {
			t.traffic.pktDropped.Add(1)
			return
		}
		p.Timestamp = time.Now()
		select {
		case dst.packetCh <- p:
			dst.traffic.pktRecv.Add(1)
			dst.traffic.bytesRecv.Add(uint64(len(p.Buf)))
		default:
			t.traffic.pktDropped.Add(1)
		}
	}
	if delay > 0 {
		time.AfterFunc(delay, deliver)
	} else {
		deliver()
	}
	return now, nil
}

func (t *memTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }
func (t *memTransport) StreamCh() <-chan net.Conn           { return t.streamCh }

func (t *memTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (t *memTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.closed.Load() {
		return nil, fmt.Errorf("memnet: %s is shut down", t.addr)
	}
	dst, delay := t.net.route(t.addr, a.Addr)
	if delay > 0 {
		if timeout > 0 && delay > timeout {
			time.Sleep(timeout)
			return nil, fmt.Errorf("dial %s: i/o timeout (modelled latency %v)", a.Addr, delay)
		}
		time.Sleep(delay)
		if dst != nil && !t.net.reachable(t.addr, dst) {
			dst = nil
		}
	}
	if dst == nil {
		return nil, fmt.Errorf("dial %s: %w", a.Addr, ErrUnreachable)
	}
	local, remote := net.Pipe()
	localAddr := &net.TCPAddr{IP: t.ip, Port: t.port}
	remoteAddr := &net.TCPAddr{IP: dst.ip, Port: dst.port}
	select {
	case dst.streamCh <- &memConn{Conn: remote, local: remoteAddr, remote: localAddr, tc: dst.traffic}:
	default:
		_ = local.Close()
		_ = remote.Close()
		return nil, fmt.Errorf("dial %s: accept queue full: %w", a.Addr, ErrUnreachable)
	}
	t.traffic.streamsOpened.Add(1)
	dst.traffic.streamsAcc.Add(1)
	return &memConn{Conn: local, local: localAddr, remote: remoteAddr, tc: t.traffic}, nil
}

// Shutdown detaches the transport; packets to it are dropped from now on. The
// channels stay open because memberlist may still be selecting on them.
func (t *memTransport) Shutdown() error {
	if t.closed.Swap(true) {
		return nil
	}
	t.net.mu.Lock()
	if t.net.nodes[t.addr] == t {
		delete(t.net.nodes, t.addr)
	}
	t.net.mu.Unlock()
	return nil
}

// memConn is one end of a stream: a net.Pipe with TCP-looking addresses and
// byte counting for its owner.
type memConn struct {
	net.Conn
	local, remote net.Addr
	tc            *trafficCounters
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

func (c *memConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.tc.bytesRecv.Add(uint64(n))
	return n, err
}

func (c *memConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.tc.bytesSent.Add(uint64(n))
	return n, err
}
