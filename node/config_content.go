package node

import (
	"fmt"
	"time"

	"github.com/dhtnode/dhtnode/exchange"
)

// ContentConfig configures how files are cut, stored and exchanged. It is the "content"
// section of config.json; every key is optional and defaults as documented.
type ContentConfig struct {
	// PieceSize is the transfer unit in bytes for add: a power of two, at least 16 KiB
	// (one Merkle leaf), at most 16 MiB, default 256 KiB. Huge content gets a larger one.
	PieceSize int `json:"piece_size"`
	// BlocksDir is the blockstore directory; relative paths are inside the repo.
	// Default "blocks".
	BlocksDir string `json:"blocks_dir"`
	// NoSync skips fsync of pieces and metadata: faster, but a crash may lose recent pieces
	// (they are verified on read, so damage is detected and refetched). Default false.
	NoSync bool `json:"no_sync"`
	// MaxRate limits each download to this many bytes per second; 0 (default) is unlimited.
	// Useful on shared links, and to make tests of interrupted downloads deterministic.
	MaxRate int64 `json:"max_rate"`
	// Window is the number of piece requests kept outstanding at each provider at first
	// (default 8); faster providers get up to MaxWindow (default 64).
	Window    int `json:"window"`
	MaxWindow int `json:"max_window"`
	// StallTimeout drops a provider that sends nothing for this long while it owes pieces
	// (default 10s); its pieces are fetched elsewhere.
	StallTimeout Duration `json:"stall_timeout"`
	// MaxBadPieces bans a provider after this many pieces that fail verification (default 4).
	MaxBadPieces int `json:"max_bad_pieces"`
	// MaxPeers bounds the providers one download uses at once (default 16).
	MaxPeers int `json:"max_peers"`
	// MaxProviders is how many providers get asks the router for (default 20).
	MaxProviders int `json:"max_providers"`
	// ProvideTimeout bounds announcing content through the router after add and get
	// (default 60s); it runs in the background.
	ProvideTimeout Duration `json:"provide_timeout"`
	// FindTimeout is how long get keeps asking the routers for providers while none
	// answers yet and other members are alive, as the announce of a fresh add may still
	// be on its way (default 15s; 0s asks once).
	FindTimeout Duration `json:"find_timeout"`
}

// DefaultContentConfig returns the defaults documented on ContentConfig.
func DefaultContentConfig() ContentConfig {
	x := exchange.DefaultConfig()
	return ContentConfig{
		PieceSize:      256 << 10,
		BlocksDir:      "blocks",
		Window:         x.Window,
		MaxWindow:      x.MaxWindow,
		StallTimeout:   Duration(x.StallTimeout),
		MaxBadPieces:   x.MaxBadPieces,
		MaxPeers:       x.MaxPeers,
		MaxProviders:   20,
		ProvideTimeout: Duration(60 * time.Second),
		FindTimeout:    Duration(15 * time.Second),
	}
}

// Validate checks every setting and names the key at fault.
func (c ContentConfig) Validate() error {
	const minPiece, maxPiece = 16 << 10, 16 << 20
	p := c.PieceSize
	if p < minPiece || p > maxPiece || p&(p-1) != 0 {
		return fmt.Errorf("content.piece_size: %d is not a power of two between %d and %d", p, minPiece, maxPiece)
	}
	switch {
	case c.BlocksDir == "":
		return fmt.Errorf("content.blocks_dir: empty")
	case c.MaxRate < 0:
		return fmt.Errorf("content.max_rate: %d < 0", c.MaxRate)
	case c.MaxProviders < 1:
		return fmt.Errorf("content.max_providers: %d < 1", c.MaxProviders)
	case c.ProvideTimeout <= 0:
		return fmt.Errorf("content.provide_timeout: must be positive")
	case c.FindTimeout < 0:
		return fmt.Errorf("content.find_timeout: %v < 0", c.FindTimeout)
	}
	if err := c.exchangeConfig().Validate(); err != nil {
		return fmt.Errorf("content: %w", err)
	}
	return nil
}

// exchangeConfig maps the section onto the exchange's own Config (logger and metrics are
// filled in by the node).
func (c ContentConfig) exchangeConfig() exchange.Config {
	x := exchange.DefaultConfig()
	x.Window = c.Window
	x.MaxWindow = c.MaxWindow
	x.StallTimeout = c.StallTimeout.Std()
	x.MaxBadPieces = c.MaxBadPieces
	x.MaxPeers = c.MaxPeers
	x.MaxRate = c.MaxRate
	return x
}
