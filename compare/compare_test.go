package compare

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func smallConfig(t *testing.T, n int, feed string) Config {
	cfg := DefaultConfig()
	cfg.Nodes = []int{n}
	cfg.Lookups = 200
	cfg.Feed = feed
	cfg.Window = time.Second
	cfg.Settle = time.Second
	cfg.WarmupMax = 90 * time.Second
	cfg.Out = t.TempDir()
	return cfg
}

func TestEndToEndNoChurnAllCorrect(t *testing.T) {
	for _, feed := range []string{FeedGossip, FeedNone} {
		t.Run(feed, func(t *testing.T) {
			cfg := smallConfig(t, 24, feed)
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Rows) != 3 {
				t.Fatalf("%d rows, want 3", len(rep.Rows))
			}
			var buf bytes.Buffer
			_ = rep.WriteTable(&buf)
			t.Log("\n" + buf.String())
			for _, row := range rep.Rows {
				if row.SuccessPct != 100 {
					t.Errorf("%s: success %.2f%%, want 100", row.Protocol, row.SuccessPct)
				}
				if row.Protocol == ProtoOnehop && (row.HopsMean > 1 || row.HopsMean < 0.9) {
					t.Errorf("onehop mean hops %.2f, want about 1", row.HopsMean)
				}
				if row.TableEntriesPerNode <= 0 || row.LatencyP50Ms <= 0 {
					t.Errorf("%s: table entries %.1f, latency p50 %.1f ms", row.Protocol, row.TableEntriesPerNode, row.LatencyP50Ms)
				}
			}
			checkFiles(t, cfg.Out, len(rep.Rows))
		})
	}
}

func checkFiles(t *testing.T, dir string, rows int) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(recs) != rows+1 || recs[0][0] != "protocol" {
		t.Fatalf("results.csv: %d records, err %v", len(recs), err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Rows    []Row       `json:"rows"`
		Samples [][]float64 `json:"latency_samples_ms"`
	}
	if err := json.Unmarshal(b, &parsed); err != nil || len(parsed.Rows) != rows || len(parsed.Samples) != rows {
		t.Fatalf("results.json: %d rows, %d samples, err %v", len(parsed.Rows), len(parsed.Samples), err)
	}
	for _, name := range PlotNames {
		pf, err := os.Open(filepath.Join(dir, name+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(pf); err != nil {
			t.Errorf("%s.png: %v", name, err)
		}
		pf.Close()
		svg, err := os.ReadFile(filepath.Join(dir, name+".svg"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "</svg>") {
			t.Errorf("%s.svg is not an SVG document", name)
		}
	}
}

// TestEndToEndWithChurn: nodes crash and are replaced during the run; lookups keep
// mostly succeeding and the departures show in the report.
func TestEndToEndWithChurn(t *testing.T) {
	cfg := smallConfig(t, 16, FeedGossip)
	cfg.Churn = []time.Duration{20 * time.Second}
	cfg.Lookups = 200
	cfg.LookupRate = 40 // 5 s of lookups
	cfg.Out = ""
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_ = rep.WriteTable(&buf)
	t.Log("\n" + buf.String())
	for _, row := range rep.Rows {
		if row.Departures == 0 || row.JoinFailures != 0 {
			t.Errorf("%s: %d departures, %d failed joins; want some departures and no failed join", row.Protocol, row.Departures, row.JoinFailures)
		}
		if row.SuccessPct < 85 {
			t.Errorf("%s: success %.1f%% under churn, want at least 85%%", row.Protocol, row.SuccessPct)
		}
	}
}

// TestByzantineLiarsLeaveHonestLookupsCorrect: with a fifth of the nodes lying in every
// Chord answer (Config.Byzantine), warm-up converges, the lookups that start at a liar or
// whose key a liar owns are left out (not counted as failures), and every honest lookup
// of an honest-owned key names the right owner.
func TestByzantineLiarsLeaveHonestLookupsCorrect(t *testing.T) {
	cfg := smallConfig(t, 30, FeedGossip)
	cfg.Protocols = []string{ProtoChord}
	cfg.Byzantine = 0.2
	cfg.Out = ""
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_ = rep.WriteTable(&buf)
	t.Log("\n" + buf.String())
	if len(rep.Rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rep.Rows))
	}
	row := rep.Rows[0]
	if row.Lookups >= cfg.Lookups || row.Lookups < cfg.Lookups/3 {
		t.Errorf("%d of %d lookups measured: the liars' share should be left out, and only that", row.Lookups, cfg.Lookups)
	}
	if row.SuccessPct < 99 {
		t.Errorf("success %.2f%% with 20%% liars, want at least 99%%", row.SuccessPct)
	}
}
