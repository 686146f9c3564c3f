package blockstore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/dhtnode/dhtnode/content"
)

// Sentinel errors. Every error from a Store wraps one of these or an
// operating-system error (with the path and what the store was doing).
var (
	// ErrNotFound: no such piece, manifest or content in the store.
	ErrNotFound = errors.New("blockstore: not found")
	// ErrCorrupt: a piece file whose bytes do not hash to its name. It is
	// never served; the file is moved to the quarantine directory, so the piece
	// counts as missing and a get fetches it again.
	ErrCorrupt = errors.New("blockstore: corrupt piece")
	// ErrLocked: another process (a running daemon) has the store open.
	ErrLocked = errors.New("blockstore: store is in use by another process")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("blockstore: closed")
)

// Config configures a Store. Only Dir is required.
type Config struct {
	// Dir is the store's directory (created if missing), e.g. <repo>/blocks.
	Dir string
	// NoSync skips fsync of piece files and of the metadata database. Only for
	// tests and throwaway stores: a crash may then lose pieces (they are still
	// verified on read, so a torn piece is reported, never served).
	NoSync bool
	// Logger receives warnings (corrupt pieces); nil discards.
	Logger *slog.Logger
	// Registerer receives the store's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// FlushInterval is how often download state ("have" bits) is written to
	// the database (0 = 1s). Bits lost in a crash are recovered on open from
	// the piece files themselves.
	FlushInterval time.Duration
}

// Store is a persistent content-addressed store: immutable piece files named
// by their merkle.PieceID, plus manifests, pins and download state in bbolt.
// A Store is safe for concurrent use; one process opens a directory at a time.
type Store struct {
	cfg     Config
	log     *slog.Logger
	db      *bolt.DB
	pieces  string // <dir>/pieces/<shard>/<name>
	session string // names this Open's temp files: .tmp-<session>-*
	corrupt string // <dir>/quarantine: corrupt pieces moved out of the way
	metrics *metrics

	// gcLock: operations that create unpinned pieces they are about to pin
	// (Add, PutContentPiece) hold it shared; GC holds it exclusively.
	gcLock sync.RWMutex

	mu        sync.Mutex
	closed    bool
	manifests map[string]*content.Manifest // by string(id.Bytes())
	have      map[string]*haveState
	links     map[string]Link // linked content (see linked.go), by string(id.Bytes())
	shards    sync.Map        // shard dirs known to exist

	// unsynced: a piece file was written since the last syncPieces (Linux
	// batches durability: see batchedSync).
	unsynced atomic.Bool
	syncMu   sync.Mutex // one syncfs at a time; a caller arriving meanwhile waits and rechecks

	// noDirect: this file system refused O_DIRECT; pieces go through the
	// page cache (see direct_linux.go).
	noDirect atomic.Bool
	// noCachestat: the kernel lacks cachestat(2); piece reads go through
	// the page cache.
	noCachestat atomic.Bool
	tempSeq     atomic.Uint64 // names temp files: .tmp-<session>-<seq>
	dbufMu      sync.Mutex
	dbufs       [][]byte // aligned scratch buffers for direct I/O

	stop    chan struct{}
	done    chan struct{} // flusher exited
	cleaned chan struct{} // stale temp files removed

	// writeHook, if set (tests only), replaces the write of a temp piece
	// file: it is how a full disk is simulated everywhere.
	writeHook func(f *os.File, data []byte) error
}

var (
	bucketManifests = []byte("manifests") // content ID bytes -> manifest bytes
	bucketPins      = []byte("pins")      // content ID bytes -> pin time (unix seconds, 8 bytes BE)
	bucketHave      = []byte("have")      // content ID bytes -> bitfield of verified pieces
	bucketLinks     = []byte("links")     // content ID bytes -> Link (JSON) of linked content
)

// Open opens (creating if needed) the store in cfg.Dir, removes temp files
// left by a crash, and starts the background flusher. It returns ErrLocked if
// another process has the store open.
func Open(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("blockstore: Config.Dir is empty")
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		cfg:       cfg,
		log:       log.With("subsystem", "blockstore"),
		pieces:    filepath.Join(cfg.Dir, "pieces"),
		session:   randomToken(),
		corrupt:   filepath.Join(cfg.Dir, "quarantine"),
		manifests: make(map[string]*content.Manifest),
		have:      make(map[string]*haveState),
		links:     make(map[string]Link),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		cleaned:   make(chan struct{}),
	}
	for _, d := range []string{cfg.Dir, s.pieces, s.corrupt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("blockstore: creating %s: %w", d, err)
		}
	}
	db, err := bolt.Open(filepath.Join(cfg.Dir, "meta.db"), 0o600, &bolt.Options{Timeout: time.Second, NoSync: cfg.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (is a daemon running?)", ErrLocked, cfg.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("blockstore: opening metadata %s: %w", filepath.Join(cfg.Dir, "meta.db"), err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketManifests, bucketPins, bucketHave, bucketLinks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("blockstore: initialising metadata: %w", err)
	}
	s.db = db
	if err := s.loadLinks(); err != nil {
		db.Close()
		return nil, fmt.Errorf("blockstore: reading links: %w", err)
	}
	s.metrics = newMetrics(cfg.Registerer)
	go s.flusher()
	// Only now, holding the database lock, is it safe to clean up: a temp
	// file of an earlier session is a piece a crash interrupted before its
	// rename, never visible, now garbage. It runs in the background because
	// it reads every shard directory; temp names never parse as pieces, so
	// nothing waits for it.
	go s.cleanTemps()
	return s, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.cfg.Dir }

// Close writes pending download state and closes the database. Pieces are
// already durable. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	<-s.cleaned
	ferr := s.flush()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("blockstore: closing metadata: %w", err)
	}
	return ferr
}

func (s *Store) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

func randomToken() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// tempPrefix starts every temp file name; no piece name starts with ".".
const tempPrefix = ".tmp-"

// cleanTemps removes the temp files of earlier sessions from every shard
// (and the tmp/ directory of older versions of this package).
func (s *Store) cleanTemps() {
	defer close(s.cleaned)
	os.RemoveAll(filepath.Join(s.cfg.Dir, "tmp"))
	mine := tempPrefix + s.session + "-"
	shards, err := os.ReadDir(s.pieces)
	if err != nil {
		return
	}
	removed := 0
	for _, sh := range shards {
		select {
		case <-s.stop:
			return
		default:
		}
		dir := filepath.Join(s.pieces, sh.Name())
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if n := e.Name(); strings.HasPrefix(n, tempPrefix) && !strings.HasPrefix(n, mine) {
				if os.Remove(filepath.Join(dir, n)) == nil {
					removed++
				}
			}
		}
	}
	if removed > 0 {
		s.log.Info("removed temp files left by a crash", "count", removed)
	}
}

func (s *Store) flusher() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.flush(); err != nil {
				s.log.Warn("writing download state", "err", err)
			}
		}
	}
}

// syncPieces makes every piece written so far durable (one syncfs), if any
// was written since the last call. It runs before a commit that claims
// pieces: an add's manifest and bits, a download's have bits.
func (s *Store) syncPieces() error {
	if s.cfg.NoSync {
		return nil
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if !s.unsynced.Swap(false) {
		return nil
	}
	if err := syncFS(s.pieces); err != nil {
		s.unsynced.Store(true)
		return fmt.Errorf("blockstore: syncing pieces: %w", err)
	}
	return nil
}
