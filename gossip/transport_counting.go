package gossip

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// countingTransport wraps any memberlist transport and counts packets, streams
// and bytes into the gossip metrics. Incoming packets and streams pass through one
// forwarding goroutine, which exits on Shutdown.
type countingTransport struct {
	inner     memberlist.NodeAwareTransport
	packetCh  chan *memberlist.Packet
	streamCh  chan net.Conn
	stop      chan struct{} // closed when Shutdown starts: stop handing anything to memberlist
	innerDone chan struct{} // closed when the inner transport has shut down
	done      chan struct{} // closed when the forwarder has exited
	once      sync.Once

	pktSent, pktRecv                 prometheus.Counter
	bytesPktSent, bytesPktRecv       adder
	bytesStreamSent, bytesStreamRecv adder
	streamsSent, streamsRecv         prometheus.Counter
}

var _ memberlist.NodeAwareTransport = (*countingTransport)(nil)

func newCountingTransport(inner memberlist.NodeAwareTransport, m *metrics, name string) *countingTransport {
	sent, recv := m.transportBytes.WithLabelValues(name, "sent"), m.transportBytes.WithLabelValues(name, "received")
	t := &countingTransport{
		inner:           inner,
		packetCh:        make(chan *memberlist.Packet),
		streamCh:        make(chan net.Conn),
		stop:            make(chan struct{}),
		innerDone:       make(chan struct{}),
		done:            make(chan struct{}),
		pktSent:         m.packets.WithLabelValues("sent"),
		pktRecv:         m.packets.WithLabelValues("received"),
		bytesPktSent:    both{m.bytes.WithLabelValues("sent", "packet"), sent},
		bytesPktRecv:    both{m.bytes.WithLabelValues("received", "packet"), recv},
		bytesStreamSent: both{m.bytes.WithLabelValues("sent", "stream"), sent},
		bytesStreamRecv: both{m.bytes.WithLabelValues("received", "stream"), recv},
		streamsSent:     m.streams.WithLabelValues("sent"),
		streamsRecv:     m.streams.WithLabelValues("received"),
	}
	go t.forward()
	return t
}

func (t *countingTransport) forward() {
	defer close(t.done)
	for {
		select {
		case p := <-t.inner.PacketCh():
			t.pktRecv.Inc()
			t.bytesPktRecv.Add(float64(len(p.Buf)))
			select {
			case t.packetCh <- p:
			case <-t.stop: // shutting down: drop it, keep draining the inner transport
			}
		case c := <-t.inner.StreamCh():
			t.streamsRecv.Inc()
			select {
			case t.streamCh <- t.wrap(c):
			case <-t.stop:
				_ = c.Close()
			}
		case <-t.innerDone:
			return
		}
	}
}

func (t *countingTransport) wrap(c net.Conn) net.Conn {
	return &countingConn{Conn: c, sent: t.bytesStreamSent, recv: t.bytesStreamRecv}
}

func (t *countingTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

func (t *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	t.pktSent.Inc()
	t.bytesPktSent.Add(float64(len(b)))
	return t.inner.WriteTo(b, addr)
}

func (t *countingTransport) WriteToAddress(b []byte, addr memberlist.Address) (time.Time, error) {
	t.pktSent.Inc()
	t.bytesPktSent.Add(float64(len(b)))
	return t.inner.WriteToAddress(b, addr)
}

func (t *countingTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }
func (t *countingTransport) StreamCh() <-chan net.Conn           { return t.streamCh }

func (t *countingTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := t.inner.DialTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	t.streamsSent.Inc()
	return t.wrap(c), nil
}

func (t *countingTransport) DialAddressTimeout(addr memberlist.Address, timeout time.Duration) (net.Conn, error) {
	c, err := t.inner.DialAddressTimeout(addr, timeout)
	if err != nil {
		return nil, err
	}
	t.streamsSent.Inc()
	return t.wrap(c), nil
}

// Shutdown shuts the inner transport down, then stops the forwarder.
func (t *countingTransport) Shutdown() error {
	var err error
	t.once.Do(func() {
		close(t.stop)
		// The forwarder keeps draining while the inner transport shuts down:
		// memberlist's NetTransport blocks on unbuffered sends until its
		// listeners exit, and would never exit if nobody read.
		err = t.inner.Shutdown()
		close(t.innerDone)
		<-t.done
	})
	return err
}

// countingConn counts stream bytes in both directions.
type countingConn struct {
	net.Conn
	sent, recv adder
}

// adder is the one method the byte counts need.
type adder interface{ Add(float64) }

// both adds to two counters: the by-kind and the by-transport series.
type both [2]prometheus.Counter

func (b both) Add(v float64) {
	b[0].Add(v)
	b[1].Add(v)
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.recv.Add(float64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.sent.Add(float64(n))
	return n, err
}
