// Package exchange moves content between peers: the /dhtnode/exchange/1.0.0 protocol on
// libp2p streams and a swarm downloader that fetches one content ID from several providers
// at once.
//
// # Model
//
// A content.ID names a content.Manifest (the content package defines both; the exchange
// reads manifests with content.Decode, or a ManifestDecoder a test passes). The manifest lists files with their Merkle roots and piece
// layers; the exchange numbers all pieces of all files in manifest order, and that number is
// what requests and "have" bitfields refer to. A piece arrives with the uncle hashes that
// prove it against its file's root (BEP 52); it is verified the moment it arrives and only
// then stored and written, so pieces may come from untrusted peers in any order.
//
// The protocol is request/response on one stream per provider (see wire.go): a client keeps a
// window of piece requests outstanding and the server answers in order. Every frame is
// length-prefixed and bounded; anything malformed closes the stream with an error frame.
// A server answers "have" from its store, so a node that is still downloading serves what it
// already holds.
//
// The downloader keeps per-provider windows sized to each peer's rate (faster peers get more
// work), re-requests the tail from a second peer (endgame), bans a peer after MaxBadPieces bad
// pieces, drops a peer that stalls for StallTimeout and hands its pieces to the others.
// Pieces already in the store are not fetched again, so an interrupted download resumes. The
// output appears only when complete: it is assembled in ".<name>.dhtnode-partial" next to the
// target and renamed.
//
// With a store that can link outputs (OutputLinker; the node's blockstore can), a download
// with an output writes each piece once, into the output, and the store serves the content
// from there, as a BitTorrent client seeds from the files it downloaded. An interrupted
// download then keeps its partial output, and the next run to the same target resumes from
// the pieces in it that still verify. Without an output, or with another store, pieces go
// into the store (and into the output, if any).
//
// # Goroutines
//
// Serving: the libp2p host runs one handler goroutine per incoming stream (at most 8 per
// peer); it decodes requests and prepares answers ahead (piece reads on up to eight short-lived
// goroutines, since a piece not in the page cache waits on the disk), and a writer goroutine
// sends them in order. Downloading: the caller of
// Download coordinates; per provider one goroutine owns the session and the scheduling, one
// reads answers and one writes requests; a pool of writers stores verified pieces (a store
// that writes with O_DIRECT or fsyncs is latency-bound). swarm, the pure scheduling state, is guarded by the
// download's mutex.
//
// # Usage
//
//	x, err := exchange.New(host, store, nil, exchange.DefaultConfig()) // nil: content.Decode
//	...
//	res, err := x.Download(ctx, exchange.Request{
//		ID:        id,
//		Providers: []peer.AddrInfo{provider},
//		Output:    "/tmp/file",
//		Progress:  func(p exchange.Progress) { fmt.Println(p.Bytes, p.Total) },
//	})
package exchange
