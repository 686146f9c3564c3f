package client

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// APIFile is the file in a repo directory where a running daemon writes its API
// address (host:port), so that clients started with the same repo find it.
const APIFile = "api"

// ErrNoAPIFile: no daemon has written its API address into the repo.
var ErrNoAPIFile = errors.New("no API address file")

// ReadAPIAddr returns the API address a running daemon wrote into the repo at
// path, or an error wrapping ErrNoAPIFile.
func ReadAPIAddr(path string) (string, error) {
	b, err := os.ReadFile(filepath.Join(path, APIFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: %w", path, ErrNoAPIFile)
		}
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
