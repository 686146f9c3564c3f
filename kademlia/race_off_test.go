//go:build !race

package kademlia

// raceEnabled: see race_on_test.go.
const raceEnabled = false
