package main

import (
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// compareHeapFloor is the least soft heap limit of a compare run.
const compareHeapFloor = 6 << 30

// compareMemoryLimit is the soft heap limit of a compare run whose live heap is live
// bytes, on a machine with ram bytes (0: unknown): twice the live heap, at least
// compareHeapFloor, at most three quarters of the RAM (unless the floor is more).
//
// With GOGC at 400 a small run collects rarely and cheaply; the limit stops a large
// one from growing its heap to five times what is live, which here was slower, not
// faster (Kademlia at N = 4096: 6 min 50 s and 11 GiB peak RSS under a fixed 12 GiB
// limit, 5 min 30 s and 5.9 GiB under 6 GiB: less memory to fault in). Following the
// live heap keeps at least one heap's worth of headroom: a limit close to the live
// heap makes the GC run back to back, the simulated gossip misses its timers,
// members are falsely suspected, the extra gossip allocates more, and a run can
// stall in its warm-up.
func compareMemoryLimit(ram, live uint64) int64 {
	limit := max(2*live, compareHeapFloor)
	if ram > 0 {
		limit = min(limit, max(ram/4*3, compareHeapFloor))
	}
	return int64(limit)
}

// followLiveHeap sets the soft heap limit from the live heap now and every two
// seconds until the returned stop is called.
func followLiveHeap(ram uint64) (stop func()) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() {
		metrics.Read(sample)
		var live uint64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		debug.SetMemoryLimit(compareMemoryLimit(ram, live))
	}
	set()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				set()
			}
		}
	}()
	return func() { close(done) }
}
