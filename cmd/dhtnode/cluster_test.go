package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/node"
)

// These tests build the real dhtnode binary and drive separate daemon processes
// through the CLI, on 127.0.0.1 only, every port picked by the kernel.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// dhtnodeBin builds the binary once per test run into a temporary directory.
func dhtnodeBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dhtnode-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "dhtnode")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// daemon is one dhtnode daemon process.
type daemon struct {
	t      *testing.T
	repo   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// loopbackFlags put every socket of a daemon on 127.0.0.1 with a free port.
var loopbackFlags = []string{
	"--gossip", "127.0.0.1:0", "--api", "127.0.0.1:0",
	"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1",
	"--profile", "local",
}

func startDaemon(t *testing.T, repo string, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"daemon"}, loopbackFlags...)
	args = append(args, extra...)
	d := &daemon{t: t, repo: repo, out: &syncBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(dhtnodeBin(t), args...)
	d.cmd.Env = append(os.Environ(), "DHTNODE_PATH="+repo, "DHTNODE_API=")
	d.cmd.Stdout = d.out
	d.cmd.Stderr = d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("daemon %s output:\n%s", filepath.Base(repo), d.out)
		}
	})
	return d
}

// cli runs one dhtnode client command against repo and returns stdout, stderr, exit code.
func cli(t *testing.T, repo string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(dhtnodeBin(t), args...)
	cmd.Env = append(os.Environ(), "DHTNODE_PATH="+repo, "DHTNODE_API=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// waitFor polls cond until it holds; the deadline is generous for a loaded 2-core machine.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < timeout {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, last)
	return 0
}

func (d *daemon) id() client.IDInfo {
	d.t.Helper()
	var info client.IDInfo
	waitFor(d.t, "daemon API in "+d.repo, 60*time.Second, func() (bool, string) {
		select {
		case <-d.exited:
			d.t.Fatalf("daemon exited early: %v\n%s", d.err, d.out)
		default:
		}
		out, errOut, code := cli(d.t, d.repo, "id", "--format", "json")
		if code != 0 {
			return false, errOut
		}
		return json.Unmarshal([]byte(out), &info) == nil, out
	})
	return info
}

// states returns peer ID -> state as the daemon in repo sees the cluster.
func states(t *testing.T, repo string) (map[string]string, string) {
	out, errOut, code := cli(t, repo, "members", "--format", "json")
	if code != 0 {
		return nil, errOut
	}
	var ms []client.MemberInfo
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		return nil, out
	}
	m := make(map[string]string)
	for _, x := range ms {
		m[x.PeerID] = x.State
	}
	return m, out
}

func TestClusterOfThreeDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	base := t.TempDir()
	repos := []string{filepath.Join(base, "n1"), filepath.Join(base, "n2"), filepath.Join(base, "n3")}

	d1 := startDaemon(t, repos[0])
	seed := d1.id()
	for _, a := range seed.ListenAddrs {
		if strings.Contains(a, "/tcp/0") || strings.Contains(a, "/udp/0/") {
			t.Errorf("id reports unbound port: %s", a)
		}
	}
	if strings.HasSuffix(seed.GossipAddr, ":0") {
		t.Errorf("id reports unbound gossip port: %s", seed.GossipAddr)
	}
	// n2 joins through the daemon flag (retried in the background), n3 through the join command.
	d2 := startDaemon(t, repos[1], "--join", seed.GossipAddr)
	d3 := startDaemon(t, repos[2])
	ids := []client.IDInfo{seed, d2.id(), d3.id()}
	if out, errOut, code := cli(t, repos[2], "join", seed.GossipAddr); code != 0 || !strings.Contains(out, "joined") {
		t.Fatalf("join: code %d, %s %s", code, out, errOut)
	}

	allAlive := func(repo string) func() (bool, string) {
		return func() (bool, string) {
			st, raw := states(t, repo)
			for _, id := range ids {
				if st[id.PeerID] != "alive" {
					return false, raw
				}
			}
			return len(st) == 3, raw
		}
	}
	for _, r := range repos {
		took := waitFor(t, "3 alive members on "+filepath.Base(r), 60*time.Second, allAlive(r))
		t.Logf("%s sees 3 alive after %v", filepath.Base(r), took)
	}

	// A second daemon on a repo in use fails at once, naming the holder.
	_, errOut, code := cli(t, repos[0], append([]string{"daemon"}, loopbackFlags...)...)
	if code != 1 || !strings.Contains(errOut, "in use by another dhtnode daemon (pid") {
		t.Errorf("second daemon on n1: code %d, stderr %q", code, errOut)
	}

	// SIGKILL n3: the others mark it dead.
	killed := time.Now()
	d3.cmd.Process.Signal(syscall.SIGKILL)
	<-d3.exited
	for _, r := range repos[:2] {
		waitFor(t, "n3 dead on "+filepath.Base(r), 60*time.Second, func() (bool, string) {
			st, raw := states(t, r)
			return st[ids[2].PeerID] == "dead", raw
		})
	}
	t.Logf("killed daemon marked dead by both others after %v", time.Since(killed))

	// The killed daemon's API file is stale: the CLI says no daemon is running.
	_, errOut, code = cli(t, repos[2], "members")
	if code != 1 || !strings.Contains(errOut, "no daemon running for repo") {
		t.Errorf("members on a killed daemon's repo: code %d, stderr %q", code, errOut)
	}

	// SIGTERM n2: it leaves gracefully, exits 0, and n1 marks it left.
	d2.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d2.exited:
		if d2.err != nil {
			t.Errorf("n2 exit after SIGTERM: %v", d2.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("n2 did not exit after SIGTERM")
	}
	waitFor(t, "n2 left on n1", 30*time.Second, func() (bool, string) {
		st, raw := states(t, repos[0])
		return st[ids[1].PeerID] == "left", raw
	})
	if _, err := os.Stat(filepath.Join(repos[1], client.APIFile)); !os.IsNotExist(err) {
		t.Errorf("n2 left its api file behind: %v", err)
	}

	// The killed daemon's stale lock is taken over by a new daemon on its repo.
	d3b := startDaemon(t, repos[2])
	if got := d3b.id(); got.PeerID != ids[2].PeerID {
		t.Errorf("restarted n3 has peer ID %s, want %s", got.PeerID, ids[2].PeerID)
	}
	if !strings.Contains(d3b.out.String(), "took over stale repo lock") {
		t.Errorf("restart did not report the stale lock:\n%s", d3b.out)
	}

	// shutdown stops daemons through the API.
	for _, d := range []*daemon{d1, d3b} {
		if out, errOut, code := cli(t, d.repo, "shutdown"); code != 0 {
			t.Errorf("shutdown: %d %s %s", code, out, errOut)
		}
		select {
		case <-d.exited:
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop after shutdown", d.repo)
		}
	}
}

func TestCLIBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	base := t.TempDir()

	t.Run("no daemon", func(t *testing.T) {
		repo := filepath.Join(base, "empty")
		for _, args := range [][]string{{"id"}, {"members"}, {"join", "127.0.0.1:7946"}, {"leave"}, {"shutdown"}, {"version", "--daemon"}} {
			_, errOut, code := cli(t, repo, args...)
			want := fmt.Sprintf("dhtnode: no daemon running for repo %s (is `dhtnode daemon` started?)\n", repo)
			if code != 1 || errOut != want {
				t.Errorf("%v: code %d, stderr %q; want 1, %q", args, code, errOut, want)
			}
		}
	})

	repoWithConfig := func(name, config string) string {
		repo := filepath.Join(base, name)
		if _, _, code := cli(t, repo, "init"); code != 0 {
			t.Fatalf("init %s failed", name)
		}
		if config != "" {
			if err := os.WriteFile(filepath.Join(repo, node.ConfigFile), []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return repo
	}
	daemonFails := func(t *testing.T, repo string, want string, extra ...string) {
		t.Helper()
		start := time.Now()
		_, errOut, code := cli(t, repo, append(append([]string{"daemon"}, loopbackFlags...), extra...)...)
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("daemon: code %d, stderr %q; want exit 1 mentioning %q", code, errOut, want)
		}
		if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine ") {
			t.Errorf("daemon panicked:\n%s", errOut)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("daemon took %v to fail", d)
		}
	}

	t.Run("malformed config", func(t *testing.T) {
		daemonFails(t, repoWithConfig("malformed", "{\n \"log\": {\"level\": \"info\"\n"), "config.json")
	})
	t.Run("unknown key", func(t *testing.T) {
		daemonFails(t, repoWithConfig("unknown", `{"gossip": {"profil": "lan"}}`), `unknown key "gossip.profil"`)
	})
	t.Run("bad flag value", func(t *testing.T) {
		daemonFails(t, repoWithConfig("badflag", ""), "gossip.profile", "--profile", "fast")
	})
	t.Run("unreadable identity key", func(t *testing.T) {
		repo := repoWithConfig("badkey", "")
		os.WriteFile(filepath.Join(repo, node.KeyFile), []byte("garbage"), 0o600)
		daemonFails(t, repo, "identity key")
	})
	t.Run("identity key readable by others", func(t *testing.T) {
		repo := repoWithConfig("openkey", "")
		os.Chmod(filepath.Join(repo, node.KeyFile), 0o644)
		daemonFails(t, repo, "chmod 600")
	})
	t.Run("port in use", func(t *testing.T) {
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		daemonFails(t, repoWithConfig("busy", ""), "address already in use", "--api", busy.Addr().String())
	})
	t.Run("missing secret file", func(t *testing.T) {
		daemonFails(t, repoWithConfig("nosecret", ""), "secret_file", "--secret-file", filepath.Join(base, "does-not-exist"))
	})

	t.Run("join address that never answers", func(t *testing.T) {
		// A bound but silent TCP port: connections are accepted and never answered.
		silent, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		repo := filepath.Join(base, "lonely")
		// Joining by host:port is the udp gossip transport's.
		d := startDaemon(t, repo, "--gossip-transport", "udp", "--join", silent.Addr().String())
		d.id() // the daemon runs although its join target is silent
		start := time.Now()
		_, errOut, code := cli(t, repo, "join", silent.Addr().String())
		if code != 1 || !strings.Contains(errOut, silent.Addr().String()) {
			t.Errorf("join to a silent address: code %d, stderr %q", code, errOut)
		}
		t.Logf("join to a silent address failed after %v: %s", time.Since(start), strings.TrimSpace(errOut))
		if _, _, code := cli(t, repo, "leave"); code != 0 {
			t.Error("leave failed")
		}
		select {
		case <-d.exited:
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop after leave")
		}
	})
}
