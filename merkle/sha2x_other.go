//go:build !amd64 || purego

package merkle

// has2x is false: there is no two-message SHA-256 here.
var has2x = false

func sha256Pair(a, b []byte) (ha, hb Hash) { panic("merkle: sha256Pair without has2x") }
