package compare

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
)

// Row is the result of one (protocol, N, churn, feed).
type Row struct {
	Protocol       string  `json:"protocol"`
	N              int     `json:"n"`
	Churn          string  `json:"churn"`
	SessionMeanSec float64 `json:"session_mean_sec"`
	Feed           string  `json:"feed"`

	Lookups    int     `json:"lookups"`
	Succeeded  int     `json:"succeeded"`
	SuccessPct float64 `json:"success_pct"`
	Errors     int     `json:"errors"` // lookups that returned an error (the rest of the failures returned a wrong owner)

	HopsMean float64 `json:"hops_mean"`
	HopsP50  float64 `json:"hops_p50"`
	HopsP95  float64 `json:"hops_p95"`
	HopsMax  float64 `json:"hops_max"`

	RPCsPerLookup     float64 `json:"rpcs_per_lookup"`
	TimeoutsPerLookup float64 `json:"timeouts_per_lookup"`

	LatencyMeanMs float64 `json:"latency_mean_ms"`
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP95Ms  float64 `json:"latency_p95_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`

	// Maintenance traffic per live node per second over the quiet window (one-hop:
	// gossip included; the gossip share is also shown on its own).
	MaintMsgsPerNodeSec   float64 `json:"maint_msgs_per_node_sec"`
	MaintBytesPerNodeSec  float64 `json:"maint_bytes_per_node_sec"`
	GossipMsgsPerNodeSec  float64 `json:"gossip_msgs_per_node_sec"`
	GossipBytesPerNodeSec float64 `json:"gossip_bytes_per_node_sec"`

	TableEntriesPerNode float64 `json:"table_entries_per_node"`

	Departures   int     `json:"departures"`
	JoinFailures int     `json:"join_failures"`
	SetupSec     float64 `json:"setup_sec"`
	WindowSec    float64 `json:"window_sec"`
	LookupSec    float64 `json:"lookup_sec"`
}

// Report is a whole run.
type Report struct {
	Command      Config    `json:"config"`
	Started      time.Time `json:"started"`
	Elapsed      float64   `json:"elapsed_sec"`
	GoMaxProcs   int       `json:"gomaxprocs"`
	PeakRSSBytes uint64    `json:"peak_rss_bytes"`
	Latency      string    `json:"latency_model"`
	MedianRTTms  float64   `json:"median_rtt_ms"`
	Rows         []Row     `json:"rows"`
	// Samples holds each row's modelled latencies (ms) of successful lookups, in
	// row order, for the CDF plot.
	Samples [][]float64 `json:"latency_samples_ms"`
	// Fig10 and Fig11 hold a paper experiment's points (Config.Paper).
	Fig10 []PathLengthRow `json:"chord_fig10,omitempty"`
	Fig11 []FailureRow    `json:"chord_fig11,omitempty"`

	samples [][]time.Duration
}

func summarize(res []lookupResult) Row {
	var r Row
	r.Lookups = len(res)
	var hops, lat []float64
	rpcs, tos := 0, 0
	for _, x := range res {
		rpcs += x.rpcs
		tos += x.timeouts
		if x.err != "" && x.err != "wrong owner" {
			r.Errors++
		}
		if !x.ok {
			continue
		}
		r.Succeeded++
		hops = append(hops, float64(x.hops))
		lat = append(lat, float64(x.latency)/float64(time.Millisecond))
	}
	if r.Lookups > 0 {
		r.SuccessPct = 100 * float64(r.Succeeded) / float64(r.Lookups)
		r.RPCsPerLookup = float64(rpcs) / float64(r.Lookups)
		r.TimeoutsPerLookup = float64(tos) / float64(r.Lookups)
	}
	r.HopsMean, r.HopsP50, r.HopsP95, r.HopsMax = mean(hops), quantile(hops, 0.5), quantile(hops, 0.95), quantile(hops, 1)
	r.LatencyMeanMs, r.LatencyP50Ms, r.LatencyP95Ms, r.LatencyP99Ms = mean(lat), quantile(lat, 0.5), quantile(lat, 0.95), quantile(lat, 0.99)
	return r
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// quantile is the nearest-rank quantile (q in [0,1]) of xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// WriteTable prints the rows as an aligned table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "protocol\tN\tchurn\tfeed\tlookups\tsuccess%\thops mean\tp50\tp95\tmax\tRPCs/lkp\ttimeouts/lkp\tlat p50 ms\tp95\tp99\tmaint msg/node/s\tmaint B/node/s\ttable entries\t")
	for _, x := range r.Rows {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%.2f\t%.2f\t%.0f\t%.0f\t%.0f\t%.2f\t%.3f\t%.0f\t%.0f\t%.0f\t%.2f\t%.0f\t%.1f\t\n",
			x.Protocol, x.N, x.Churn, x.Feed, x.Lookups, x.SuccessPct, x.HopsMean, x.HopsP50, x.HopsP95, x.HopsMax,
			x.RPCsPerLookup, x.TimeoutsPerLookup, x.LatencyP50Ms, x.LatencyP95Ms, x.LatencyP99Ms,
			x.MaintMsgsPerNodeSec, x.MaintBytesPerNodeSec, x.TableEntriesPerNode)
	}
	return tw.Flush()
}

