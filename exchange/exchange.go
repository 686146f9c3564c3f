package exchange

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/merkle"
)

// ProtocolID is the libp2p protocol the exchange speaks.
const ProtocolID protocol.ID = "/dhtnode/exchange/1.0.0"

// Errors returned by the exchange. Each is wrapped with detail (which peer, which piece).
var (
	// ErrNotFound: the store (ours or a peer's) does not hold the manifest or piece.
	ErrNotFound = errors.New("exchange: not found")
	// ErrNoProviders: no provider was given, or none could be reached.
	ErrNoProviders = errors.New("exchange: no provider reachable")
	// ErrVerification: data from a peer failed verification (wrong manifest for the ID, or a
	// piece that does not match its Merkle proof). The message names the peer.
	ErrVerification = errors.New("exchange: verification failed")
	// ErrIncomplete: every usable provider was tried and some pieces are still missing.
	ErrIncomplete = errors.New("exchange: download incomplete")
	// ErrExists: the output path already exists.
	ErrExists = errors.New("exchange: output already exists")
	// ErrUnsafePath: a manifest names a path that would escape the output directory. It is
	// content's error, so one errors.Is check covers a path refused by either package.
	ErrUnsafePath = content.ErrUnsafePath
	// ErrClosed: the exchange was closed.
	ErrClosed = errors.New("exchange: closed")
)

// Store is what the exchange needs from the blockstore (a consumer-owned interface: the node
// passes the real blockstore through a thin adapter, tests pass a map). Implementations must be
// safe for concurrent use.
type Store interface {
	// Manifest returns the raw manifest block of id, or an error wrapping ErrNotFound.
	Manifest(id content.ID) ([]byte, error)
	// PutManifest stores a manifest block the caller has checked against id.
	PutManifest(id content.ID, block []byte) error
	// HasPiece reports whether the piece is stored.
	HasPiece(id merkle.PieceID) bool
	// ReadPiece fills buf (exactly the piece's length) with piece index of content id,
	// verified against piece. It returns an error wrapping ErrNotFound when absent; any other
	// error means the stored copy is unusable (corrupt, unreadable).
	ReadPiece(id content.ID, index int, piece merkle.PieceID, buf []byte) error
	// PutPiece stores piece index (content-wide, as the manifest numbers them) of content id;
	// the caller has verified data against piece. The content's manifest was stored first.
	// Pieces that occur several times in one content are put once per index.
	PutPiece(id content.ID, index int, piece merkle.PieceID, data []byte) error
}

// HaveReporter is an optional Store ability, found by type assertion: the encoded bitfield
// (BitTorrent layout, see content.Bitfield) of the pieces of content id the store holds. A blockstore
// that keeps one per content answers a have request with one lookup instead of a HasPiece
// call per piece. A bit may be clear for a piece that is present (the server then says it
// lacks it); it must never be set for one that is absent.
type HaveReporter interface {
	Have(id content.ID, pieces int) ([]byte, error)
}

// OutputLinker is an optional Store ability, found by type assertion: the store can serve
// a content's pieces from the download's output, so a download with an output writes each
// piece once, there, instead of also into the store (see blockstore's linked content). The
// download's scratch output (".<name>.dhtnode-partial") is then kept when a download is
// interrupted, and the next download of the content to the same target resumes from the
// pieces in it that still verify.
type OutputLinker interface {
	// LinkOutput records that content id's bytes are written at path, which a download
	// renames to final when complete (path == final once it has).
	LinkOutput(id content.ID, path, final string) error
	// UnlinkOutput forgets the link (its scratch output was removed).
	UnlinkOutput(id content.ID) error
	// OutputPieceWritten records that piece index of id, verified, is written in the linked
	// output.
	OutputPieceWritten(id content.ID, index int) error
}

