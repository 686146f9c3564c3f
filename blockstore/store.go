package blockstore

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// Sentinel errors. Every error from a Store wraps one of these or an
// operating-system error (with the path and what the store was doing).
var (
	// ErrNotFound: no such piece, manifest or content in the store.
	ErrNotFound = errors.New("blockstore: not found")
	// ErrCorrupt: a stored piece whose bytes do not hash to its ID. It is
	// never served; its bytes are copied to the quarantine directory and the
	// piece is forgotten, so it counts as missing and a get fetches it again.
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
	// NoSync skips fdatasync of segments and fsync of the metadata database.
	// Only for tests and throwaway stores: a crash may then lose pieces (they
	// are still verified on read, so a torn piece is reported, never served).
	NoSync bool
	// Logger receives warnings (corrupt pieces); nil discards.
	Logger *slog.Logger
	// Registerer receives the store's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// FlushInterval is how often download state (have bits, and the index
	// entries of downloaded pieces) is committed to the database (0 = 1s).
	FlushInterval time.Duration
}

// Store is a persistent content-addressed store: pieces appended to segment
// files and indexed by their merkle.PieceID, plus manifests, pins and download
// state in bbolt. A Store is safe for concurrent use; one process opens a
// directory at a time.
type Store struct {
	cfg     Config
	log     *slog.Logger
	db      *bolt.DB
	segs    *segments
	corrupt string // <dir>/quarantine: corrupt pieces copied out of the way
	metrics *metrics

	// gcLock: operations that create unpinned pieces they are about to pin
	// (Add, PutContentPiece) hold it shared; GC holds it exclusively.
	gcLock sync.RWMutex

	mu        sync.Mutex
	closed    bool
	manifests map[string]*content.Manifest // by string(id.Bytes())
	have      map[string]*haveState
	links     map[string]Link // linked content (see linked.go), by string(id.Bytes())

	pmu     sync.Mutex
	pending map[merkle.PieceID]*pendingPiece // written, index entry not committed yet

	// noDirect: this file system refused O_DIRECT; pieces go through the
	// page cache (see direct_linux.go).
	noDirect atomic.Bool
	// noCachestat: the kernel lacks cachestat(2); piece reads go through
	// the page cache.
	noCachestat atomic.Bool
	dbufMu      sync.Mutex
	dbufs       [][]byte // aligned scratch buffers for direct I/O

	stop chan struct{}
	done chan struct{} // flusher exited

	// writeHook, if set (tests only), replaces the write of a piece into a
	// segment: it is how a full disk is simulated everywhere.
	writeHook func(f *os.File, off int64, data []byte) error
}

var (
	bucketManifests = []byte("manifests") // content ID bytes -> manifest bytes
	bucketPins      = []byte("pins")      // content ID bytes -> pin time (unix seconds, 8 bytes BE)
	bucketHave      = []byte("have")      // content ID bytes -> bitfield of verified pieces
	bucketLinks     = []byte("links")     // content ID bytes -> Link (JSON) of linked content
	// and bucketIndex, bucketExtents, bucketSegments (segments.go)
)

// Open opens (creating if needed) the store in cfg.Dir, reclaims what an
// interrupted session left unindexed in its segments, moves the pieces of the
// older one-file-per-piece layout into segments, and starts the background
// flusher. It returns ErrLocked if another process has the store open.
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
		corrupt:   filepath.Join(cfg.Dir, "quarantine"),
		manifests: make(map[string]*content.Manifest),
		have:      make(map[string]*haveState),
		links:     make(map[string]Link),
		pending:   make(map[merkle.PieceID]*pendingPiece),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	for _, d := range []string{cfg.Dir, s.corrupt} {
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
	fail := func(what string, err error) (*Store, error) {
		if s.segs != nil {
			s.segs.closeAll()
		}
		db.Close()
		return nil, fmt.Errorf("blockstore: %s: %w", what, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketManifests, bucketPins, bucketHave, bucketLinks, bucketIndex, bucketExtents, bucketSegments} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail("initialising metadata", err)
	}
	s.db = db
	if err := s.loadLinks(); err != nil {
		return fail("reading links", err)
	}
	// Only now, holding the database lock, is it safe to touch segments: the
	// ones an earlier session did not close cleanly may hold pieces a crash
	// left unindexed (an add killed part way), which no one can ever claim.
	segs, ids, err := newSegments(filepath.Join(cfg.Dir, "segments"), s.noDirect.Load)
	if err != nil {
		return fail("opening segments", err)
	}
	s.segs = segs
	if err := s.trimUnclean(ids); err != nil {
		return fail("reclaiming an interrupted session's pieces", err)
	}
	s.metrics = newMetrics(cfg.Registerer)
	if err := s.migrate(); err != nil {
		return fail("moving piece files into segments", err)
	}
	go s.flusher()
	return s, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.cfg.Dir }

// Close writes pending download state, trims this session's segments to
// what is indexed and closes the database. Close is idempotent.
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
	ferr := s.flush()
	s.segs.retire()
	// Writeback ends before trim closes segments: nothing hands a range of a
	// file about to close to the disk (and the trims' fdatasyncs need no hint).
	s.segs.wb.stop()
	if ferr == nil {
		s.segs.mu.Lock()
		var mine []uint32
		for id := range s.segs.mine {
			mine = append(mine, id)
		}
		s.segs.mu.Unlock()
		var clean []uint32
		for _, id := range mine {
			if _, _, err := s.trim(id); err == nil {
				clean = append(clean, id)
			}
		}
		ferr = s.markClean(clean)
	}
	s.segs.closeAll()
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

// syncPieces makes every piece written so far durable (fdatasync of each
// segment written since its last sync). It runs before a commit that claims
// pieces: an add's manifest and bits, a download's have bits.
func (s *Store) syncPieces() error {
	if s.cfg.NoSync {
		return nil
	}
	if err := s.segs.sync(); err != nil {
		return fmt.Errorf("blockstore: %w", err)
	}
	return nil
}
