//go:build !linux

package main

import "os/exec"

// setDevnetChildAttrs: only Linux can tie a child's life to its parent's.
func setDevnetChildAttrs(*exec.Cmd) {}
