package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
)

// A daemon started with a cluster secret that differs from the cluster's runs
// (it keeps retrying), but id and members say it has not joined and why,
// instead of leaving that to the log.
func TestWrongSecretShowsNotJoined(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	base := t.TempDir()
	secret := func(name string, b byte) string {
		key := make([]byte, 32)
		for i := range key {
			key[i] = b + byte(i)
		}
		path := filepath.Join(base, name)
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	right, wrong := secret("right.key", 1), secret("wrong.key", 100)

	seedRepo, otherRepo := filepath.Join(base, "seed"), filepath.Join(base, "other")
	seed := startDaemon(t, seedRepo, "--secret-file", right)
	seedInfo := seed.id()
	if seedInfo.Cluster.State != "alone" || seedInfo.Cluster.Joined {
		t.Fatalf("lone seed: cluster %+v", seedInfo.Cluster)
	}
	other := startDaemon(t, otherRepo, "--secret-file", wrong, "--join", seedInfo.GossipAddr)
	other.id()

	var info client.IDInfo
	waitFor(t, "the wrong-secret daemon to report why it has not joined", 60*time.Second, func() (bool, string) {
		info = other.id()
		return info.Cluster.State == "joining" && strings.Contains(info.Cluster.Reason, "cluster secret"), info.Cluster.State + ": " + info.Cluster.Reason
	})
	t.Logf("id cluster: %+v", info.Cluster)
	if info.Cluster.Joined || len(info.Cluster.Seeds) != 1 || info.Cluster.Seeds[0] != seedInfo.GossipAddr {
		t.Fatalf("cluster %+v", info.Cluster)
	}

	out, errOut, code := cli(t, otherRepo, "id")
	if code != 0 || !strings.Contains(out, "cluster:  NOT JOINED: ") || !strings.Contains(out, "cluster secret") {
		t.Fatalf("id text (code %d, stderr %q):\n%s", code, errOut, out)
	}
	out, errOut, code = cli(t, otherRepo, "members")
	if code != 0 || !strings.Contains(out, "this node: NOT JOINED: ") || !strings.Contains(out, "cluster secret") {
		t.Fatalf("members text (code %d, stderr %q):\n%s", code, errOut, out)
	}
	t.Logf("members:\n%s", out)
	if !strings.Contains(other.out.String(), "joining: "+seedInfo.GossipAddr+" in the background") {
		t.Fatalf("daemon start-up output does not say it is joining in the background:\n%s", other.out)
	}

	// The seed never let it in.
	m, raw := states(t, seedRepo)
	if len(m) != 1 {
		t.Fatalf("seed lists %d members, want itself only: %s", len(m), raw)
	}
}
