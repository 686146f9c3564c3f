package compare

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot file stems; each is written as .png and .svg.
const (
	PlotHopsVsN       = "hops_vs_n"
	PlotLatencyCDF    = "latency_cdf"
	PlotChurnSuccess  = "churn_success"
	PlotChurnLatency  = "churn_latency"
	PlotLatencyVsBand = "latency_vs_bandwidth"
)

// PlotNames lists every plot file stem WritePlots produces.
var PlotNames = []string{PlotHopsVsN, PlotLatencyCDF, PlotChurnSuccess, PlotChurnLatency, PlotLatencyVsBand}

// WritePlots renders the figures into dir as PNG and SVG:
//   - hops vs N (no-churn rows) with the ½·log2 N reference line of the Chord paper;
//   - the CDF of modelled lookup latency per protocol (largest N, no churn or the
//     mildest churn run);
//   - success % and mean latency vs churn rate (departures per node per hour);
//   - mean latency vs maintenance bandwidth per node, one point per row (Li et al.'s
//     cost-versus-performance view).
func (r *Report) WritePlots(dir string) error {
	protos := r.protocols()
	figs := map[string]*plot.Plot{
		PlotHopsVsN:       r.hopsVsN(protos),
		PlotLatencyCDF:    r.latencyCDF(protos),
		PlotChurnSuccess:  r.vsChurn(protos, "success %", func(x Row) float64 { return x.SuccessPct }),
		PlotChurnLatency:  r.vsChurn(protos, "mean latency (ms)", func(x Row) float64 { return x.LatencyMeanMs }),
		PlotLatencyVsBand: r.latencyVsBandwidth(protos),
	}
	for _, name := range PlotNames {
		for _, ext := range []string{".png", ".svg"} {
			if err := figs[name].Save(7*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, name+ext)); err != nil {
				return fmt.Errorf("compare: plot %s%s: %w", name, ext, err)
			}
		}
	}
	return nil
}

func (r *Report) protocols() []string {
	var out []string
	for _, x := range r.Rows {
		if !slices.Contains(out, x.Protocol) {
			out = append(out, x.Protocol)
		}
	}
	return out
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

func styleLine(l *plotter.Line, i int) {
	l.Color = plotutil.Color(i)
	l.Width = vg.Points(1.5)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func (r *Report) hopsVsN(protos []string) *plot.Plot {
	p := newPlot("Lookup path length vs network size (no churn)", "N (nodes, log scale)", "mean hops")
	var ns []int
	for i, proto := range protos {
		var pts plotter.XYs
		for _, x := range r.Rows {
			if x.Protocol == proto && x.SessionMeanSec == 0 && finite(x.HopsMean) {
				pts = append(pts, plotter.XY{X: float64(x.N), Y: x.HopsMean})
				if !slices.Contains(ns, x.N) {
					ns = append(ns, x.N)
				}
			}
		}
		if len(pts) == 0 {
			continue
		}
		slices.SortFunc(pts, func(a, b plotter.XY) int { return int(a.X - b.X) })
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		styleLine(l, i)
		s.Color = plotutil.Color(i)
		s.Shape = plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(proto, l, s)
	}
	slices.Sort(ns)
	if len(ns) == 0 {
		ns = []int{2}
	}
	lo, hi := float64(ns[0])/1.5, float64(ns[len(ns)-1])*1.5
	var ref plotter.XYs
	for x := lo; x <= hi*1.001; x *= 1.1 {
		ref = append(ref, plotter.XY{X: x, Y: 0.5 * math.Log2(x)})
	}
	if l, err := plotter.NewLine(ref); err == nil {
		l.Color = color.Gray{Y: 100}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add("½·log2 N (Chord paper)", l)
	}
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	for _, n := range ns {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = lo, hi
	p.Y.Min = 0
	p.Legend.Left = true
	return p
}

// cdfRows picks, per protocol, the rows whose latency samples the CDF shows: the
// largest N, preferring no churn.
func (r *Report) cdfRows(proto string) (int, bool) {
	best := -1
	for i, x := range r.Rows {
		if x.Protocol != proto || i >= len(r.samples) {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := r.Rows[best]
		if x.N > b.N || (x.N == b.N && x.SessionMeanSec == 0 && b.SessionMeanSec != 0) {
			best = i
		}
	}
	return best, best >= 0
}

func (r *Report) latencyCDF(protos []string) *plot.Plot {
	p := newPlot("Modelled lookup latency CDF", "latency (ms)", "fraction of lookups")
	for i, proto := range protos {
		idx, ok := r.cdfRows(proto)
		if !ok || len(r.samples[idx]) == 0 {
			continue
		}
		ms := make([]float64, len(r.samples[idx]))
		for j, d := range r.samples[idx] {
			ms[j] = d.Seconds() * 1000
		}
		slices.Sort(ms)
		pts := make(plotter.XYs, 0, len(ms)+1)
		pts = append(pts, plotter.XY{X: ms[0], Y: 0})
		for j, v := range ms {
			pts = append(pts, plotter.XY{X: v, Y: float64(j+1) / float64(len(ms))})
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			continue
		}
		styleLine(l, i)
		row := r.Rows[idx]
		p.Legend.Add(fmt.Sprintf("%s (N=%d, churn %s)", proto, row.N, row.Churn), l)
		p.Add(l)
	}
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Left = false
	p.Legend.Top = false
	return p
}

// churnRate turns a session mean into departures per node per hour (0 for none).
func churnRate(x Row) float64 {
	if x.SessionMeanSec <= 0 {
		return 0
	}
	return 3600 / x.SessionMeanSec
}

func (r *Report) vsChurn(protos []string, ylabel string, y func(Row) float64) *plot.Plot {
	p := newPlot(ylabel+" vs churn (largest N)", "churn (departures per node per hour)", ylabel)
	maxN := 0
	for _, x := range r.Rows {
		maxN = max(maxN, x.N)
	}
	for i, proto := range protos {
		var pts plotter.XYs
		for _, x := range r.Rows {
			if x.Protocol == proto && x.N == maxN && finite(y(x)) {
				pts = append(pts, plotter.XY{X: churnRate(x), Y: y(x)})
			}
		}
		if len(pts) == 0 {
			continue
		}
		slices.SortFunc(pts, func(a, b plotter.XY) int {
			if a.X < b.X {
				return -1
			}
			if a.X > b.X {
				return 1
			}
			return 0
		})
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		styleLine(l, i)
		s.Color = plotutil.Color(i)
		s.Shape = plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(proto, l, s)
	}
	p.Legend.Top, p.Legend.Left = false, true
	return p
}

func (r *Report) latencyVsBandwidth(protos []string) *plot.Plot {
	p := newPlot("Lookup latency vs maintenance bandwidth (Li et al.)",
		"maintenance traffic (bytes per node per second)", "mean lookup latency (ms)")
	for i, proto := range protos {
		var pts plotter.XYs
		for _, x := range r.Rows {
			if x.Protocol == proto && finite(x.LatencyMeanMs) && finite(x.MaintBytesPerNodeSec) {
				pts = append(pts, plotter.XY{X: x.MaintBytesPerNodeSec, Y: x.LatencyMeanMs})
			}
		}
		if len(pts) == 0 {
			continue
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			continue
		}
		s.GlyphStyle = draw.GlyphStyle{Color: plotutil.Color(i), Shape: plotutil.Shape(i), Radius: vg.Points(4)}
		p.Add(s)
		p.Legend.Add(proto, s)
	}
	p.X.Min = 0
	p.Y.Min = 0
	return p
}
