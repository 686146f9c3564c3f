package compare

import (
	"math"
	"slices"
	"time"

	"github.com/dhtnode/dhtnode/routing"
)

// LookupSpec is one lookup of the workload: at offset At into the lookup phase, the
// node in Slot looks up Key. Every protocol runs the same specs.
type LookupSpec struct {
	At   time.Duration
	Slot int
	Key  routing.Key
}

// ChurnEvent is one departure: at offset At from the start of churn, the node in Slot
// crashes (no leave message) and a new node (the slot's next incarnation) joins.
type ChurnEvent struct {
	At   time.Duration
	Slot int
}

// Workload is what a seed fixes for one network size: lookups and churn schedule.
type Workload struct {
	Lookups []LookupSpec
	Churn   []ChurnEvent
}

// NewWorkload derives the workload for n nodes from seed. With sessionMean > 0 the
// lookups are spaced 1/rate apart and the churn schedule covers horizon; otherwise all
// lookups are at offset 0 (run back to back) and there is no churn.
func NewWorkload(seed uint64, n, lookups int, sessionMean time.Duration, rate float64, horizon time.Duration) Workload {
	var w Workload
	rng := stream(seed, "lookups", uint64(n), 0)
	for i := range lookups {
		var k routing.Key
		for j := 0; j < routing.KeyLen; j += 8 {
			v := rng.Uint64()
			for b := 0; b < 8; b++ {
				k[j+b] = byte(v >> (8 * b))
			}
		}
		spec := LookupSpec{Slot: rng.IntN(n), Key: k}
		if sessionMean > 0 {
			spec.At = time.Duration(float64(i) / rate * float64(time.Second))
		}
		w.Lookups = append(w.Lookups, spec)
	}
	if sessionMean <= 0 {
		return w
	}
	// Each slot's sessions are exponential; the schedule is independent per slot, so
	// it does not depend on n's other slots or on timing.
	for slot := range n {
		srng := stream(seed, "churn", uint64(slot), uint64(sessionMean))
		t := 0.0
		for {
			t += srng.ExpFloat64() * sessionMean.Seconds()
			if t > horizon.Seconds() || math.IsInf(t, 0) {
				break
			}
			w.Churn = append(w.Churn, ChurnEvent{At: time.Duration(t * float64(time.Second)), Slot: slot})
		}
	}
	slices.SortFunc(w.Churn, func(a, b ChurnEvent) int {
		if a.At != b.At {
			return int(a.At - b.At)
		}
		return a.Slot - b.Slot
	})
	return w
}
