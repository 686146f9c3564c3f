package content

import "errors"

// Sentinel errors; every error from this package wraps one of them.
var (
	// ErrInvalidID: a string or bytes that are not a dhtnode content ID.
	ErrInvalidID = errors.New("invalid content ID")
	// ErrHashMismatch: manifest bytes that do not hash to the ID they were
	// fetched for. Whoever sent them sent the wrong thing.
	ErrHashMismatch = errors.New("manifest does not match its content ID")
	// ErrMalformed: bytes that do not decode as a version-1 manifest in
	// canonical form.
	ErrMalformed = errors.New("malformed manifest")
	// ErrInvalid: a manifest that decodes but breaks a rule (bad piece size,
	// sizes that do not add up, a piece layer that does not match the root).
	ErrInvalid = errors.New("invalid manifest")
	// ErrUnsafePath: a path that could escape the output directory or clash
	// with another ("..", absolute, empty, backslash, NUL, duplicate).
	ErrUnsafePath = errors.New("unsafe path in manifest")
	// ErrTooLarge: a manifest over MaxManifestSize.
	ErrTooLarge = errors.New("manifest too large")
	// ErrRange: a file or piece index outside the manifest.
	ErrRange = errors.New("piece index out of range")
)
