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

// SocketFile is the Unix socket in a repo directory on which a running daemon also
// serves its API (mode 0600, so only the repo's owner can connect). Over it a cat can
// hand the daemon its output file, which the daemon then writes itself (see Cat).
const SocketFile = "api.sock"

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

// TokenFile is the file in a repo directory holding the API token (mode 0600). The
// daemon answers only callers that send it (see WithToken): whoever can read this
// file can use the API as the repo's owner.
const TokenFile = "api.token"

// ReadToken returns the API token of the repo at path. The error wraps
// fs.ErrNotExist when the repo has none, and fs.ErrPermission when the caller may
// not read it (the repo belongs to another user).
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(filepath.Join(path, TokenFile))
	if err != nil {
		return "", fmt.Errorf("read API token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("read API token: %s is empty", filepath.Join(path, TokenFile))
	}
	return tok, nil
}

// FromRepo returns a client of the daemon running on the repo at path: the address
// it wrote into the repo and the repo's token. Errors wrap ErrNoAPIFile when no
// daemon runs there, or come from ReadToken.
func FromRepo(path string, opts ...Option) (*Client, error) {
	addr, err := ReadAPIAddr(path)
	if err != nil {
		return nil, err
	}
	tok, err := ReadToken(path)
	if err != nil {
		return nil, err
	}
	return New(addr, append([]Option{WithToken(tok), WithSocket(filepath.Join(path, SocketFile))}, opts...)...), nil
}
