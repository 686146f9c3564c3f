package main

import "testing"

func TestCompareMemoryLimit(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		ram, live uint64
		want      int64
	}{
		{ram: 24 * gib, live: 1 * gib, want: 6 * gib},   // small run: the floor
		{ram: 24 * gib, live: 5 * gib, want: 10 * gib},  // twice the live heap
		{ram: 24 * gib, live: 12 * gib, want: 18 * gib}, // capped at 3/4 of RAM
		{ram: 4 * gib, live: 1 * gib, want: 6 * gib},    // the floor wins over a small RAM
		{ram: 0, live: 20 * gib, want: 40 * gib},        // RAM unknown: no cap
	} {
		if got := compareMemoryLimit(tc.ram, tc.live); got != tc.want {
			t.Errorf("compareMemoryLimit(ram %d GiB, live %d GiB) = %.1f GiB, want %.1f GiB",
				tc.ram/gib, tc.live/gib, float64(got)/gib, float64(tc.want)/gib)
		}
	}
}
