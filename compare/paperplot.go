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
)

// Paper plot file stems; each is written as .png and .svg.
const (
	PlotFig10a = "chord_fig10a"
	PlotFig10b = "chord_fig10b"
	PlotFig11  = "chord_fig11"
)

// WritePaperPlots renders a paper run's figures into dir as PNG and SVG, drawn like
// the paper's: Fig. 10(a) mean path length vs N with 1st and 99th percentiles as
// error bars and ½·log2 N; Fig. 10(b) the PDF of the path length at N = 2^12 (or the
// largest N run below it); Fig. 11 the failed-lookup fraction vs the failed fraction p.
func (r *Report) WritePaperPlots(dir string) error {
	figs := map[string]*plot.Plot{}
	if len(r.Fig10) > 0 {
		figs[PlotFig10a] = r.fig10a()
		figs[PlotFig10b] = r.fig10b()
	}
	if len(r.Fig11) > 0 {
		figs[PlotFig11] = r.fig11()
	}
	for name, p := range figs {
		for _, ext := range []string{".png", ".svg"} {
			if err := p.Save(7*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, name+ext)); err != nil {
				return fmt.Errorf("compare: plot %s%s: %w", name, ext, err)
			}
		}
	}
	return nil
}

func (r *Report) fig10Protocols() []string {
	var out []string
	for _, x := range r.Fig10 {
		if !slices.Contains(out, x.Protocol) {
			out = append(out, x.Protocol)
		}
	}
	return out
}

func (r *Report) fig10a() *plot.Plot {
	p := newPlot("Path length vs number of nodes (Chord paper Fig. 10a)", "number of nodes (log scale)", "path length (hops)")
	var ns []int
	for i, proto := range r.fig10Protocols() {
		var pts plotter.XYs
		var errs plotter.YErrors
		for _, x := range r.Fig10 {
			if x.Protocol != proto || x.Correct == 0 {
				continue
			}
			pts = append(pts, plotter.XY{X: float64(x.N), Y: x.Mean})
			errs = append(errs, struct{ Low, High float64 }{x.Mean - x.P1, x.P99 - x.Mean})
			if !slices.Contains(ns, x.N) {
				ns = append(ns, x.N)
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		styleLine(l, i)
		s.Color, s.Shape = plotutil.Color(i), plotutil.Shape(i)
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{pts, errs})
		if err == nil {
			eb.Color = plotutil.Color(i)
			p.Add(eb)
		}
		p.Add(l, s)
		p.Legend.Add(proto+" mean (bars: 1st, 99th percentile)", l, s)
	}
	slices.Sort(ns)
	if len(ns) == 0 {
		ns = []int{8}
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
		p.Legend.Add("½·log2 N", l)
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

// fig10PDFRow is the Chord point whose PDF Fig. 10(b) shows.
func (r *Report) fig10PDFRow() (PathLengthRow, bool) {
	best, ok := PathLengthRow{}, false
	for _, x := range r.Fig10 {
		if x.Protocol != ProtoChord || x.N > paper10PDFNodes || x.Correct == 0 {
			continue
		}
		if !ok || x.N > best.N {
			best, ok = x, true
		}
	}
	return best, ok
}

func (r *Report) fig10b() *plot.Plot {
	x, ok := r.fig10PDFRow()
	p := newPlot(fmt.Sprintf("PDF of the path length, N = %d (Chord paper Fig. 10b)", x.N), "path length (hops)", "PDF")
	if !ok {
		return p
	}
	var pts plotter.XYs
	for h, v := range x.PDF {
		pts = append(pts, plotter.XY{X: float64(h), Y: v})
	}
	if l, s, err := plotter.NewLinePoints(pts); err == nil {
		styleLine(l, 0)
		s.Color = plotutil.Color(0)
		p.Add(l, s)
		p.Legend.Add(fmt.Sprintf("chord, %d lookups", x.Correct), l, s)
	}
	p.X.Min, p.Y.Min = 0, 0
	return p
}

func (r *Report) fig11() *plot.Plot {
	p := newPlot("Failed lookups vs fraction of failed nodes (Chord paper Fig. 11)", "fraction of failed nodes", "fraction of failed lookups")
	var owner, succ, ref plotter.XYs
	for _, x := range r.Fig11 {
		owner = append(owner, plotter.XY{X: x.P, Y: x.OwnerFailedPct / 100})
		succ = append(succ, plotter.XY{X: x.P, Y: x.SuccessorFailedPct / 100})
		ref = append(ref, plotter.XY{X: x.P, Y: x.P})
	}
	for i, series := range []struct {
		name string
		pts  plotter.XYs
	}{{"original owner not reached (the paper's failed lookups)", owner}, {"live successor not reached", succ}} {
		if len(series.pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(series.pts)
		if err != nil {
			continue
		}
		styleLine(l, i)
		s.Color, s.Shape = plotutil.Color(i), plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(series.name, l, s)
	}
	if l, err := plotter.NewLine(ref); err == nil && len(ref) > 0 {
		l.Color = color.Gray{Y: 100}
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add("y = p", l)
	}
	p.X.Min, p.Y.Min = 0, 0
	p.Legend.Left = true
	return p
}
