package node

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dhtnode/dhtnode/client"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// Files in a repo directory. ConfigFile, KeyFile and TokenFile are state (the
// token is made at init, or by the first daemon run of a repo without one); the
// lock, API and socket files are rebuilt by every daemon run.
const (
	ConfigFile = "config.json"
	KeyFile    = "identity.key"
	LockFile   = "repo.lock"
	APIFile    = client.APIFile
	SocketFile = client.SocketFile
	TokenFile  = client.TokenFile
)

// EnvRepoPath names the environment variable that overrides the repo directory.
const EnvRepoPath = "DHTNODE_PATH"

// Errors returned by repo functions.
var (
	// ErrRepoExists: InitRepo found an initialised repo.
	ErrRepoExists = errors.New("repo already initialised")
	// ErrNoRepo: OpenRepo found no config in the directory.
	ErrNoRepo = errors.New("repo not initialised")
	// ErrRepoLocked: another live process holds the repo lock; see *LockedError.
	ErrRepoLocked = errors.New("repo is locked")
)

// LockedError says which process holds a repo. It wraps ErrRepoLocked.
type LockedError struct {
	Path string
	PID  int // 0 when the holder did not write its PID
}

func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = fmt.Sprintf("another dhtnode daemon (pid %d)", e.PID)
	}
	return fmt.Sprintf("repo %s is in use by %s; stop it first or pick another repo with --repo or $%s", e.Path, holder, EnvRepoPath)
}

func (e *LockedError) Unwrap() error { return ErrRepoLocked }

// DefaultRepoPath is $DHTNODE_PATH, or ~/.dhtnode when that is unset.
func DefaultRepoPath() (string, error) {
	if p := os.Getenv(EnvRepoPath); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find repo: $%s is unset and %w", EnvRepoPath, err)
	}
	return filepath.Join(home, ".dhtnode"), nil
}

// Repo is a node's directory: config.json, the identity key, and while a daemon
// runs, its lock and API address files. A Repo is not safe for concurrent use.
type Repo struct {
	path     string
	lock     *os.File
	stalePID int
}

// InitRepo creates a repo at path (and the directory, mode 0700) with cfg and a new
// Ed25519 identity key (mode 0600). It returns ErrRepoExists if path already has a config.
// cfg is validated first.
func InitRepo(path string, cfg Config) (*Repo, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("create repo %s: %w", path, err)
	}
	r := &Repo{path: path}
	if _, err := os.Stat(r.file(ConfigFile)); err == nil {
		return nil, fmt.Errorf("%s: %w", path, ErrRepoExists)
	}
	// The key first: a crash in between leaves a key and no config, which a
	// second init completes, instead of a config whose identity is missing.
	if _, err := os.Stat(r.file(KeyFile)); errors.Is(err, fs.ErrNotExist) {
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, fmt.Errorf("generate identity key: %w", err)
		}
		raw, err := crypto.MarshalPrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encode identity key: %w", err)
		}
		if err := writeFileAtomic(r.file(KeyFile), raw, 0o600); err != nil {
			return nil, err
		}
	}
	if _, err := r.EnsureAPIToken(); err != nil {
		return nil, err
	}
	if err := r.WriteConfig(cfg); err != nil {
		return nil, err
	}
	return r, nil
}

// OpenRepo opens an initialised repo without locking it. It returns ErrNoRepo
// when path has no config.json.
func OpenRepo(path string) (*Repo, error) {
	r := &Repo{path: path}
	if _, err := os.Stat(r.file(ConfigFile)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w (run `dhtnode init`)", path, ErrNoRepo)
		}
		return nil, fmt.Errorf("open repo: %w", err)
	}
	return r, nil
}

// Path is the repo directory.
func (r *Repo) Path() string { return r.path }

func (r *Repo) file(name string) string { return filepath.Join(r.path, name) }

// Config reads and validates config.json (strictly: unknown keys are errors).
func (r *Repo) Config() (Config, error) { return LoadConfigFile(r.file(ConfigFile)) }

