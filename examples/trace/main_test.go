package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/routing"
)

// TestRun traces a key through the three routers; run itself fails unless each one
// names the owner the live set says (successor for Chord and one-hop, XOR-closest for
// Kademlia) before the deadline.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, routing.ContentKey([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and three router lines, got %q", lines)
	}
	for i, name := range []string{"chord", "kademlia", "onehop"} {
		if !strings.HasPrefix(lines[i+1], name) {
			t.Errorf("line %d is %q, want the %s lookup", i+1, lines[i+1], name)
		}
	}
}
