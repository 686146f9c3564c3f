package memhost

import (
	"io"
	"os"
	"sync"
	"time"
)

// pipe carries one direction of a stream: the writer's bytes wait in buf until the
// reader takes them. Writes never block (a simulated peer has no flow control to
// honour); reads block until data, end of stream, failure or the read deadline.
type pipe struct {
	mu       sync.Mutex
	buf      []byte
	eof      bool      // the writer closed its end: reads drain buf, then io.EOF
	discard  bool      // the reader closed its end: writes are accepted and dropped
	err      error     // reset: reads and writes fail with it
	deadline time.Time // read deadline; zero for none
	// wake has room for one signal: a change a blocked reader must look at.
	wake chan struct{}
}

func newPipe() *pipe { return &pipe{wake: make(chan struct{}, 1)} }

func (p *pipe) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *pipe) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.err != nil:
		return 0, p.err
	case p.eof:
		return 0, errWriteClosed
	case p.discard:
		return len(b), nil
	}
	p.buf = append(p.buf, b...)
	p.signal()
	return len(b), nil
}

func (p *pipe) read(b []byte) (int, error) {
	for {
		p.mu.Lock()
		if p.err != nil {
			p.signal() // for another reader blocked on the same end
			p.mu.Unlock()
			return 0, p.err
		}
		if p.discard {
			p.signal()
			p.mu.Unlock()
			return 0, errReadClosed
		}
		if len(p.buf) > 0 {
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			if len(p.buf) == 0 {
				p.buf = nil // let a drained message's bytes go
			}
			p.mu.Unlock()
			return n, nil
		}
		if p.eof {
			p.signal()
			p.mu.Unlock()
			return 0, io.EOF
		}
		deadline := p.deadline
		p.mu.Unlock()

		if deadline.IsZero() {
			<-p.wake
			continue
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(wait)
		select {
		case <-p.wake:
			t.Stop()
		case <-t.C:
			// Loop once more: data that arrived with the deadline still counts, and
			// a deadline moved later is honoured.
		}
	}
}

// closeWrite ends the stream in this direction: the reader drains, then sees io.EOF.
func (p *pipe) closeWrite() {
	p.mu.Lock()
	p.eof = true
	p.signal()
	p.mu.Unlock()
}

// closeRead stops reading: buffered and later bytes are dropped.
func (p *pipe) closeRead() {
	p.mu.Lock()
	p.discard = true
	p.buf = nil
	p.signal()
	p.mu.Unlock()
}

// fail resets this direction; the first failure sticks.
func (p *pipe) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
		p.buf = nil
	}
	p.signal()
	p.mu.Unlock()
}

func (p *pipe) setReadDeadline(t time.Time) {
	p.mu.Lock()
	p.deadline = t
	p.signal()
	p.mu.Unlock()
}