var csvHeader = []string{"protocol", "n", "churn", "session_mean_sec", "feed", "lookups", "succeeded", "success_pct", "errors",
	"hops_mean", "hops_p50", "hops_p95", "hops_max", "rpcs_per_lookup", "timeouts_per_lookup",
	"latency_mean_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
	"maint_msgs_per_node_sec", "maint_bytes_per_node_sec", "gossip_msgs_per_node_sec", "gossip_bytes_per_node_sec",
	"table_entries_per_node", "departures", "join_failures", "setup_sec", "window_sec", "lookup_sec"}

// WriteCSV writes one header line and one line per row.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, x := range r.Rows {
		rec := []string{x.Protocol, strconv.Itoa(x.N), x.Churn, f(x.SessionMeanSec), x.Feed, strconv.Itoa(x.Lookups),
			strconv.Itoa(x.Succeeded), f(x.SuccessPct), strconv.Itoa(x.Errors),
			f(x.HopsMean), f(x.HopsP50), f(x.HopsP95), f(x.HopsMax), f(x.RPCsPerLookup), f(x.TimeoutsPerLookup),
			f(x.LatencyMeanMs), f(x.LatencyP50Ms), f(x.LatencyP95Ms), f(x.LatencyP99Ms),
			f(x.MaintMsgsPerNodeSec), f(x.MaintBytesPerNodeSec), f(x.GossipMsgsPerNodeSec), f(x.GossipBytesPerNodeSec),
			f(x.TableEntriesPerNode), strconv.Itoa(x.Departures), strconv.Itoa(x.JoinFailures),
			f(x.SetupSec), f(x.WindowSec), f(x.LookupSec)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the whole report, latency samples included. NaN (no successful
// lookup) is written as null.
func (r *Report) WriteJSON(w io.Writer) error {
	r.Samples = r.Samples[:0]
	for _, s := range r.samples {
		ms := make([]float64, len(s))
		for i, d := range s {
			ms[i] = float64(d) / float64(time.Millisecond)
		}
		r.Samples = append(r.Samples, ms)
	}
	rows := r.Rows
	r.Rows = nil
	type jsonReport Report
	raw, err := json.Marshal((*jsonReport)(r))
	r.Rows = rows
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	var jrows []map[string]any
	for _, x := range rows {
		b, err := json.Marshal(nanFree(x))
		if err != nil {
			return err
		}
		var jm map[string]any
		if err := json.Unmarshal(b, &jm); err != nil {
			return err
		}
		jrows = append(jrows, jm)
	}
	m["rows"] = jrows
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// nanFree replaces NaN statistics (no successful lookup) with -1 so JSON can carry them.
func nanFree(x Row) Row {
	for _, p := range []*float64{&x.HopsMean, &x.HopsP50, &x.HopsP95, &x.HopsMax, &x.LatencyMeanMs,
		&x.LatencyP50Ms, &x.LatencyP95Ms, &x.LatencyP99Ms} {
		if math.IsNaN(*p) {
			*p = -1
		}
	}
	return x
}

// WriteFiles writes results.csv, results.json and the plots into dir.
func (r *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("compare: output directory: %w", err)
	}
	write := func(name string, fn func(io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("compare: %w", err)
		}
		if err := fn(f); err != nil {
			_ = f.Close()
			return fmt.Errorf("compare: write %s: %w", name, err)
		}
		return f.Close()
	}
	if len(r.Fig10) > 0 || len(r.Fig11) > 0 {
		if err := write("results.json", r.WriteJSON); err != nil {
			return err
		}
		if len(r.Fig10) > 0 {
			if err := write("chord_fig10.csv", r.WriteFig10CSV); err != nil {
				return err
			}
		}
		if len(r.Fig11) > 0 {
			if err := write("chord_fig11.csv", r.WriteFig11CSV); err != nil {
				return err
			}
		}
		return r.WritePaperPlots(dir)
	}
	if err := write("results.csv", r.WriteCSV); err != nil {
		return err
	}
	if err := write("results.json", r.WriteJSON); err != nil {
		return err
	}
	return r.WritePlots(dir)
}
