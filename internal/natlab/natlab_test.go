package natlab

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
)

const (
	// nPublic public hosts: one is the relay, and together they are enough
	// distinct observers (libp2p wants several) for a NATed node to learn its
	// external address, which hole punching needs.
	nPublic = 4
	// nNAT hosts, each behind a router of its own (the long measurement runs more).
	nNAT = 2
	// contentSize is the file moved between the two NATed nodes.
	contentSize = 64 << 20
	// libp2pPort is every daemon's listen port inside its namespace.
	libp2pPort = 4001
)

// cluster is the lab's daemons: publics[0] is the relay and first member.
type cluster struct {
	// size is the number of members: public and NATed.
	size    int
	top     topology
	publics []*daemon
	natted  []*daemon
	// natJoined is how long each NATed node took from start until it and every
	// other member saw it alive.
	natJoined []time.Duration
}

func (c *cluster) all() []*daemon { return append(append([]*daemon{}, c.publics...), c.natted...) }

// relayLimits is what the public nodes' relays let through.
type relayLimits int

const (
	// defaultLimits keeps libp2p's limits (128 KiB, 2 minutes per relayed
	// connection): enough for gossip and a hole punch, not for content.
	defaultLimits relayLimits = iota
	// contentLimits raises them so that the lab's content fits: relayed
	// connections stay limited, so a get still prefers a direct one.
	contentLimits
)

// startCluster builds the lab and starts every daemon with a shared cluster
// secret, the public ones relaying within limits.
func startCluster(t *testing.T, kind natKind, limits relayLimits, natted int) *cluster {
	t.Helper()
	l := newLab(t)
	c := &cluster{size: nPublic + natted, top: l.build(nPublic, natted, kind)}
	base := t.TempDir()
	secret := newSecret()
	listen := []any{fmt.Sprintf("/ip6/::/tcp/%d", libp2pPort), fmt.Sprintf("/ip6/::/udp/%d/quic-v1", libp2pPort)}
	common := func(reach string) map[string]any {
		cfg := map[string]any{
			"addresses.listen":       listen,
			"addresses.reachability": reach,
			"gossip.secret":          secret,
			"gossip.profile":         "lan",
		}
		// Every public node relays, and NATed nodes reserve on any member's relay,
		// so the policy holds for all of them.
		if reach == "public" {
			switch limits {
			case contentLimits:
				cfg["relay.limit_data"] = 4 * contentSize
				cfg["relay.limit_duration"] = "10m"
			}
		}
		return cfg
	}

	relayCfg := common("public")
	relayRepo := filepath.Join(base, "pub0")
	initRepo(t, c.top.publics[0], relayRepo, relayCfg)
	relay := start(t, "pub0", c.top.publics[0], relayRepo)
	relayID := relay.id().PeerID
	// The relay's join address as `dhtnode id` prints it: QUIC, so that the NATed
	// members learn their external QUIC address too, which hole punching uses.
	join := []any{fmt.Sprintf("/ip6/%s/udp/%d/quic-v1/p2p/%s", c.top.pubIPs[0], libp2pPort, relayID)}
	c.publics = append(c.publics, relay)

	for i := 1; i < nPublic; i++ {
		cfg := common("public")
		cfg["gossip.join"] = join
		name := fmt.Sprintf("pub%d", i)
		repo := filepath.Join(base, name)
		initRepo(t, c.top.publics[i], repo, cfg)
		c.publics = append(c.publics, start(t, name, c.top.publics[i], repo))
	}
	waitMembers(t, c.publics, len(c.publics), 90*time.Second)

	started := make([]time.Time, natted)
	for i := range natted {
		cfg := common("private")
		cfg["gossip.join"] = join
		cfg["relay.static"] = join
		name := fmt.Sprintf("nat%d", i)
		repo := filepath.Join(base, name)
		initRepo(t, c.top.natted[i], repo, cfg)
		started[i] = time.Now()
		c.natted = append(c.natted, start(t, name, c.top.natted[i], repo))
	}
	c.natJoined = make([]time.Duration, natted)
	for i, d := range c.natted {
		id := d.id().PeerID
		waitFor(t, d.name+" alive in every view", 120*time.Second, func() (bool, string) {
			for _, o := range c.all() {
				if st := states(o)[id]; st != "alive" {
					return false, fmt.Sprintf("%s sees %s as %q", o.name, d.name, st)
				}
			}
			return true, ""
		})
		c.natJoined[i] = time.Since(started[i])
	}
	waitMembers(t, c.all(), c.size, 120*time.Second)
	// A NATed member can be dialled only at a relay address, which it advertises once its
	// reservation is made: a get before every member has learned it fails to dial.
	for _, d := range c.natted {
		id := d.id().PeerID
		waitFor(t, d.name+"'s relay address in every view", 120*time.Second, func() (bool, string) {
			for _, o := range c.all() {
				if o == d {
					continue
				}
				if m := members(o)[id]; !slices.ContainsFunc(m.Addrs, isRelayAddr) {
					return false, fmt.Sprintf("%s knows %s at %v", o.name, d.name, m.Addrs)
				}
			}
			return true, ""
		})
	}
	return c
}

