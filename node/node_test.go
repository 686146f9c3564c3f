package node

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestTwoNodesFeedListeners(t *testing.T) {
	a := startTestNode(t)
	b := startTestNode(t)
	rec := &recorder{}
	a.AddMembershipListener(rec)
	if _, err := b.Join([]string{a.Gossip().BoundAddr()}); err != nil {
		t.Fatal(err)
	}
	calls := waitCalls(t, rec, 1)
	if calls[0] != "up "+string(b.ID()) {
		t.Fatalf("first call %q, want up for b", calls[0])
	}
	var got peer.AddrInfo
	for _, info := range a.AlivePeers() {
		if info.ID == b.ID() {
			got = info
		}
	}
	if len(got.Addrs) == 0 || !sameAddrs(got.Addrs, b.Host().Addrs()) {
		t.Errorf("a learned b's addrs %v, want %v", got.Addrs, b.Host().Addrs())
	}
	// A listener added now gets b replayed.
	late := &recorder{}
	a.AddMembershipListener(late)
	if c := late.get(); len(c) != 1 || c[0] != "up "+string(b.ID()) {
		t.Errorf("replay to late listener = %v", c)
	}
	if err := b.Leave(); err != nil {
		t.Fatal(err)
	}
	calls = waitCalls(t, rec, 2)
	if calls[len(calls)-1] != "down "+string(b.ID()) {
		t.Errorf("after leave, calls = %v; want down for b", calls)
	}
}

func TestClusterSecretMismatchIsRefused(t *testing.T) {
	key := func(b byte) string {
		k := make([]byte, 32)
		for i := range k {
			k[i] = b
		}
		return base64.StdEncoding.EncodeToString(k)
	}
	// The secret comes from a file relative to the repo, as secret_file allows.
	repo := t.TempDir()
	r, err := InitRepo(repo, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "cluster.key"), []byte(key(1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Gossip.SecretFile = "cluster.key"
	secured, err := New(cfg, r)
	if err != nil {
		t.Fatal(err)
	}
	defer secured.Close()

	plain := startTestNode(t)
	if _, err := plain.Join([]string{secured.Gossip().BoundAddr()}); err == nil {
		t.Error("a node without the secret joined an encrypted cluster")
	} else {
		t.Logf("no secret: %v", err)
	}
	wrong := startTestNode(t, func(c *Config) { c.Gossip.Secret = key(2) })
	if _, err := wrong.Join([]string{secured.Gossip().BoundAddr()}); err == nil {
		t.Error("a node with the wrong secret joined")
	} else if !strings.Contains(err.Error(), secured.Gossip().BoundAddr()) {
		t.Errorf("error should name the address: %v", err)
	}
	right := startTestNode(t, func(c *Config) { c.Gossip.Secret = key(1) })
	if _, err := right.Join([]string{secured.Gossip().BoundAddr()}); err != nil {
		t.Errorf("a node with the right secret could not join: %v", err)
	}
}

func TestNewWithoutRepoOrAPI(t *testing.T) {
	n := startTestNode(t, func(c *Config) { c.Addresses.API = "" })
	if n.APIAddr() != "" {
		t.Errorf("API started although disabled: %s", n.APIAddr())
	}
	if n.Repo() != nil || n.ID() == "" {
		t.Error("embedded node should have an identity and no repo")
	}
}
