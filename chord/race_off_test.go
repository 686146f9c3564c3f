//go:build !race

package chord_test

// raceEnabled: see race_on_test.go.
const raceEnabled = false
