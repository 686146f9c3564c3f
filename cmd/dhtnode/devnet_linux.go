package main

import (
	"os/exec"
	"syscall"
)

// setDevnetChildAttrs makes a devnet node stop (gracefully, SIGTERM) if the devnet
// process itself dies without stopping it, so no orphan daemon keeps running.
func setDevnetChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
