// Package content defines what dhtnode shares: the manifest that describes a
// file or a directory, the content ID that names a manifest, and Add, the
// streaming pipeline that turns files into pieces, a manifest and an ID.
//
// # Manifest
//
// A manifest lists, for content named Name: its Kind ("file" or "dir"), the
// total Size, the PieceSize shared by all files, and per file its relative
// Path, Size, BEP 52 Merkle Root and piece layer (only for files of more than
// one piece, as in BEP 52; a one-piece file is verified against its root).
// Every file starts at a piece boundary, so pieces are numbered content-wide
// (Manifest.Piece) and a "have" bitfield covers all files.
//
// The encoding is compact JSON, version 1, with fields in a fixed order, hashes
// in hex (the root, as BitTorrent tools print a pieces root) and piece layers
// as base64 of the concatenated 32-byte hashes:
//
//	{"version":1,"kind":"file","name":"a.iso","size":800000,"pieceSize":262144,
//	 "files":[{"path":"a.iso","size":800000,"root":"9f2c…","pieceLayer":"q83v…"}]}
//
// The encoding is deterministic and Unmarshal accepts only the canonical bytes
// (it re-encodes and compares), so one content has exactly one ID. Decoders
// bound everything: MaxManifestSize (16 MiB), MaxFiles, MaxPathLen.
//
// # Content ID
//
// The ID is a CIDv1 whose multihash is sha2-256 of the encoded manifest,
// printed in base32 ("bagaaiera…"). Its multicodec is json (0x0200), because
// that is exactly what the bytes are: any CID tool names the format correctly,
// and `ipfs block get`-style tooling or a human with `jq` can read a fetched
// manifest. A binary encoding under raw (0x55) would have been about 25%
// smaller for the piece layers but says nothing about the format; dag-json
// (0x0129) would promise IPLD links we do not use. The manifest is small next
// to the content (about 43 bytes of JSON per 256 KiB piece, 0.02%).
//
// # Safety
//
// Bytes from a peer go through Decode(id, bytes), which checks the hash
// against the ID before parsing. Validate refuses any path that could escape
// the output directory or clash: "..", ".", absolute, empty components,
// backslashes, NUL and control characters, invalid UTF-8, duplicates, and a
// path that is both a file and a directory. Paths must be sorted.
//
// # Add
//
//	res, err := content.Add(ctx, "photos", content.AddOptions{Recursive: true, Sink: store})
//	fmt.Println(res.ID) // bagaaiera…
//
// With Sink == nil, Add only computes the ID (add -n). Each byte is read
// once and hashed once; pieces are hashed and handed to the sink on a pool of
// workers while the next ones are read.
package content
