package blockstore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dhtnode/dhtnode/blockstore"
)

func Example() {
	dir, _ := os.MkdirTemp("", "blockstore-example")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "hello.txt")
	os.WriteFile(file, bytes.Repeat([]byte("dhtnode "), 100000), 0o644)

	s, err := blockstore.Open(blockstore.Config{Dir: filepath.Join(dir, "blocks")})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	res, err := s.Add(context.Background(), file, blockstore.AddOptions{}) // stored and pinned
	if err != nil {
		panic(err)
	}
	info, _ := s.Info(res.ID)
	fmt.Println(info.Name, info.Size, info.Have, "of", info.Pieces, "pieces, pinned:", info.Pinned)

	var out bytes.Buffer
	err = s.WriteFile(context.Background(), res.ID, 0, &out) // cat: every piece verified
	fmt.Println(out.Len(), err)
	// Output:
	// hello.txt 800000 4 of 4 pieces, pinned: true
	// 800000 <nil>
}
