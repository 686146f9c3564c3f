package main

import (
	"os/exec"
	"syscall"
)

// setDevnetChildAttrs puts a devnet node in its own process group, so a Ctrl-C at the
// terminal reaches only devnet, which then sends each node the one SIGINT that makes it
// leave (a second one would make a daemon exit at once, without leaving); and it makes
// the node stop (SIGTERM, a graceful leave) if devnet dies without stopping it.
func setDevnetChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
