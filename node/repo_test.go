package node

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dhtnode/dhtnode/client"
)

func TestInitRepoCreatesConfigAndPrivateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "repo")
	r, err := InitRepo(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(path, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("identity key mode %04o, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(path); di.Mode().Perm() != 0o700 {
		t.Errorf("repo dir mode %04o, want 0700", di.Mode().Perm())
	}
	ti, err := os.Stat(filepath.Join(path, TokenFile))
	if err != nil || ti.Mode().Perm() != 0o600 || ti.Size() != 65 {
		t.Errorf("API token: %v, %v; want mode 0600 and 64 hex digits", ti, err)
	}
	entries, _ := os.ReadDir(path)
	if len(entries) != 3 {
		t.Errorf("repo should hold only config, key and API token, has %v", entries)
	}
	k1, err := r.Identity()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := r.Config()
	if err != nil || cfg.Addresses.API != DefaultConfig().Addresses.API {
		t.Fatalf("config: %+v, %v", cfg, err)
	}
	// Reopening gives the same identity; a second init refuses.
	r2, err := OpenRepo(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := r2.Identity()
	if !k1.Equals(k2) {
		t.Error("identity changed on reopen")
	}
	if _, err := InitRepo(path, DefaultConfig()); !errors.Is(err, ErrRepoExists) {
		t.Errorf("second init: %v, want ErrRepoExists", err)
	}
}

func TestOpenRepoMissing(t *testing.T) {
	_, err := OpenRepo(filepath.Join(t.TempDir(), "nothing"))
	if !errors.Is(err, ErrNoRepo) || !strings.Contains(err.Error(), "dhtnode init") {
		t.Errorf("got %v, want ErrNoRepo with a hint", err)
	}
}

func TestIdentityKeyProblemsAreClearErrors(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(keyPath string)
		want    string
	}{
		{"readable by others", func(p string) { os.Chmod(p, 0o644) }, "chmod 600"},
		{"garbage", func(p string) { os.WriteFile(p, []byte("not a key"), 0o600) }, "not a libp2p private key"},
		{"missing", func(p string) { os.Remove(p) }, "no such file"},
		{"a directory", func(p string) { os.Remove(p); os.Mkdir(p, 0o700) }, "identity key"},
		{"huge", func(p string) { os.WriteFile(p, make([]byte, 1<<20), 0o600) }, "too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir()
			r, err := InitRepo(path, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			tc.corrupt(filepath.Join(path, KeyFile))
			_, err = r.Identity()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			// New must surface the same error, not panic.
			if _, err := New(testConfig(), r); err == nil {
				t.Error("node.New started with a broken identity key")
			}
		})
	}
}

func TestRepoLockExcludesSecondHolder(t *testing.T) {
	path := t.TempDir()
	if _, err := InitRepo(path, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	a, _ := OpenRepo(path)
	b, _ := OpenRepo(path)
	if err := a.Lock(); err != nil {
		t.Fatal(err)
	}
	if pid, held := b.LockHolder(); !held || pid != os.Getpid() {
		t.Errorf("LockHolder = %d, %v; want our pid, held", pid, held)
	}
	err := b.Lock()
	var locked *LockedError
	if !errors.As(err, &locked) || !errors.Is(err, ErrRepoLocked) {
		t.Fatalf("second lock: %v, want *LockedError", err)
	}
	if locked.PID != os.Getpid() || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("error should name the holder's pid: %v", err)
	}
	if err := a.WriteAPIAddr("127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ReadAPIAddr(path); !errors.Is(err, client.ErrNoAPIFile) {
		t.Errorf("unlock should remove the api file: %v", err)
	}
	if err := b.Lock(); err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	b.Unlock()
}

func TestRepoStaleLockIsTakenOver(t *testing.T) {
	path := t.TempDir()
	if _, err := InitRepo(path, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	// A process that has exited: its PID is in the file, but no one holds the lock.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	dead := cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(path, LockFile), []byte(fmt.Sprintf("%d\n", dead)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, APIFile), []byte("127.0.0.1:9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, _ := OpenRepo(path)
	if pid, held := r.LockHolder(); held {
		t.Errorf("stale lock reported held by %d", pid)
	}
	if err := r.Lock(); err != nil {
		t.Fatalf("stale lock not taken over: %v", err)
	}
	defer r.Unlock()
	if r.StaleLockPID() != dead {
		t.Errorf("StaleLockPID = %d, want %d", r.StaleLockPID(), dead)
	}
	b, _ := os.ReadFile(filepath.Join(path, LockFile))
	if strings.TrimSpace(string(b)) != fmt.Sprint(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid", b)
	}
}

func TestLoadConfigFileNamesTheFile(t *testing.T) {
	path := t.TempDir()
	r, err := InitRepo(path, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(path, ConfigFile), []byte(`{"gossip": {"joins": []}}`), 0o600)
	_, err = r.Config()
	if err == nil || !strings.Contains(err.Error(), ConfigFile) || !strings.Contains(err.Error(), `"gossip.joins"`) {
		t.Errorf("got %v, want the file and the key named", err)
	}
}
