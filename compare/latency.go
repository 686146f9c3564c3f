package compare

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Latency model names accepted by --latency.
const (
	// LatencyKing places nodes on a 2-D plane in four weighted regions (like the
	// continents of the King data set's hosts) and gives each an access delay; it is
	// calibrated so that the median pairwise RTT is KingMedianRTT.
	LatencyKing = "king"
	// LatencyNone makes every RTT zero: lookup latency is then the timeout penalties only.
	LatencyNone = "none"
	// LatencyConstPrefix, as "const:80ms", gives every pair the same RTT.
	LatencyConstPrefix = "const:"
)

// KingMedianRTT is the median RTT the king model is calibrated to: about the median
// of the King data set (Gummadi et al., IMW 2002) that p2psim and Li et al. used.
const KingMedianRTT = 150 * time.Millisecond

// Coord is a node's place in the latency model: a point on the plane and a one-way
// access-link delay, both in model milliseconds before calibration.
type Coord struct {
	X, Y   float64
	Access float64
}

// region is one cluster of hosts on the plane.
type region struct {
	x, y, spread, weight float64
}

// kingRegions are four clusters, positioned so that inter-region one-way distances are
// roughly those between North America (east and west), Europe and East Asia, in ms.
var kingRegions = []region{
	{x: 0, y: 0, spread: 8, weight: 0.35},    // North America, east
	{x: 30, y: 8, spread: 8, weight: 0.15},   // North America, west
	{x: -40, y: 10, spread: 8, weight: 0.30}, // Europe
	{x: 85, y: 35, spread: 12, weight: 0.20}, // East Asia
}

// LatencyModel gives a modelled round-trip time between two nodes. It never sleeps:
// compare adds the RTTs over each lookup's Trace.Path afterwards, so CPU load on this
// machine does not distort latency.
//
// The king model: RTT(a, b) = scale · (2·|pa − pb| + 2·(access_a + access_b)), where
// pa, pb are points drawn from the regions above and access delays are log-normal
// (median 4 ms one way, σ = 0.7: most hosts are close to their backbone, a tail of
// slow access links gives the long tail of the King RTTs). scale is fixed at
// construction so that the median RTT over many random pairs is KingMedianRTT.
type LatencyModel struct {
	name  string
	scale float64       // king: model ms → real ms
	rtt   time.Duration // const: the one RTT
}

// NewLatencyModel returns the named model (LatencyKing, LatencyNone, or "const:DUR").
func NewLatencyModel(name string) (*LatencyModel, error) {
	switch {
	case name == LatencyKing || name == "":
		m := &LatencyModel{name: LatencyKing, scale: 1}
		m.scale = float64(KingMedianRTT.Milliseconds()) / m.sampleMedianMs(rand.New(rand.NewPCG(0x6b696e67, 1)), 40000)
		return m, nil
	case name == LatencyNone:
		return &LatencyModel{name: LatencyNone}, nil
	case strings.HasPrefix(name, LatencyConstPrefix):
		d, err := time.ParseDuration(strings.TrimPrefix(name, LatencyConstPrefix))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%w: latency model %q: want const:DURATION", ErrBadConfig, name)
		}
		return &LatencyModel{name: name, rtt: d}, nil
	}
	return nil, fmt.Errorf("%w: unknown latency model %q (want %s, %s or const:DUR)", ErrBadConfig, name, LatencyKing, LatencyNone)
}

// Name is the model's name as given to --latency.
func (m *LatencyModel) Name() string { return m.name }

// Place draws a node's coordinates from rng.
func (m *LatencyModel) Place(rng *rand.Rand) Coord {
	u := rng.Float64()
	r := kingRegions[len(kingRegions)-1]
	for _, reg := range kingRegions {
		if u < reg.weight {
			r = reg
			break
		}
		u -= reg.weight
	}
	return Coord{
		X:      r.x + rng.NormFloat64()*r.spread,
		Y:      r.y + rng.NormFloat64()*r.spread,
		Access: 4 * math.Exp(0.7*rng.NormFloat64()),
	}
}

// RTT is the modelled round-trip time between two placed nodes.
func (m *LatencyModel) RTT(a, b Coord) time.Duration {
	switch m.name {
	case LatencyNone:
		return 0
	case LatencyKing:
		return time.Duration(m.rawMs(a, b) * m.scale * float64(time.Millisecond))
	}
	return m.rtt
}

func (m *LatencyModel) rawMs(a, b Coord) float64 {
	return 2*math.Hypot(a.X-b.X, a.Y-b.Y) + 2*(a.Access+b.Access)
}

func (m *LatencyModel) sampleMedianMs(rng *rand.Rand, pairs int) float64 {
	s := make([]float64, pairs)
	for i := range s {
		s[i] = m.rawMs(m.Place(rng), m.Place(rng))
	}
	slices.Sort(s)
	return s[len(s)/2]
}
