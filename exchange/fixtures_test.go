package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// memStore is the in-memory twin of the blockstore. PutPiece re-verifies every piece so a
// test fails the moment a corrupt piece would have been stored.
type memStore struct {
	t         testing.TB
	mu        sync.Mutex
	manifests map[string][]byte
	pieces    map[merkle.PieceID][]byte
	puts      atomic.Int64
}

func newMemStore(t testing.TB) *memStore {
	return &memStore{t: t, manifests: make(map[string][]byte), pieces: make(map[merkle.PieceID][]byte)}
}

var _ Store = (*memStore)(nil)

func (s *memStore) Manifest(id content.ID) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.manifests[id.String()]
	if !ok {
		return nil, fmt.Errorf("manifest %s: %w", id, ErrNotFound)
	}
	return b, nil
}

func (s *memStore) PutManifest(id content.ID, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.manifests[id.String()] = append([]byte(nil), b...)
	return nil
}

func (s *memStore) HasPiece(id merkle.PieceID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pieces[id]
	return ok
}

func (s *memStore) ReadPiece(c content.ID, i int, id merkle.PieceID, buf []byte) error {
	s.mu.Lock()
	b, ok := s.pieces[id]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("piece %s: %w", id, ErrNotFound)
	}
	if len(b) != len(buf) {
		return fmt.Errorf("piece %s: length %d, want %d", id, len(b), len(buf))
	}
	copy(buf, b)
	return nil
}

func (s *memStore) PutPiece(_ content.ID, _ int, id merkle.PieceID, data []byte) error {
	return s.put(id, data)
}

func (s *memStore) put(id merkle.PieceID, data []byte) error {
	if err := id.Verify(data); err != nil {
		s.t.Errorf("a piece that fails verification reached the store: %v", err)
		return err
	}
	s.puts.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pieces[id] = append([]byte(nil), data...)
	return nil
}

func (s *memStore) pieceCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pieces)
}

// corruptStore lies: every third piece it reads has one byte flipped.
type corruptStore struct {
	Store
	reads atomic.Int64
}

func (s *corruptStore) ReadPiece(c content.ID, i int, id merkle.PieceID, buf []byte) error {
	if err := s.Store.ReadPiece(c, i, id, buf); err != nil {
		return err
	}
	if s.reads.Add(1)%3 == 0 {
		buf[len(buf)/2] ^= 0xFF
	}
	return nil
}

// The test manifest format: content's manifest types as plain JSON, not checked by
// content (so tests can hand the exchange manifests content would refuse), named by
// content.NewID(JSON) as real manifests are.
func testDecode(id content.ID, block []byte) (*content.Manifest, error) {
	if err := checkTestID(id, block); err != nil {
		return nil, err
	}
	var m content.Manifest
	if err := json.Unmarshal(block, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func checkTestID(id content.ID, block []byte) error {
	if want := content.NewID(block); want != id {
		return fmt.Errorf("manifest hashes to %s, not %s", want, id)
	}
	return nil
}

// fileSpec hashes data the way add does and stores its pieces in s (if not nil).
func fileSpec(t testing.TB, s *memStore, path string, data []byte, pieceSize int64) content.File {
	t.Helper()
	l, err := merkle.NewLayout(int64(len(data)), pieceSize)
	if err != nil {
		t.Fatal(err)
	}
	f := content.File{Path: path, Size: int64(len(data))}
	if len(data) == 0 {
		return f
	}
	h := l.PieceHeight()
	for i := 0; i < l.NumPieces(); i++ {
		piece := data[l.PieceOffset(i) : l.PieceOffset(i)+int64(l.PieceLen(i))]
		pid := merkle.PieceID{Root: merkle.HashPiece(piece, h), Height: uint8(h)}
		f.Layer = append(f.Layer, pid.Root)
		if s != nil {
			if err := s.put(pid, piece); err != nil {
				t.Fatal(err)
			}
		}
	}
	if f.Root, err = merkle.RootFromLayer(l, f.Layer); err != nil {
		t.Fatal(err)
	}
	if !l.HasPieceLayer() {
		f.Layer = nil
	}
	return f
}

// addManifest stores manifest m (its Size the sum of its files) in s and returns its ID.
func addManifest(t testing.TB, s *memStore, m *content.Manifest) content.ID {
	t.Helper()
	m.Size = 0
	for _, f := range m.Files {
		m.Size += f.Size
	}
	block, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	id := content.NewID(block)
	if err := s.PutManifest(id, block); err != nil {
		t.Fatal(err)
	}
	return id
}

// addFile adds data as a single-file manifest to s.
func addFile(t testing.TB, s *memStore, name string, data []byte, pieceSize int64) content.ID {
	t.Helper()
	return addManifest(t, s, &content.Manifest{Kind: content.KindFile, Name: name, PieceSize: pieceSize, Files: []content.File{fileSpec(t, s, name, data, pieceSize)}})
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// testNode is one in-process peer: a mocknet host, a store and an exchange.
type testNode struct {
	host  host.Host
	store *memStore
	x     *Exchange
	logs  *logBuffer
}

func (n *testNode) info() peer.AddrInfo {
	return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.StallTimeout = 2 * time.Second
	cfg.HaveInterval = 100 * time.Millisecond
	return cfg
}

// newTestNodes starts n fully linked mocknet peers; tweak may adjust each node's config and
// store before its exchange starts.
func newTestNodes(t testing.TB, n int, tweak func(i int, cfg *Config, s *memStore) Store) []*testNode {
	t.Helper()
	mn, err := mocknet.FullMeshLinked(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mn.Close() })
	nodes := make([]*testNode, n)
	for i, h := range mn.Hosts() {
		cfg := testConfig()
		logs := &logBuffer{}
		cfg.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testLogWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo}))
		s := newMemStore(t)
		var st Store = s
		if tweak != nil {
			if alt := tweak(i, &cfg, s); alt != nil {
				st = alt
			}
		}
		x, err := New(h, st, testDecode, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = x.Close() })
		nodes[i] = &testNode{host: h, store: s, x: x, logs: logs}
	}
	return nodes
}

// testLogWriter sends logs to t.Log only when -v, so failures show context.
type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func infos(nodes ...*testNode) []peer.AddrInfo {
	out := make([]peer.AddrInfo, len(nodes))
	for i, n := range nodes {
		out[i] = n.info()
	}
	return out
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx, cancel
}
