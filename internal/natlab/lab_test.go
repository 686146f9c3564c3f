package natlab

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// lab is one set of namespaces: the internet bridge, public hosts, NAT routers
// and the hosts behind them. Every name carries a random prefix so parallel
// runs and leftovers of a crashed run never collide.
type lab struct {
	t      *testing.T
	prefix string
	netns  []string
}

// requireLab skips the test unless it can build namespaces.
func requireLab(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the NAT lab needs Linux network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("the NAT lab needs root (network namespaces, veth, ip6tables); run as root, as CI does")
	}
	for _, tool := range []string{"ip", "ip6tables"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the NAT lab needs %s (apt-get install iproute2 iptables)", tool)
		}
	}
	if testing.Short() {
		t.Skip("the NAT lab runs real daemons for minutes; skipped in -short mode")
	}
}

func newLab(t *testing.T) *lab {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	l := &lab{t: t, prefix: "nl" + hex.EncodeToString(b[:])}
	t.Cleanup(l.close)
	return l
}

// sh runs a command on the host and fails the test on error.
func (l *lab) sh(args ...string) {
	l.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// in runs a command inside namespace ns.
func (l *lab) in(ns string, args ...string) {
	l.t.Helper()
	l.sh(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// ns creates a namespace with its loopback up and IPv6 duplicate address
// detection off, so addresses are usable the moment they are set.
func (l *lab) ns(name string) string {
	l.t.Helper()
	full := l.prefix + name
	l.sh("ip", "netns", "add", full)
	l.netns = append(l.netns, full)
	l.in(full, "ip", "link", "set", "lo", "up")
	l.in(full, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	return full
}

// link joins namespaces a and b with a veth pair named ifA/ifB, ifA's end
// getting addrA (CIDR) unless it is "", and the same for b. With bridge set,
// b's end is enslaved to it instead of being addressed.
func (l *lab) link(a, ifA, addrA, b, ifB, addrB, bridge string) {
	l.t.Helper()
	ifA, ifB = l.prefix+ifA, l.prefix+ifB
	l.sh("ip", "link", "add", ifA, "netns", a, "type", "veth", "peer", "name", ifB, "netns", b)
	if addrA != "" {
		l.in(a, "ip", "addr", "add", addrA, "dev", ifA, "nodad")
	}
	l.in(a, "ip", "link", "set", ifA, "up")
	if bridge != "" {
		l.in(b, "ip", "link", "set", ifB, "master", bridge)
	} else if addrB != "" {
		l.in(b, "ip", "addr", "add", addrB, "dev", ifB, "nodad")
	}
	l.in(b, "ip", "link", "set", ifB, "up")
}

func (l *lab) close() {
	for _, n := range l.netns {
		_ = exec.Command("ip", "netns", "del", n).Run()
	}
}

// natKind is how a router maps its LAN's outgoing connections.
type natKind int

const (
	// coneNAT is Linux MASQUERADE's default: the source port is kept where free,
	// so the mapping does not depend on the destination and hole punching works.
	coneNAT natKind = iota
	// symmetricNAT picks a random port per connection (--random-fully): the
	// address a peer observed is useless to anyone else, so only a relay works.
	symmetricNAT
)

// internetPrefix is the lab's public range, one /32 on the bridge; each host sits in its own /56 so
// libp2p's observed-address manager counts them as distinct observers.
const internetPrefix = "3fff:0:"

// topology is the lab's layout: an internet bridge with public hosts, and
// NAT routers with one host each behind them.
type topology struct {
	publics []string // namespace of each public host
	pubIPs  []string
	natted  []string // namespace of each host behind NAT
	natIPs  []string // their LAN addresses
}

// build wires nPublic public hosts and nNAT hosts behind their own routers.
func (l *lab) build(nPublic, nNAT int, kind natKind) topology {
	l.t.Helper()
	var top topology
	inet := l.ns("inet")
	l.in(inet, "ip", "link", "add", "br0", "type", "bridge")
	l.in(inet, "ip", "link", "set", "br0", "up")
	for i := range nPublic {
		ns := l.ns(fmt.Sprintf("p%d", i))
		ip := fmt.Sprintf("%s%x00::10", internetPrefix, i+1)
		l.link(ns, fmt.Sprintf("p%d", i), ip+"/32", inet, fmt.Sprintf("P%d", i), "", "br0")
		top.publics = append(top.publics, ns)
		top.pubIPs = append(top.pubIPs, ip)
	}
	for i := range nNAT {
		router := l.ns(fmt.Sprintf("r%d", i))
		host := l.ns(fmt.Sprintf("h%d", i))
		wan := fmt.Sprintf("%s%x00::1", internetPrefix, 0xa0+i)
		lan := fmt.Sprintf("fd00:%x::", 0xa0+i)
		l.link(router, fmt.Sprintf("w%d", i), wan+"/32", inet, fmt.Sprintf("W%d", i), "", "br0")
		l.link(router, fmt.Sprintf("l%d", i), lan+"1/64", host, fmt.Sprintf("L%d", i), lan+"2/64", "")
		l.in(host, "ip", "-6", "route", "add", "default", "via", lan+"1")
		l.in(router, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
		wanIf := l.prefix + fmt.Sprintf("w%d", i)
		masq := []string{"ip6tables", "-t", "nat", "-A", "POSTROUTING", "-o", wanIf, "-j", "MASQUERADE"}
		if kind == symmetricNAT {
			masq = append(masq, "--random-fully")
		}
		l.in(router, masq...)
		// A NAT lets in only what answers the LAN's own traffic, and drops the
		// rest silently, as home routers do: a router that answered a stray SYN
		// with a reset would tear down the other side's half of a hole punch.
		for _, chain := range []string{"INPUT", "FORWARD"} {
			l.in(router, "ip6tables", "-A", chain, "-i", wanIf, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
			if chain == "INPUT" {
				l.in(router, "ip6tables", "-A", chain, "-i", wanIf, "-p", "ipv6-icmp", "-j", "ACCEPT") // neighbour discovery
			}
			l.in(router, "ip6tables", "-A", chain, "-i", wanIf, "-j", "DROP")
		}
		top.natted = append(top.natted, host)
		top.natIPs = append(top.natIPs, lan+"2")
	}
	return top
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// dhtnodeBin builds the real binary once per test run.
func dhtnodeBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "natlab-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "dhtnode")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/dhtnode/dhtnode/cmd/dhtnode").CombinedOutput()
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

// daemon is one dhtnode process inside a namespace.
type daemon struct {
	t      *testing.T
	name   string
	ns     string
	repo   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
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

// newSecret is a fresh cluster key, as `dhtnode` reads it from gossip.secret.
func newSecret() string {
	var k [32]byte
	_, _ = rand.Read(k[:])
	return base64.StdEncoding.EncodeToString(k[:])
}

// initRepo creates a repo and sets config keys, given as dotted paths.
func initRepo(t *testing.T, ns, repo string, set map[string]any) {
	t.Helper()
	if out, code := run(t, ns, repo, "init"); code != 0 {
		t.Fatalf("init %s: %s", repo, out)
	}
	path := filepath.Join(repo, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for key, v := range set {
		parts := strings.Split(key, ".")
		m := cfg
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				t.Fatalf("config has no section %q for %s", p, key)
			}
			m = sub
		}
		if _, ok := m[parts[len(parts)-1]]; !ok {
			t.Fatalf("config has no key %s", key)
		}
		m[parts[len(parts)-1]] = v
	}
	raw, err = json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs `dhtnode daemon` for repo inside ns.
func start(t *testing.T, name, ns, repo string) *daemon {
	t.Helper()
	d := &daemon{t: t, name: name, ns: ns, repo: repo, out: &syncBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command("ip", "netns", "exec", ns, dhtnodeBin(t), "daemon", "--api", "127.0.0.1:0")
	d.cmd.Env = append(os.Environ(), "DHTNODE_PATH="+repo, "DHTNODE_API=")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		d.kill()
		// A failed test shows every daemon's log; DHTNODE_NATLAB_LOGS shows them always,
		// to read a passing run's connection decisions.
		if t.Failed() || os.Getenv("DHTNODE_NATLAB_LOGS") != "" {
			t.Logf("daemon %s output:\n%s", name, d.out)
		}
	})
	return d
}

// kill ends the daemon with SIGKILL (ip netns exec execs the binary itself, so
// the signal reaches dhtnode and nothing can leave the cluster gracefully).
func (d *daemon) kill() {
	select {
	case <-d.exited:
	default:
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// run runs one dhtnode CLI command against repo inside ns, where the daemon's
// loopback API is; it returns stdout (or stderr on failure) and the exit code.
func run(t *testing.T, ns, repo string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, dhtnodeBin(t)}, args...)...)
	cmd.Env = append(os.Environ(), "DHTNODE_PATH="+repo, "DHTNODE_API=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return stderr.String(), exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return stdout.String(), 0
}

// jsonOf runs a CLI command with --format json and decodes its answer.
func (d *daemon) jsonOf(v any, args ...string) error {
	out, code := run(d.t, d.ns, d.repo, append(args, "--format", "json")...)
	if code != 0 {
		return fmt.Errorf("%s: %s", strings.Join(args, " "), out)
	}
	return json.Unmarshal([]byte(out), v)
}

// waitFor polls cond until it holds; deadlines are generous for a loaded
// 2-core machine.
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
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, last)
	return 0
}
