package node

import "fmt"

// ContentConfig configures how files are cut and exchanged. It is the "content"
// section of config.json.
type ContentConfig struct {
	// PieceSize is the transfer unit in bytes: a power of two, at least 16 KiB
	// (one Merkle leaf), default 256 KiB.
	PieceSize int `json:"piece_size"`
}

// DefaultContentConfig uses 256 KiB pieces.
func DefaultContentConfig() ContentConfig {
	return ContentConfig{PieceSize: 256 << 10}
}

// Validate checks the piece size.
func (c ContentConfig) Validate() error {
	const minPiece, maxPiece = 16 << 10, 16 << 20
	p := c.PieceSize
	if p < minPiece || p > maxPiece || p&(p-1) != 0 {
		return fmt.Errorf("piece_size: %d is not a power of two between %d and %d", p, minPiece, maxPiece)
	}
	return nil
}
