package exchange

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// stallStore answers manifests and haves but never returns a piece (until the test ends).
type stallStore struct {
	Store
	release chan struct{}
}

func (s *stallStore) ReadPiece(c content.ID, i int, id merkle.PieceID, buf []byte) error {
	<-s.release
	return errors.New("released")
}

func TestStallingProviderIsDroppedAndPiecesFetchedElsewhere(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	nodes := newTestNodes(t, 3, func(i int, cfg *Config, s *memStore) Store {
		cfg.StallTimeout = 200 * time.Millisecond
		if i == 2 {
			cfg.MaxRate = 2 << 20 // slow enough that the stall shows before the end
		}
		if i == 0 {
			return &stallStore{Store: s, release: release}
		}
		return nil
	})
	data := randomBytes(1<<20, 21)
	id := addFile(t, nodes[0].store, "f", data, 16<<10)
	addFile(t, nodes[1].store, "f", data, 16<<10)
	out := filepath.Join(t.TempDir(), "f")
	res, err := nodes[2].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0], nodes[1]), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("output differs")
	}
	if res.Fetched[nodes[0].host.ID()] != 0 || res.Fetched[nodes[1].host.ID()] != 64 {
		t.Fatalf("fetched %v", res.Fetched)
	}
	if !strings.Contains(nodes[2].logs.String(), "provider stalled") {
		t.Fatal("stall not logged")
	}
}

func TestOnlyStallingProviderFails(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	nodes := newTestNodes(t, 2, func(i int, cfg *Config, s *memStore) Store {
		cfg.StallTimeout = 300 * time.Millisecond
		if i == 0 {
			return &stallStore{Store: s, release: release}
		}
		return nil
	})
	id := addFile(t, nodes[0].store, "f", randomBytes(100<<10, 1), 16<<10)
	_, err := nodes[1].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0])})
	if !errors.Is(err, ErrIncomplete) || !errors.Is(err, errStall) && !strings.Contains(err.Error(), "stalled") {
		t.Fatalf("got %v", err)
	}
}

// garbageProvider answers every request with a frame of an unknown type.
func garbageProvider(s network.Stream) {
	defer s.Close()
	r := bufio.NewReader(s)
	for {
		if _, err := readFrame(r, nil, MaxRequestSize); err != nil {
			return
		}
		if _, err := s.Write([]byte{3, 0x55, 1, 2}); err != nil {
			return
		}
	}
}

func TestMisbehavingProvidersAreDropped(t *testing.T) {
	nodes := newTestNodes(t, 3, nil)
	data := randomBytes(300<<10, 4)
	id := addFile(t, nodes[1].store, "f", data, 16<<10)
	nodes[0].host.SetStreamHandler(ProtocolID, garbageProvider)
	out := filepath.Join(t.TempDir(), "f")
	res, err := nodes[2].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0], nodes[1]), Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("output differs")
	}
	if res.Fetched[nodes[0].host.ID()] != 0 {
		t.Fatalf("fetched from the garbage provider: %v", res.Fetched)
	}
}

func TestServerClosesStreamOnMalformedRequest(t *testing.T) {
	nodes := newTestNodes(t, 2, nil)
	srv, cli := nodes[0], nodes[1]
	id := addFile(t, srv.store, "f", []byte("hello"), 16<<10)
	cases := map[string][]byte{
		"unknown type":  {2, 0x7E, 1},
		"oversized":     binary.AppendUvarint(nil, 1<<20),
		"bad cid":       {4, TypeManifestRequest, 0xFF, 0xFF, 0xFF},
		"truncated":     {50, TypeManifestRequest, 1},
		"unknown flags": append([]byte{byte(6 + len(id.Bytes())), TypePieceRequest, 0, 0, 0, 0, 0x80}, id.Bytes()...),
		"empty frame":   {0},
		"non-minimal":   {0x80, 0x00},
	}
	for name, frame := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := cli.host.NewStream(ctx, srv.host.ID(), ProtocolID)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = s.Write(frame)
		if name == "truncated" {
			_ = s.CloseWrite()
		}
		_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
		rest, _ := io.ReadAll(s)
		_ = s.Close()
		if len(rest) > 0 {
			body, err := readFrame(bufio.NewReader(bytes.NewReader(rest)), nil, 1<<16)
			if err != nil {
				t.Fatalf("%s: bad error frame %x", name, rest)
			}
			m, err := DecodeResponse(body, Limits{})
			if err != nil || m.Type != TypeError || m.Code != CodeBadRequest {
				t.Fatalf("%s: answer %+v, %v", name, m, err)
			}
		} else if name != "truncated" {
			t.Fatalf("%s: stream closed without an error frame", name)
		}
	}
	// The server is still fine.
	if _, err := cli.x.FetchManifest(testContext(t), id, infos(srv)); err != nil {
		t.Fatal(err)
	}
}

