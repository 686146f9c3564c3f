//go:build race

package gossip

// raceEnabled: see bubble.
const raceEnabled = true
