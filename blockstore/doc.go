// Package blockstore is dhtnode's persistent, content-addressed store.
//
// Layout under Config.Dir (the node uses <repo>/blocks):
//
//	pieces/<shard>/<name>   immutable piece files; name = base32(PieceID), shard =
//	                        the two characters before the last (flatfs next-to-last/2)
//	pieces/<shard>/.tmp-*   a piece being written, renamed to <name> once written;
//	                        those of earlier sessions (a crash) are removed after Open
//	quarantine/             corrupt piece files moved aside when detected
//	meta.db                 bbolt: manifests, pins, download state ("have" bits),
//	                        links of linked content
//
// A piece is named by its merkle.PieceID (the BEP 52 root of its 16 KiB blocks
// and the subtree height), so identical pieces are stored once and every read
// is verified against the name alone: a corrupt file is reported as ErrCorrupt,
// never served, and moved to quarantine/ so the piece counts as missing and a
// get fetches it again. A piece is written to a temp file in its shard (with
// O_DIRECT on Linux when its length allows) and renamed into place, so a
// reader never sees it half-written. A piece not in the page cache is read
// with O_DIRECT too, except by WriteFile (cat), which keeps what it reads
// cached for the next cat. Durability is batched: one syncfs runs
// before anything that claims pieces is committed (an add's manifest, bits and
// pin; a download's have bits), instead of an fsync per piece (off Linux each
// piece is still fsynced). A crash may leave a temp file, which the next Open
// removes, or an unsynced piece torn under its name, which no committed state
// claims and every read rejects.
//
// Content is a manifest (package content) plus its pieces. Add reads, hashes
// and stores in one pass and commits manifest, "have" bits and pin in one
// transaction after one syncfs; on any failure it removes the pieces it
// created, so a full disk or a permission error leaves the store as it was.
// A downloader stores the manifest (PutManifest, which checks it against the
// ID), pins it, then PutContentPiece for each piece as it arrives: the piece is
// verified against the manifest before it touches the disk. Have reports which
// pieces are present, for resuming and for serving a partial download.
//
// Linked content (linked.go) keeps its bytes in files outside the store: a get
// that writes an output links it (LinkContent) and marks each piece it writes
// there (MarkLinkedPiece) instead of writing a piece file too. Reads of a
// piece with no piece file read the linked file at the piece's offset,
// verified like any piece; a linked file is never quarantined or deleted
// (except an abandoned download's scratch file, by GC), and a piece that no
// longer verifies there is only marked missing.
//
// GC removes unpinned manifests and every piece no pinned manifest uses; it
// excludes Add and PutContentPiece while it runs. Stat counts, Verify rehashes
// everything and reports damage.
//
//	s, err := blockstore.Open(blockstore.Config{Dir: filepath.Join(repo, "blocks")})
//	res, err := s.Add(ctx, "photos", blockstore.AddOptions{Recursive: true})
//	fmt.Println(res.ID)
//	err = s.WriteFile(ctx, res.ID, 0, os.Stdout) // cat: verified, read ahead in parallel
//
// Goroutines: a Store runs one background goroutine that writes dirty "have"
// bits every FlushInterval; Close stops it and flushes. All methods are safe
// for concurrent use.
package blockstore
