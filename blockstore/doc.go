// Package blockstore is dhtnode's persistent, content-addressed store.
//
// Layout under Config.Dir (the node uses <repo>/blocks):
//
//	segments/<id>.seg  pieces appended at 4 KiB-aligned offsets, ~64 MiB a file
//	quarantine/        corrupt pieces copied out of the way when detected
//	meta.db            bbolt: the piece index (PieceID → segment, offset,
//	                   length, and its reverse by segment), manifests, pins,
//	                   download state ("have" bits), links of linked content
//
// A piece is named by its merkle.PieceID (the BEP 52 root of its 16 KiB blocks
// and the subtree height), so identical pieces are stored once (the index is
// looked up before a write) and every read is verified against the ID alone: a
// piece whose bytes do not match is reported as ErrCorrupt, never served,
// copied to quarantine/ and forgotten, so it counts as missing and a get
// fetches it again. Pieces are appended to a few open segments (with O_DIRECT
// on Linux when the length allows) instead of a file each: one file per 256
// KiB piece cost an openat, a rename and an inode per piece (segments.go).
// Durability is data first, then index: the segments written are fdatasynced
// before the transaction that commits their index entries together with what
// claims them (an add's manifest, bits and pin; a download's have bits). A
// crash leaves only bytes no entry points at, which the next Open cuts off or
// punches out, so an add killed at any moment leaves nothing behind. A store
// of the older one-file-per-piece layout (pieces/) is moved into segments on
// its first Open (migrate.go).
//
// Content is a manifest (package content) plus its pieces. Add reads, hashes
// and stores in one pass and commits index entries, manifest, "have" bits and
// pin in one transaction after the fdatasync; on any failure it forgets the
// pieces it wrote (and punches them out), so a full disk or a permission error
// leaves the store as it was.
// A downloader stores the manifest (PutManifest, which checks it against the
// ID), pins it, then PutContentPiece for each piece as it arrives: the piece is
// verified against the manifest before it touches the disk. Have reports which
// pieces are present, for resuming and for serving a partial download.
//
// Linked content (linked.go) keeps its bytes in files outside the store: a get
// that writes an output links it (LinkContent) and marks each piece it writes
// there (MarkLinkedPiece) instead of storing the piece too; AddLinked (add
// --link) links a user's file without copying it. Reads of a piece the store
// does not hold read the linked file at the piece's offset,
// verified like any piece; a linked file is never quarantined or deleted
// (except an abandoned download's scratch file, by GC), and a piece that no
// longer verifies there is only marked missing.
//
// GC removes unpinned manifests and every piece no pinned manifest uses
// (index entries first, then the space: a segment left empty is removed,
// dead pieces among live ones are punched out with fallocate); it excludes
// Add and PutContentPiece while it runs. Stat counts, Verify rehashes
// everything and reports damage.
//
//	s, err := blockstore.Open(blockstore.Config{Dir: filepath.Join(repo, "blocks")})
//	res, err := s.Add(ctx, "photos", blockstore.AddOptions{Recursive: true})
//	fmt.Println(res.ID)
//	err = s.WriteFile(ctx, res.ID, 0, os.Stdout) // cat: verified, read ahead in parallel
//
// Goroutines: a Store runs one background goroutine that commits downloaded
// pieces and dirty "have" bits every FlushInterval; Close stops it, flushes
// and trims its segments. All methods are safe
// for concurrent use.
package blockstore
