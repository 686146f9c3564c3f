package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/node"
)

// TestRun starts a node with its HTTP API on a free loopback port (what `dhtnode
// daemon` runs), joins a second node to it, and runs the example against the API.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := node.DefaultConfig()
	cfg.Addresses.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Addresses.Gossip = "127.0.0.1:0"
	cfg.Addresses.API = "127.0.0.1:0"
	cfg.Gossip.Profile = "local"
	daemon, err := node.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()
	cfg.Addresses.API = ""
	other, err := node.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Join([]string{daemon.IDInfo().GossipAddr}); err != nil {
		t.Fatal(err)
	}
	for len(daemon.AlivePeers()) < 1 {
		if ctx.Err() != nil {
			t.Fatal("the second node never joined")
		}
		time.Sleep(20 * time.Millisecond)
	}

	var out bytes.Buffer
	if err := run(ctx, &out, client.New(daemon.APIAddr(), client.WithToken(daemon.APIToken())), "hello"); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	got := out.String()
	for _, want := range []string{
		fmt.Sprintf("daemon %s", daemon.ID()),
		fmt.Sprintf("member %s alive", other.ID()),
		`lookup "hello" (read as string)`,
		"  chord    owner ",
		"  kademlia owner ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
