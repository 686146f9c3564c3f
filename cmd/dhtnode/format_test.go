package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dhtnode/dhtnode/client"
)

// TestFormatTemplate checks that --format takes a Go template, as the README's
// walk-through uses it to pick node 1's join address out of `dhtnode id`.
func TestFormatTemplate(t *testing.T) {
	info := client.IDInfo{PeerID: "12D3KooWexample", GossipAddr: "/ip4/127.0.0.1/tcp/4111/p2p/12D3KooWexample"}
	if err := checkFormat("{{.GossipAddr}}"); err != nil {
		t.Fatalf("checkFormat(template) = %v", err)
	}
	var out bytes.Buffer
	done, err := printStructured(&out, "{{.GossipAddr}}", info)
	if err != nil || !done {
		t.Fatalf("printStructured = %v, %v", done, err)
	}
	if got, want := out.String(), info.GossipAddr+"\n"; got != want {
		t.Fatalf("template output %q, want %q", got, want)
	}
	if done, _ := printStructured(&out, "text", info); done {
		t.Fatal("text format printed structured output; the command's own layout must print it")
	}
	for _, bad := range []string{"{{.GossipAddr", "yaml"} {
		if err := checkFormat(bad); err == nil {
			t.Errorf("checkFormat(%q) accepted a bad format", bad)
		}
	}
	out.Reset()
	if _, err := printStructured(&out, "{{.NoSuchField}}", info); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("unknown field: err = %v, want a --format error", err)
	}
}