// Config tunes the exchange. The zero value is not valid; start from DefaultConfig.
type Config struct {
	// Window is the number of piece requests kept outstanding at a new peer, and the least any
	// peer gets (default 8). Pipelining hides the round trip.
	Window int
	// MaxWindow caps the outstanding requests per peer (default 64).
	MaxWindow int
	// WindowHorizon sizes each peer's window to what it delivers in this time (default 200ms),
	// so faster peers get more requests outstanding and so more of the work.
	WindowHorizon time.Duration
	// StallTimeout drops a peer that has requests outstanding and sends nothing for this long
	// (default 10s); its pieces are requested elsewhere.
	StallTimeout time.Duration
	// MaxBadPieces bans a peer after this many pieces that failed verification (default 4,
	// as libtorrent does). A banned peer is refused by every later download of this exchange.
	MaxBadPieces int
	// MaxInflightBytes bounds the piece bytes one download has requested and not yet
	// received, across all providers (default 32 MiB; each provider keeps at least one
	// request). It bounds memory: answers in flight sit in stream buffers.
	MaxInflightBytes int64
	// MaxPeers bounds the providers one download uses at once (default 16).
	MaxPeers int
	// HaveInterval is how often a download asks peers that lack pieces for a fresh have
	// bitfield (default 1s): a provider that is still downloading serves more over time.
	HaveInterval time.Duration
	// MaxRate limits each download to this many bytes per second (0 = unlimited). It exists to
	// make tests of interrupted downloads deterministic and to be polite on slow links.
	MaxRate int64
	// ConnectTimeout bounds dialing a provider and opening a stream (default 10s).
	ConnectTimeout time.Duration
	// Limits bounds every message decoded from peers.
	Limits Limits
	// Logger receives the exchange's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the exchange's metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Window:           8,
		MaxWindow:        64,
		WindowHorizon:    200 * time.Millisecond,
		StallTimeout:     10 * time.Second,
		MaxBadPieces:     4,
		MaxPeers:         16,
		MaxInflightBytes: 32 << 20,
		HaveInterval:     time.Second,
		ConnectTimeout:   10 * time.Second,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Window < 1:
		return fmt.Errorf("exchange: window %d < 1", c.Window)
	case c.MaxWindow < c.Window:
		return fmt.Errorf("exchange: max window %d < window %d", c.MaxWindow, c.Window)
	case c.WindowHorizon <= 0:
		return fmt.Errorf("exchange: window horizon must be positive")
	case c.StallTimeout <= 0:
		return fmt.Errorf("exchange: stall timeout must be positive")
	case c.MaxBadPieces < 1:
		return fmt.Errorf("exchange: max bad pieces %d < 1", c.MaxBadPieces)
	case c.MaxInflightBytes < 0:
		return fmt.Errorf("exchange: max in-flight bytes %d < 0", c.MaxInflightBytes)
	case c.MaxPeers < 1:
		return fmt.Errorf("exchange: max peers %d < 1", c.MaxPeers)
	case c.HaveInterval <= 0:
		return fmt.Errorf("exchange: have interval must be positive")
	case c.MaxRate < 0:
		return fmt.Errorf("exchange: max rate %d < 0", c.MaxRate)
	case c.ConnectTimeout <= 0:
		return fmt.Errorf("exchange: connect timeout must be positive")
	}
	return nil
}

// Exchange serves content from a Store to peers and downloads content from peers into it.
// It registers the protocol handler on the host in New and removes it in Close. All methods
// are safe for concurrent use.
type Exchange struct {
	host    host.Host
	store   Store
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	bufs    bufPool
	plans   *planCache
	decode  ManifestDecoder

	mu      sync.Mutex
	banned  map[peer.ID]string // peer → why
	streams map[peer.ID]int    // open server streams per peer
	closed  bool
	active  map[*download]time.Time // downloads in progress → start (transfers.go)
	// fellBack is when a stream to a peer last had to run over a relay (session.go).
	fellBack map[peer.ID]time.Time
}

// New starts serving ProtocolID on h from store; decode reads manifests (nil:
// content.Decode, what a node uses).
func New(h host.Host, store Store, decode ManifestDecoder, cfg Config) (*Exchange, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil || store == nil {
		return nil, errors.New("exchange: host and store are required")
	}
	if decode == nil {
		decode = content.Decode
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	x := &Exchange{
		host:     h,
		store:    store,
		cfg:      cfg,
		log:      log.With("subsystem", "exchange"),
		metrics:  m,
		plans:    newPlanCache(32),
		decode:   decode,
		banned:   make(map[peer.ID]string),
		streams:  make(map[peer.ID]int),
		fellBack: make(map[peer.ID]time.Time),
	}
	h.SetStreamHandler(ProtocolID, x.handleStream)
	return x, nil
}

// Close stops serving. Downloads in progress fail with their context or a stream error.
func (x *Exchange) Close() error {
	x.mu.Lock()
	x.closed = true
	x.mu.Unlock()
	x.host.RemoveStreamHandler(ProtocolID)
	return nil
}

// Banned lists the peers banned for sending bad data, with the reason.
func (x *Exchange) Banned() map[peer.ID]string {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make(map[peer.ID]string, len(x.banned))
	for k, v := range x.banned {
		out[k] = v
	}
	return out
}

func (x *Exchange) ban(p peer.ID, why string) {
	x.mu.Lock()
	x.banned[p] = why
	x.mu.Unlock()
}

func (x *Exchange) isBanned(p peer.ID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.banned[p]
	return ok
}