// WriteConfig replaces config.json atomically.
func (r *Repo) WriteConfig(cfg Config) error {
	var buf bytes.Buffer
	if err := EncodeConfig(&buf, cfg); err != nil {
		return err
	}
	return writeFileAtomic(r.file(ConfigFile), buf.Bytes(), 0o600)
}

// Identity reads the node's private key. It refuses a key file that others can
// read, the way ssh does, because the key is the node's identity.
func (r *Repo) Identity() (crypto.PrivKey, error) {
	path := r.file(KeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity key %s is accessible by others (mode %04o); run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	if len(raw) > 4096 {
		return nil, fmt.Errorf("identity key %s: %d bytes is too large for a key file", path, len(raw))
	}
	key, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("identity key %s is not a libp2p private key: %w", path, err)
	}
	return key, nil
}

// ResolvePath makes a relative path (e.g. gossip.secret_file) relative to the repo.
func (r *Repo) ResolvePath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.path, p)
}

// Lock takes the repo for this process: a daemon holds it for its lifetime, so a
// second daemon on the same repo fails at once with a *LockedError. The lock is an
// OS file lock on repo.lock, released by the kernel when the holder dies, so a lock
// left behind by a killed daemon is stale and simply taken over (StaleLockPID then
// reports the old PID). The holder's PID is written into the file for the message.
func (r *Repo) Lock() error {
	if r.lock != nil {
		return nil
	}
	for attempt := 0; ; attempt++ {
		f, err := os.OpenFile(r.file(LockFile), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("lock repo: %w", err)
		}
		old, _ := readPID(f)
		if err := lockFile(f); err != nil {
			f.Close()
			if errors.Is(err, errWouldBlock) {
				return &LockedError{Path: r.path, PID: old}
			}
			return fmt.Errorf("lock repo %s: %w", r.path, err)
		}
		// The previous holder removes the file as it exits; if it did so between our
		// open and our lock, we locked an orphan inode. Start over on the new file.
		if !sameFile(f, r.file(LockFile)) && attempt < 10 {
			f.Close()
			continue
		}
		if old > 0 && old != os.Getpid() {
			r.stalePID = old
		}
		if err := f.Truncate(0); err != nil {
			f.Close()
			return fmt.Errorf("lock repo: %w", err)
		}
		if _, err := f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0); err != nil {
			f.Close()
			return fmt.Errorf("lock repo: write pid: %w", err)
		}
		r.lock = f
		return nil
	}
}

func sameFile(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// StaleLockPID is the PID found in a lock file that Lock took over (its holder was
// gone), or 0 if the lock was free and clean.
func (r *Repo) StaleLockPID() int { return r.stalePID }

// Unlock releases the lock and removes the lock and API files.
func (r *Repo) Unlock() error {
	if r.lock == nil {
		return nil
	}
	_ = os.Remove(r.file(APIFile))
	_ = os.Remove(r.file(SocketFile))
	// Remove before unlocking so a new daemon never opens a file we then delete.
	_ = os.Remove(r.file(LockFile))
	err := r.lock.Close()
	r.lock = nil
	return err
}

// LockHolder reports whether a live process holds the repo lock, and its PID
// (0 if it wrote none), without taking the lock.
func (r *Repo) LockHolder() (pid int, held bool) {
	if r.lock != nil {
		return os.Getpid(), true
	}
	f, err := os.OpenFile(r.file(LockFile), os.O_RDWR, 0)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	pid, _ = readPID(f)
	if err := lockFile(f); err != nil {
		return pid, true
	}
	unlockFile(f)
	return 0, false
}

func readPID(f *os.File) (int, error) {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	var pid int
	_, err := fmt.Sscanf(strings.TrimSpace(string(buf[:n])), "%d", &pid)
	return pid, err
}

// WriteAPIAddr records the API's host:port so the CLI can find the daemon.
func (r *Repo) WriteAPIAddr(addr string) error {
	return writeFileAtomic(r.file(APIFile), []byte(addr+"\n"), 0o600)
}

// writeFileAtomic writes via a temporary file and rename, so readers never see
// half a file and a crash never leaves one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
