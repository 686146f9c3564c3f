package gossip

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestMemberlistLogRouting(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var seen []string
	l := newMemberlistLogger(logger, func(msg string) { seen = append(seen, msg) })
	l.Printf("[DEBUG] memberlist: Stream connection from=1.2.3.4:5")
	l.Printf("[WARN] memberlist: Refuting a suspect message (from: x)")
	l.Printf("[ERR] memberlist: Failed to send gossip to 1.2.3.4:5: boom")
	l.Printf("no prefix at all")
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="Stream connection from=1.2.3.4:5"`,
		`level=WARN msg="Refuting a suspect message (from: x)"`,
		`level=WARN msg="Failed to send gossip to 1.2.3.4:5: boom"`,
		`level=DEBUG msg="no prefix at all"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if len(seen) != 4 || seen[0] != "Stream connection from=1.2.3.4:5" {
		t.Fatalf("onLine saw %q", seen)
	}
}
