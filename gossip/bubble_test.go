package gossip

import (
	"testing"
	"testing/synctest"
)

// bubble runs a fake-time test in a synctest bubble. Under the race detector it skips
// instead: Go 1.26's race runtime crashes at random inside synctest bubbles (a
// ThreadSanitizer CHECK failure, not a race report), and these tests wait out minutes
// of protocol time that the real clock cannot afford. They run in the plain test pass;
// under -race, gossip is covered on real sockets by the loopback tests and by node's
// clusters.
func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if raceEnabled {
		t.Skip("fake-time test: skipped under -race (the race runtime crashes in synctest bubbles); it runs without -race")
	}
	synctest.Test(t, f)
}
