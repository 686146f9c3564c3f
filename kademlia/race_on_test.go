//go:build race

package kademlia

// raceEnabled shrinks the cluster tests under the race detector (see sized).
const raceEnabled = true
