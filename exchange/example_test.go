package exchange_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/exchange"
	"github.com/dhtnode/dhtnode/merkle"
)

// mapStore is the smallest exchange.Store: everything in maps.
type mapStore struct {
	mu        sync.Mutex
	manifests map[content.ID][]byte
	pieces    map[merkle.PieceID][]byte
}

func newMapStore() *mapStore {
	return &mapStore{manifests: map[content.ID][]byte{}, pieces: map[merkle.PieceID][]byte{}}
}

func (s *mapStore) Manifest(id content.ID) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.manifests[id]; ok {
		return b, nil
	}
	return nil, exchange.ErrNotFound
}

func (s *mapStore) PutManifest(id content.ID, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.manifests[id] = b
	return nil
}

func (s *mapStore) HasPiece(id merkle.PieceID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pieces[id]
	return ok
}

func (s *mapStore) ReadPiece(c content.ID, i int, id merkle.PieceID, buf []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.pieces[id]
	if !ok || len(b) != len(buf) {
		return exchange.ErrNotFound
	}
	copy(buf, b)
	return nil
}

func (s *mapStore) PutPiece(_ content.ID, _ int, id merkle.PieceID, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pieces[id] = append([]byte(nil), data...)
	return nil
}

// Example shares one file between two peers on an in-memory network: the seeder stores the
// pieces and the manifest, the downloader fetches, verifies and writes it.
func Example() {
	mn, _ := mocknet.FullMeshLinked(2)
	defer mn.Close()
	hosts := mn.Hosts()

	// The seeder's content: one 40 KiB file, 16 KiB pieces.
	data := make([]byte, 40<<10)
	for i := range data {
		data[i] = byte(i)
	}
	seedStore := newMapStore()
	l, _ := merkle.NewLayout(int64(len(data)), 16<<10)
	file := content.File{Path: "hello.bin", Size: l.Size()}
	for i := 0; i < l.NumPieces(); i++ {
		piece := data[l.PieceOffset(i) : l.PieceOffset(i)+int64(l.PieceLen(i))]
		pid := merkle.PieceID{Root: merkle.HashPiece(piece, l.PieceHeight()), Height: uint8(l.PieceHeight())}
		file.Layer = append(file.Layer, pid.Root)
		_ = seedStore.PutPiece(content.ID{}, i, pid, piece)
	}
	file.Root, _ = merkle.RootFromLayer(l, file.Layer)
	block, err := content.Encode(&content.Manifest{Kind: content.KindFile, Name: "hello.bin", Size: l.Size(),
		PieceSize: l.PieceSize(), Files: []content.File{file}})
	if err != nil {
		fmt.Println(err)
		return
	}
	id := content.NewID(block)
	_ = seedStore.PutManifest(id, block)

	// A nil decoder reads content's manifests, checked against their ID.
	seeder, _ := exchange.New(hosts[0], seedStore, nil, exchange.DefaultConfig())
	defer seeder.Close()
	downloader, _ := exchange.New(hosts[1], newMapStore(), nil, exchange.DefaultConfig())
	defer downloader.Close()

	dir, _ := os.MkdirTemp("", "exchange-example-")
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "hello.bin")
	res, err := downloader.Download(context.Background(), exchange.Request{
		ID:        id,
		Providers: []peer.AddrInfo{{ID: hosts[0].ID(), Addrs: hosts[0].Addrs()}},
		Output:    out,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	got, _ := os.ReadFile(out)
	fmt.Println(res.Name, res.Size, res.Pieces, string(got) == string(data))
	// Output: hello.bin 40960 3 true
}
