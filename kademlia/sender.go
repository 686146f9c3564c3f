package kademlia

import (
	"context"
	"errors"
	"fmt"
	"time"

	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio/pbio"
)

// requestTimeout bounds one request, as kad-dht's own sender bounds the wait for an
// answer (10 s); a caller's earlier deadline wins.
const requestTimeout = 10 * time.Second

// requestSender is kad-dht's wire protocol (varint-delimited protobuf messages on a
// kad protocol stream) with one stream per request (Config.StreamPerRequest). The
// server side is kad-dht's unchanged handler, which ends when the stream does.
type requestSender struct {
	h      host.Host
	protos []protocol.ID
}

var _ pb.MessageSenderWithDisconnect = (*requestSender)(nil)

func newRequestSender(h host.Host, protos []protocol.ID) pb.MessageSenderWithDisconnect {
	return &requestSender{h: h, protos: protos}
}

// SendRequest sends pmes to p on a new stream and reads the one answer.
func (rs *requestSender) SendRequest(ctx context.Context, p peer.ID, pmes *pb.Message) (*pb.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	s, done, err := rs.send(ctx, p, pmes)
	if err != nil {
		return nil, err
	}
	defer done()
	_ = s.CloseWrite()
	answer := new(pb.Message)
	if err := pbio.NewDelimitedReader(s, network.MessageSizeMax).ReadMsg(answer); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("kademlia: answer from %s: %w", p, rs.cause(ctx, err))
	}
	return answer, s.Close()
}

// SendMessage sends pmes to p on a new stream, expecting no answer.
func (rs *requestSender) SendMessage(ctx context.Context, p peer.ID, pmes *pb.Message) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	s, done, err := rs.send(ctx, p, pmes)
	if err != nil {
		return err
	}
	defer done()
	return s.Close()
}

// OnDisconnect has nothing to forget: no stream outlives its request.
func (rs *requestSender) OnDisconnect(context.Context, peer.ID) {}

// send opens a stream to p and writes pmes on it. The stream is reset when ctx ends
// (not every transport honours deadlines: mocknet's ignores them); the caller calls
// done once finished with the stream.
func (rs *requestSender) send(ctx context.Context, p peer.ID, pmes *pb.Message) (s network.Stream, done func(), err error) {
	s, err = rs.h.NewStream(ctx, p, rs.protos...)
	if err != nil {
		return nil, nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	done = func() { stop() }
	if err := pbio.NewDelimitedWriter(s).WriteMsg(pmes); err != nil {
		done()
		_ = s.Reset()
		return nil, nil, fmt.Errorf("kademlia: send to %s: %w", p, rs.cause(ctx, err))
	}
	return s, done, nil
}

// cause prefers the context's error: a reset by the AfterFunc reads as a stream error.
func (rs *requestSender) cause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), err)
	}
	return err
}
