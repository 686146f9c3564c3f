package webui_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestScreenshots regenerates the screenshots in docs/webui/ (every view at 1280×800 and
// at a 390 px phone width) from a live devnet of 5:
//
//	DHTNODE_SCREENSHOTS=1 go test -count=1 -run TestScreenshots ./webui/
//
// It is skipped unless DHTNODE_SCREENSHOTS is set, since it rewrites committed files.
func TestScreenshots(t *testing.T) {
	if os.Getenv("DHTNODE_SCREENSHOTS") == "" {
		t.Skip("set DHTNODE_SCREENSHOTS=1 to regenerate docs/webui/*.png")
	}
	b := startBrowser(t)
	d := startDevnet(t)
	outDir := filepath.Join("..", "docs", "webui")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	compareDir := filepath.Join(t.TempDir(), "compare-out")
	if out, err := exec.Command(d.bin, "compare", "--nodes", "16,32", "--lookups", "200", "--latency", "king", "-q", "--out", compareDir).CombinedOutput(); err != nil {
		t.Fatalf("compare: %v\n%s", err, out)
	}
	id := d.addRandomFile(t, "n1", 24<<20)
	d.cli(t, "n2", "get", "-q", id, "-o", filepath.Join(t.TempDir(), "copy"))
	d.addRandomFile(t, "n5", 3<<20)

	b.run(t, chromedp.Navigate(d.uiURL(t, "n5")))
	b.waitJS(t, "5 alive members", `document.querySelectorAll('tr.member[data-state="alive"]').length === 5`, showMembers)
	sizes := []struct {
		name string
		w, h int64
		opts []chromedp.EmulateViewportOption
	}{
		{"desktop", 1280, 800, nil},
		{"phone", 390, 844, []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile}},
	}
	for _, size := range sizes {
		b.run(t, chromedp.EmulateViewport(size.w, size.h, size.opts...))
		shot := func(view string) {
			t.Helper()
			png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outDir, view+"-"+size.name+".png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b.run(t, js(`location.hash = "#members"; window.scrollTo(0, 0)`), chromedp.Sleep(1500*time.Millisecond))
		shot("members")
		b.run(t, js(`location.hash = "#chord"`))
		b.waitJS(t, "the ring", `document.querySelectorAll("#ring circle.node").length === 5`, `""`)
		b.run(t, chromedp.Sleep(1200*time.Millisecond))
		shot("chord")
		b.run(t, js(`location.hash = "#kademlia"`), chromedp.Sleep(1500*time.Millisecond))
		shot("kademlia")
		b.run(t, js(`location.hash = "#lookup"`), chromedp.Click(chromedp.CSS("#lookup-form button")))
		b.waitJS(t, "three lookups", `document.querySelectorAll(".lookup-result .stats").length === 3`, `document.getElementById("lookup-results").textContent`)
		b.run(t, chromedp.Sleep(2*time.Second))
		shot("lookup")
		b.run(t, js(`location.hash = "#content"`))
		done := d.startGet(t, "n5", id)
		b.waitJS(t, "a transfer half way", `(() => { const c = document.querySelector(".transfer"); return !!c && +c.dataset.held > +c.dataset.total / 3 })()`, `""`)
		shot("content")
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		d.cli(t, "n5", "pin", "rm", id)
		d.cli(t, "n5", "repo", "gc")
		b.run(t, js(`location.hash = "#network"`), chromedp.Sleep(2500*time.Millisecond))
		shot("network")
		// DevTools cannot pick a directory: hand the directory's files to the same input.
		b.run(t, js(`location.hash = "#compare"; document.getElementById("compare-dir").removeAttribute("webkitdirectory")`), chromedp.SetUploadFiles(chromedp.CSS("#compare-dir"), compareFiles(t, compareDir)))
		b.waitJS(t, "compare results", `!!document.getElementById("compare-table")`, `document.getElementById("compare-out").textContent`)
		b.run(t, chromedp.Sleep(time.Second))
		shot("compare")
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %v", errs)
	}
}

// compareFiles lists the files of a compare --out directory for the directory picker.
func compareFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, filepath.Join(dir, e.Name()))
	}
	return out
}
