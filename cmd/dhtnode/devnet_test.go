package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
)

// devnetProc is a running `dhtnode devnet` and what it printed.
type devnetProc struct {
	cmd    *exec.Cmd
	lines  chan string
	out    *syncBuffer
	exited chan struct{}
}

// startDevnet runs `dhtnode devnet args...` and waits for its ready banner; it returns the
// node lines (name → fields) and the repos directory.
func startDevnet(t *testing.T, args ...string) (*devnetProc, map[string][]string, string) {
	t.Helper()
	d := &devnetProc{lines: make(chan string, 100), out: &syncBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(dhtnodeBin(t), append([]string{"devnet"}, args...)...)
	d.cmd.Env = append(os.Environ(), "DHTNODE_API=")
	pr, pw := io.Pipe()
	d.cmd.Stdout, d.cmd.Stderr = io.MultiWriter(pw, d.out), d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case d.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() { _ = d.cmd.Wait(); pw.Close(); close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Signal(os.Interrupt)
			select {
			case <-d.exited:
			case <-time.After(60 * time.Second):
				_ = d.cmd.Process.Kill()
				<-d.exited
			}
		}
		if t.Failed() {
			t.Logf("devnet output:\n%s", d.out)
		}
	})
	nodes := map[string][]string{}
	dir := ""
	timeout := time.After(3 * time.Minute)
	for {
		select {
		case l := <-d.lines:
			f := strings.Fields(l)
			switch {
			case strings.HasPrefix(l, "devnet: ") && strings.Contains(l, "repos in "):
				dir = strings.Fields(l[strings.Index(l, "repos in ")+len("repos in "):])[0]
			case len(f) >= 6 && f[2] == "api" && strings.HasPrefix(f[0], "n"):
				nodes[f[0]] = f
			case strings.HasPrefix(l, "web UI: http://127.0.0.1:"):
				nodes["ui"] = f
			case strings.HasPrefix(l, "Ctrl-C"):
				return d, nodes, dir
			}
		case <-d.exited:
			t.Fatalf("devnet exited before it was ready:\n%s", d.out)
		case <-timeout:
			t.Fatalf("devnet not ready after 3 minutes:\n%s", d.out)
		}
	}
}

// A devnet of 3: every node is listed, commands work against any node's repo, a node
// that stops is seen dead by the others, and Ctrl-C stops every daemon and removes the
// temporary repos.
func TestDevnetThreeNodes(t *testing.T) {
	d, nodes, dir := startDevnet(t, "3", "--routers", "chord,kademlia")
	if len(nodes) != 4 || dir == "" || nodes["ui"] == nil {
		t.Fatalf("devnet printed %d nodes, dir %q:\n%s", len(nodes), dir, d.out)
	}
	n3 := filepath.Join(dir, "n3")
	if nodes["n3"][5] != n3 {
		t.Fatalf("n3 line %v, want repo %s", nodes["n3"], n3)
	}
	out, errOut, code := cli(t, n3, "lookup", "hello", "--via", "all")
	if code != 0 || strings.Count(out, "owner") != 2 {
		t.Fatalf("lookup against n3: %d %s %s", code, out, errOut)
	}
	out, _, code = cli(t, n3, "peers", "--format", "json")
	var peers []client.PeerInfo
	if code != 0 || json.Unmarshal([]byte(out), &peers) != nil || len(peers) != 3 || !peers[0].Self || peers[0].PeerID != nodes["n3"][1] {
		t.Fatalf("peers: %d %s", code, out)
	}
	out, _, code = cli(t, n3, "transfers", "--format", "json")
	var ts []client.Transfer
	if code != 0 || json.Unmarshal([]byte(out), &ts) != nil || len(ts) != 0 {
		t.Fatalf("transfers: %d %s", code, out)
	}
	out, _, code = cli(t, n3, "webui", "--print")
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "http://"+nodes["n3"][3]+"/") {
		t.Fatalf("webui --print: %d %q", code, out)
	}

	var pids []int
	for _, name := range []string{"n1", "n2", "n3"} {
		out, _, _ := cli(t, filepath.Join(dir, name), "id", "--format", "json")
		var info client.IDInfo
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatal(err)
		}
		pids = append(pids, info.PID)
	}
	// n2 stops without leaving, as if it crashed: the others mark it dead.
	if _, _, code := cli(t, filepath.Join(dir, "n2"), "shutdown"); code != 0 {
		t.Fatal("shutdown n2 failed")
	}
	waitFor(t, "n1 to see n2 dead", 60*time.Second, func() (bool, string) {
		st, raw := states(t, filepath.Join(dir, "n1"))
		return st[nodes["n2"][1]] == "dead", raw
	})
	waitFor(t, "devnet to report n2 stopped", 30*time.Second, func() (bool, string) {
		return strings.Contains(d.out.String(), "devnet: n2 stopped"), d.out.String()
	})

	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(90 * time.Second):
		t.Fatal("devnet did not stop on SIGINT")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("devnet exit status %d", code)
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Fatalf("daemon pid %d still running after devnet stopped", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("temporary repos %s not removed: %v", dir, err)
	}
}
