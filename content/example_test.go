package content_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/dhtnode/dhtnode/content"
)

func Example() {
	// add -n: hash only, store nothing.
	data := bytes.Repeat([]byte("dhtnode "), 100000)
	res, err := content.AddReader(context.Background(), "hello.txt", bytes.NewReader(data), content.AddOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.ID, res.Manifest.NumPieces(), "pieces")

	// A peer sends the manifest bytes for an ID: check before use.
	id, _ := content.ParseID(res.ID.String())
	m, err := content.Decode(id, res.Encoded)
	fmt.Println(m.Files[0].Path, m.Files[0].Size, err)

	_, err = content.Decode(id, append(res.Encoded, ' '))
	fmt.Println(err)

	_, err = content.ParseID("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
	fmt.Println(err)
	// Output:
	// bagaaieragiqsvlt3e2ddnuulhrw57mgpvaoi25fwnxru5ouwlgq25pftzvta 4 pieces
	// hello.txt 800000 <nil>
	// manifest does not match its content ID: bagaaieragiqsvlt3e2ddnuulhrw57mgpvaoi25fwnxru5ouwlgq25pftzvta
	// invalid content ID: QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG is a CIDv0 (an IPFS dag-pb ID), not a dhtnode content ID
}