func isRelayAddr(a string) bool { return strings.Contains(a, "/p2p-circuit") }

// id waits for the daemon's API and returns its identity.
func (d *daemon) id() client.IDInfo {
	d.t.Helper()
	var info client.IDInfo
	waitFor(d.t, "the API of "+d.name, 90*time.Second, func() (bool, string) {
		select {
		case <-d.exited:
			d.t.Fatalf("daemon %s exited early:\n%s", d.name, d.out)
		default:
		}
		err := d.jsonOf(&info, "id")
		return err == nil, fmt.Sprint(err)
	})
	return info
}

// members is peer ID -> member in d's view (empty when the API fails).
func members(d *daemon) map[string]client.MemberInfo {
	var ms []client.MemberInfo
	out := map[string]client.MemberInfo{}
	if err := d.jsonOf(&ms, "members"); err != nil {
		return out
	}
	for _, m := range ms {
		out[m.PeerID] = m
	}
	return out
}

// states is peer ID -> gossip state in d's view (empty when the API fails).
func states(d *daemon) map[string]string {
	out := map[string]string{}
	for id, m := range members(d) {
		out[id] = m.State
	}
	return out
}

// waitMembers waits until every daemon sees n members, all alive.
func waitMembers(t *testing.T, ds []*daemon, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d alive members in every view", n), timeout, func() (bool, string) {
		for _, d := range ds {
			if bad := notAlive(states(d), n); bad != "" {
				return false, d.name + ": " + bad
			}
		}
		return true, ""
	})
}

// notAlive describes what keeps view from being n alive members, or "".
func notAlive(view map[string]string, n int) string {
	if len(view) != n {
		return fmt.Sprintf("%d members, want %d", len(view), n)
	}
	for id, st := range view {
		if st != "alive" {
			return fmt.Sprintf("%s is %s", id, st)
		}
	}
	return ""
}

// holdStable checks every view once a second for d and fails on the first
// member seen not alive: a false suspicion of a member that is up.
func holdStable(t *testing.T, c *cluster, d time.Duration) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(time.Second) {
		for _, o := range c.all() {
			if bad := notAlive(states(o), c.size); bad != "" {
				t.Fatalf("membership not stable: %s sees %s", o.name, bad)
			}
		}
	}
}

// addRandom adds size random bytes on src and returns the content ID and the
// bytes' SHA-256.
func addRandom(t *testing.T, src *daemon, size int64) (id string, sum []byte) {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in.bin")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, want), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, src.ns, src.repo, "add", "-q", in)
	if code != 0 {
		t.Fatalf("add on %s: %s", src.name, out)
	}
	return strings.TrimSpace(out), want.Sum(nil)
}

// transfer adds a random file on src and gets it on dst by content ID, checks
// the bytes, and returns the get's wall time.
func transfer(t *testing.T, src, dst *daemon) time.Duration {
	t.Helper()
	id, want := addRandom(t, src, contentSize)
	dest := filepath.Join(t.TempDir(), "out.bin")
	begin := time.Now()
	if out, code := run(t, dst.ns, dst.repo, "get", id, "-o", dest); code != 0 {
		for _, d := range []*daemon{src, dst} {
			info, _ := run(t, d.ns, d.repo, "id")
			peers, _ := run(t, d.ns, d.repo, "peers")
			t.Logf("%s after the failed get:\n%s\n%s", d.name, info, peers)
		}
		t.Fatalf("get %s on %s from %s: %s", id, dst.name, src.name, out)
	}
	took := time.Since(begin)
	got := sha256.New()
	g, err := os.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := io.Copy(got, g); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Sum(nil), want) {
		t.Fatalf("the %d MiB got on %s differ from what %s added", contentSize>>20, dst.name, src.name)
	}
	return took
}

// path says how a's connections to b run: "direct", "relayed", or both.
func path(t *testing.T, a, b *daemon) (direct, relayed bool) {
	t.Helper()
	bID := b.id().PeerID
	var peers []client.PeerInfo
	if err := a.jsonOf(&peers, "peers"); err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if p.PeerID != bID {
			continue
		}
		for _, c := range p.Conns {
			if c.Relayed {
				relayed = true
			} else {
				direct = true
			}
		}
	}
	return direct, relayed
}