func TestWrongManifestFromPeerIsRefused(t *testing.T) {
	nodes := newTestNodes(t, 2, nil)
	real := addFile(t, newMemStore(t), "f", []byte("the real content"), 16<<10)
	other := addFile(t, nodes[0].store, "f", []byte("something else"), 16<<10)
	block, _ := nodes[0].store.Manifest(other)
	// A lying peer answers every manifest request with another manifest.
	nodes[0].host.SetStreamHandler(ProtocolID, func(s network.Stream) {
		defer s.Close()
		r := bufio.NewReader(s)
		for {
			if _, err := readFrame(r, nil, MaxRequestSize); err != nil {
				return
			}
			_, _ = s.Write(AppendFrame(nil, &Message{Type: TypeManifest, Data: block}))
		}
	})
	_, err := nodes[1].x.FetchManifest(testContext(t), real, infos(nodes[0]))
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), nodes[0].host.ID().String()) {
		t.Fatalf("got %v", err)
	}
}

func TestServerLimitsStreamsPerPeer(t *testing.T) {
	nodes := newTestNodes(t, 2, nil)
	srv, cli := nodes[0], nodes[1]
	id := addFile(t, srv.store, "f", []byte("hello"), 16<<10)
	var streams []network.Stream
	defer func() {
		for _, s := range streams {
			_ = s.Reset()
		}
	}()
	ask := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := cli.host.NewStream(ctx, srv.host.ID(), ProtocolID)
		if err != nil {
			return err
		}
		streams = append(streams, s)
		if _, err := s.Write(AppendFrame(nil, &Message{Type: TypeManifestRequest, ID: id.Bytes()})); err != nil {
			return err
		}
		_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = readFrame(bufio.NewReader(s), nil, 1<<20)
		return err
	}
	for i := 0; i < maxStreamsPerPeer; i++ {
		if err := ask(); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	if err := ask(); err == nil {
		t.Fatal("a stream beyond the per-peer limit was served")
	}
	// Closing one frees a slot.
	_ = streams[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for ask() != nil {
		if time.Now().After(deadline) {
			t.Fatal("slot not freed after a stream closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slowStore serves every piece after a delay: a slow but live provider.
type slowStore struct {
	Store
	delay time.Duration
}

func (s *slowStore) ReadPiece(c content.ID, i int, id merkle.PieceID, buf []byte) error {
	time.Sleep(s.delay)
	return s.Store.ReadPiece(c, i, id, buf)
}

func TestEndgameTakesOverFromASlowProvider(t *testing.T) {
	nodes := newTestNodes(t, 3, func(i int, cfg *Config, s *memStore) Store {
		if i == 0 {
			return &slowStore{Store: s, delay: 400 * time.Millisecond} // alive, never silent for long
		}
		return nil
	})
	data := randomBytes(2<<20, 31)
	id := addFile(t, nodes[0].store, "f", data, 16<<10)
	addFile(t, nodes[1].store, "f", data, 16<<10)
	start := time.Now()
	res, err := nodes[2].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0], nodes[1])})
	if err != nil {
		t.Fatal(err)
	}
	// The slow peer got a window of 8 requests (3.2 s of work); the fast one must take them
	// over instead of waiting for it.
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("took %v: the tail waited for the slow provider (fetched %v)", took, res.Fetched)
	}
	if res.Fetched[nodes[1].host.ID()] < 120 {
		t.Fatalf("fetched %v", res.Fetched)
	}
}

func TestProviderLostMidDownload(t *testing.T) {
	nodes := newTestNodes(t, 3, func(i int, cfg *Config, s *memStore) Store {
		if i == 2 {
			cfg.MaxRate = 4 << 20
		}
		return nil
	})
	data := randomBytes(2<<20, 41)
	id := addFile(t, nodes[0].store, "f", data, 16<<10)
	addFile(t, nodes[1].store, "f", data, 16<<10)
	out := filepath.Join(t.TempDir(), "f")
	var closed bool
	res, err := nodes[2].x.Download(testContext(t), Request{ID: id, Providers: infos(nodes[0], nodes[1]), Output: out,
		ProgressInterval: 10 * time.Millisecond,
		Progress: func(p Progress) {
			if !closed && p.Pieces > p.TotalPieces/4 {
				closed = true
				_ = nodes[0].host.Close() // the provider goes away mid-transfer
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !closed {
		t.Fatal("the provider was never closed")
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("output differs")
	}
	if res.Fetched[nodes[1].host.ID()] == 0 {
		t.Fatalf("fetched %v", res.Fetched)
	}
}
