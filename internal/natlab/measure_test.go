package natlab

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// measureEnv turns on the lab's long measurements; its value is the minutes the
// stability measurement holds (10 when it is not a number).
const measureEnv = "DHTNODE_NATLAB_MEASURE"

// TestNATMeasurements measures what the lab's short tests only check once: how
// often hole punching succeeds over repeated tries, and how many false
// suspicions an eight-member cluster with four NATed members sees over ten
// minutes. It takes about fifteen minutes, so it runs only with
// DHTNODE_NATLAB_MEASURE set (to the minutes of the stability run, or 1).
func TestNATMeasurements(t *testing.T) {
	requireLab(t)
	env := os.Getenv(measureEnv)
	if env == "" {
		t.Skipf("set %s=MINUTES to run the long NAT measurements (hole punch over 20 tries, false suspicions)", measureEnv)
	}
	minutes, err := strconv.Atoi(env)
	if err != nil || minutes < 1 {
		minutes = 10
	}
	const natted = 4
	c := startCluster(t, coneNAT, defaultLimits, natted)
	t.Logf("%d members (%d NATed) joined; NATed joins took %v", c.size, natted, c.natJoined)

	// False suspicions: every view sampled once a second, every member up the
	// whole time, so any state other than alive is a false suspicion.
	suspicions := 0
	samples := 0
	for end := time.Now().Add(time.Duration(minutes) * time.Minute); time.Now().Before(end); time.Sleep(time.Second) {
		for _, o := range c.all() {
			samples++
			if bad := notAlive(states(o), c.size); bad != "" {
				suspicions++
				t.Logf("%s: %s: %s", time.Now().Format(time.TimeOnly), o.name, bad)
			}
		}
	}
	t.Logf("false suspicions in %d min of %d members (%d NATed): %d in %d view samples", minutes, c.size, natted, suspicions, samples)
	if suspicions > 0 {
		t.Errorf("%d views saw an up member not alive", suspicions)
	}

	// Hole punching: restart one NATed member again and again; gossip to the
	// other NATed members first goes through a relay and must move to a direct
	// (hole-punched) connection.
	const tries = 20
	a, b := c.natted[0], c.natted[1]
	punched := 0
	var took []time.Duration
	for i := range tries {
		b.kill()
		b = start(t, b.name, b.ns, b.repo)
		c.natted[1] = b
		id := b.id().PeerID
		begin := time.Now()
		ok := poll(60*time.Second, func() bool {
			direct, _ := path(t, a, b)
			return direct && states(a)[id] == "alive"
		})
		if ok {
			punched++
			took = append(took, time.Since(begin).Round(10*time.Millisecond))
		} else {
			t.Logf("try %d: no direct connection %s <-> %s within 60 s", i+1, a.name, b.name)
		}
	}
	t.Logf("hole punching: %d of %d tries direct; time from restart to direct: %v", punched, tries, took)
	if punched == 0 {
		t.Errorf("no hole punch in %d tries", tries)
	}
}

// poll reports whether cond held within timeout, checking every 200 ms.
func poll(timeout time.Duration, cond func() bool) bool {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}