// killDetected kills victim with SIGKILL and waits until every other member
// sees it as not alive; it returns the time that took.
func killDetected(t *testing.T, c *cluster, victim *daemon) time.Duration {
	t.Helper()
	id := victim.id().PeerID
	victim.kill()
	begin := time.Now()
	waitFor(t, victim.name+" detected as failed", 120*time.Second, func() (bool, string) {
		for _, o := range c.all() {
			if o == victim {
				continue
			}
			if st := states(o)[id]; st == "alive" || st == "" {
				return false, fmt.Sprintf("%s sees %s as %q", o.name, victim.name, st)
			}
		}
		return true, ""
	})
	return time.Since(begin)
}

func rate(took time.Duration) string {
	return fmt.Sprintf("%.0f MB/s", float64(contentSize)/took.Seconds()/1e6)
}

// TestBehindConeNATs is the lab's main case: two members behind two different
// port-preserving NATs join through a public relay, stay alive in every view,
// move 64 MiB between them byte for byte, and a kill -9 of one is detected. The
// relays' limits let the content through, as an operator who wants transfers to
// survive a failed hole punch sets them; the get prefers the direct connection
// hole punching makes (not every time: TestNATMeasurements counts how often)
// and the test reports which one carried it.
func TestBehindConeNATs(t *testing.T) {
	requireLab(t)
	c := startCluster(t, coneNAT, contentLimits, nNAT)
	t.Logf("joined through NAT in %v and %v (start to alive in all %d views)", c.natJoined[0], c.natJoined[1], nPublic+nNAT)
	holdStable(t, c, 60*time.Second)
	t.Logf("membership stable for 60 s: no member seen suspect or dead")

	took := transfer(t, c.natted[1], c.natted[0])
	direct, relayed := path(t, c.natted[0], c.natted[1])
	t.Logf("64 MiB nat1 -> nat0 in %v (%s); connection direct=%v relayed=%v", took.Round(time.Millisecond), rate(took), direct, relayed)
	if !direct && !relayed {
		t.Errorf("no connection at all between the NATed nodes after the transfer")
	}
	t.Logf("kill -9 of nat1 detected by every member in %v", killDetected(t, c, c.natted[1]).Round(time.Millisecond))
}

// TestBehindSymmetricNATs gives every outgoing connection a random port
// (MASQUERADE --random-fully), so no hole can be punched: the members still
// join, and the 64 MiB still arrive, over the relay's limited connection once
// the get has given up waiting for a direct one.
func TestBehindSymmetricNATs(t *testing.T) {
	requireLab(t)
	c := startCluster(t, symmetricNAT, contentLimits, nNAT)
	t.Logf("joined through symmetric NAT in %v and %v", c.natJoined[0], c.natJoined[1])
	holdStable(t, c, 10*time.Second)

	took := transfer(t, c.natted[1], c.natted[0])
	direct, relayed := path(t, c.natted[0], c.natted[1])
	t.Logf("64 MiB nat1 -> nat0 in %v (%s); connection direct=%v relayed=%v", took.Round(time.Millisecond), rate(took), direct, relayed)
	if !relayed {
		t.Errorf("no relayed connection between the NATed nodes after the transfer (direct=%v): symmetric NATs leave only the relay", direct)
	}
	t.Logf("kill -9 of nat1 detected by every member in %v", killDetected(t, c, c.natted[1]).Round(time.Millisecond))
}

// TestRelayLimitsEndContent keeps libp2p's default relay limits (128 KiB per
// relayed connection) behind symmetric NATs, where no hole can be punched: a get
// that needs more than the relay lets through fails, and says that the relay's
// limits ended it and which keys raise them, rather than hanging or blaming the
// provider.
func TestRelayLimitsEndContent(t *testing.T) {
	requireLab(t)
	c := startCluster(t, symmetricNAT, defaultLimits, nNAT)
	id, _ := addRandom(t, c.natted[1], 4<<20)
	out, code := run(t, c.natted[0].ns, c.natted[0].repo, "get", id, "-o", filepath.Join(t.TempDir(), "out.bin"))
	t.Logf("4 MiB get through a relay at default limits: exit %d: %s", code, strings.TrimSpace(out))
	if code == 0 {
		t.Fatalf("a 4 MiB get crossed a relay limited to 128 KiB per connection")
	}
	for _, want := range []string{"relay", "relay.limit_data"} {
		if !strings.Contains(out, want) {
			t.Errorf("the failed get does not mention %q: %s", want, out)
		}
	}
}
