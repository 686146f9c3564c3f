package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/dhtnode/dhtnode/client"
)

// EnsureAPIToken returns the repo's API token, creating <repo>/api.token (mode
// 0600, 32 random bytes in hex) when there is none. A token file that others may
// read is made private again: whoever reads the token can use the API as the
// repo's owner, so read access to it must be exactly the owner's.
func (r *Repo) EnsureAPIToken() (string, error) {
	path := r.file(client.TokenFile)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("generate API token: %w", err)
		}
		if err := writeFileAtomic(path, []byte(hex.EncodeToString(b[:])+"\n"), 0o600); err != nil {
			return "", err
		}
	case err != nil:
		return "", fmt.Errorf("API token: %w", err)
	case fi.Mode().Perm()&0o077 != 0:
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("API token %s is readable by others and cannot be made private: %w", path, err)
		}
	}
	return client.ReadToken(r.path)
}
