//go:build race

package chord_test

// raceEnabled: under the race detector the cluster tests run on the real clock, because
// the race-instrumented runtime crashes (SIGSEGV in timer.maybeRunChan) on mocknet's
// stream timers inside a synctest bubble.
const raceEnabled = true
