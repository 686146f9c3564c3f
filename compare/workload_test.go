package compare

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestSameSeedSameWorkloadAndIdentities(t *testing.T) {
	a := NewWorkload(5, 64, 500, 100*time.Second, 50, 10*time.Minute)
	b := NewWorkload(5, 64, 500, 100*time.Second, 50, 10*time.Minute)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different workloads")
	}
	c := NewWorkload(6, 64, 500, 100*time.Second, 50, 10*time.Minute)
	if reflect.DeepEqual(a.Lookups, c.Lookups) {
		t.Fatal("different seeds gave the same lookups")
	}
	id1, _ := peer.IDFromPrivateKey(nodeKey(5, 3, 2))
	id2, _ := peer.IDFromPrivateKey(nodeKey(5, 3, 2))
	id3, _ := peer.IDFromPrivateKey(nodeKey(5, 3, 3))
	if id1 != id2 || id1 == id3 {
		t.Fatal("node identities are not a function of (seed, slot, incarnation)")
	}
}

func TestChurnScheduleIsExponential(t *testing.T) {
	const n, mean, horizon = 200, 50 * time.Second, 20 * time.Minute
	w := NewWorkload(1, n, 10, mean, 50, horizon)
	// Departures per slot over the horizon: Poisson with rate horizon/mean = 24.
	want := float64(n) * horizon.Seconds() / mean.Seconds()
	got := float64(len(w.Churn))
	if math.Abs(got-want) > 4*math.Sqrt(want) {
		t.Fatalf("%v departures, want about %.0f", got, want)
	}
	for i := 1; i < len(w.Churn); i++ {
		if w.Churn[i].At < w.Churn[i-1].At {
			t.Fatal("churn schedule not sorted")
		}
	}
	none := NewWorkload(1, n, 10, 0, 50, horizon)
	if len(none.Churn) != 0 || none.Lookups[9].At != 0 {
		t.Fatal("no-churn workload has churn or paced lookups")
	}
}
