package webui_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/node"
)

// These tests drive the real UI in headless Chromium against `dhtnode devnet 5`: five
// daemon processes of the freshly built binary. They skip (saying so) when no Chromium is
// installed; .ci/run installs it.

// findChromium returns a Chromium or Chrome binary, or "".
func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// lockedBuf is a bytes sink read while a process writes it.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// devnet is a running `dhtnode devnet` for one test.
type devnet struct {
	bin, dir string
	ids      map[string]client.IDInfo // n1 … → identity
}

// buildBinary builds cmd/dhtnode into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dhtnode")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/dhtnode").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startDevnet runs a devnet of 5 in a fresh directory. n5 downloads at most 4 MiB/s, so
// a get on it lasts long enough to watch its pieces map fill.
func startDevnet(t *testing.T) *devnet {
	t.Helper()
	d := &devnet{bin: buildBinary(t), dir: t.TempDir(), ids: map[string]client.IDInfo{}}
	cfg := node.DefaultConfig()
	cfg.Routing.Routers = []string{"chord", "kademlia", "onehop"}
	cfg.Content.NoSync = true
	cfg.Content.MaxRate = 4 << 20
	if _, err := node.InitRepo(filepath.Join(d.dir, "n5"), cfg); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(d.bin, "devnet", "5", "--dir", d.dir)
	cmd.Env = append(os.Environ(), "DHTNODE_API=")
	out := &lockedBuf{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = io.MultiWriter(pw, out), out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); pw.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("devnet output:\n%s", out)
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Ctrl-C") {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-exited:
		t.Fatalf("devnet exited:\n%s", out)
	case <-time.After(3 * time.Minute):
		t.Fatalf("devnet not ready:\n%s", out)
	}
	for i := 1; i <= 5; i++ {
		name := fmt.Sprintf("n%d", i)
		var info client.IDInfo
		if err := json.Unmarshal([]byte(d.cli(t, name, "id", "--format", "json")), &info); err != nil {
			t.Fatal(err)
		}
		d.ids[name] = info
	}
	return d
}

// cli runs a dhtnode command against node name's repo and returns its stdout.
func (d *devnet) cli(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(d.bin, args...)
	cmd.Env = append(os.Environ(), "DHTNODE_PATH="+filepath.Join(d.dir, name), "DHTNODE_API=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dhtnode %v on %s: %v\n%s", args, name, err, stderr.String())
	}
	return string(out)
}

// uiURL is the address that opens node name's web UI in a browser.
func (d *devnet) uiURL(t *testing.T, name string) string {
	return strings.TrimSpace(d.cli(t, name, "webui", "--print"))
}

// browser starts headless Chromium and collects every console error, uncaught exception
// and error log entry (failed loads, CSP violations) the page produces.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func startBrowser(t *testing.T) *browser {
	t.Helper()
	exe := findChromium()
	if exe == "" {
		t.Skip("no chromium binary found (apt-get install chromium): browser tests skipped")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{ctx: ctx}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, m.String()+" "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *browser) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// js runs a JavaScript statement for its effect.
func js(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, tg)
		return err
	})
}

// waitJS polls a JavaScript expression until it is true; on timeout it reports what
// the expression show evaluates to.
func (b *browser) waitJS(t *testing.T, what, expr, show string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](show))
			cancel()
			t.Fatalf("timed out waiting for %s; page shows: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *browser) evalInt(t *testing.T, expr string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// startGet runs `dhtnode get` of id on node name in the background.
func (d *devnet) startGet(t *testing.T, name, id string) <-chan error {
	cmd := exec.Command(d.bin, "get", "-q", id, "-o", filepath.Join(t.TempDir(), "got"))
	cmd.Env = append(os.Environ(), "DHTNODE_PATH="+filepath.Join(d.dir, name), "DHTNODE_API=")
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { done <- cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	return done
}

// addRandomFile adds size random bytes on node name and returns the content ID.
func (d *devnet) addRandomFile(t *testing.T, name string, size int) string {
	t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	path := filepath.Join(t.TempDir(), "video.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(d.cli(t, name, "add", "-q", path))
}

const showMembers = `Array.from(document.querySelectorAll("tr.member")).map(r => r.dataset.peer.slice(-6) + ":" + r.dataset.state).join(" ") + " | " + document.getElementById("status").textContent`

func TestWebUIAgainstDevnet(t *testing.T) {
	b := startBrowser(t)
	d := startDevnet(t)

	// Members: five, all alive.
	b.run(t, chromedp.Navigate(d.uiURL(t, "n1")))
	b.waitJS(t, "5 alive members", `document.querySelectorAll('tr.member[data-state="alive"]').length === 5`, showMembers)

	t.Log("Chord")
	// Chord: five nodes on the ring, and this node's arcs.
	b.run(t, js(`location.hash = "#chord"`))
	b.waitJS(t, "5 nodes on the ring", `document.querySelectorAll("#ring circle.node").length === 5 && document.querySelectorAll("#ring path.arc").length > 0`,
		`document.getElementById("ring").outerHTML.slice(0, 400)`)

	t.Log("Kademlia")
	// Kademlia: the buckets hold the four other nodes.
	b.run(t, js(`location.hash = "#kademlia"`))
	b.waitJS(t, "buckets with 4 peers", `Array.from(document.querySelectorAll(".bucket .muted")).reduce((s, e) => s + parseInt(e.textContent), 0) === 4`,
		`document.getElementById("buckets").textContent`)

	t.Log("Lookup")
	// Lookup: one card per router, each with a drawn path and its numbers.
	b.run(t, js(`location.hash = "#lookup"`), chromedp.Click(chromedp.CSS("#lookup-form button")))
	b.waitJS(t, "a path for each router",
		`["chord","kademlia","onehop"].every(r => { const c = document.querySelector('.lookup-result[data-router="' + r + '"]');
		   return c && !c.querySelector(".err") && c.querySelector("polyline.path") && c.querySelector("polyline.path").getAttribute("points").length > 0 && /hops \d/.test(c.textContent) })`,
		`document.getElementById("lookup-results").textContent`)

	t.Log("Content")
	// Content: a get on n5 (rate-limited) fills its pieces map while we watch.
	id := d.addRandomFile(t, "n1", 24<<20)
	b.run(t, chromedp.Navigate(d.uiURL(t, "n5")+"#content"))
	b.waitJS(t, "the n5 page", fmt.Sprintf(`document.getElementById("self").textContent.includes(%q)`, d.ids["n5"].PeerID[len(d.ids["n5"].PeerID)-6:]),
		`document.getElementById("self").textContent`)
	done := d.startGet(t, "n5", id)
	b.waitJS(t, "a transfer with some pieces held", `(() => { const c = document.querySelector(".transfer"); return !!c && +c.dataset.held > 0 && +c.dataset.held < +c.dataset.total })()`,
		`document.getElementById("transfers").textContent`)
	first := b.evalInt(t, `+document.querySelector(".transfer").dataset.held`)
	b.waitJS(t, "the pieces map to fill further", fmt.Sprintf(`+document.querySelector(".transfer").dataset.held > %d`, first),
		`document.getElementById("transfers").textContent`)
	if n := b.evalInt(t, `document.querySelectorAll(".transfer .piece").length`); n != 96 {
		t.Fatalf("pieces map has %d squares, want 96 (24 MiB in 256 KiB pieces)", n)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("get: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("get did not finish in 2 minutes")
	}
	b.waitJS(t, "the content listed", fmt.Sprintf(`!!document.querySelector('tr.content-row[data-id="%s"]')`, id), `document.getElementById("content-table").textContent`)

	t.Log("A killed node")
	// A killed node is marked dead.
	if err := syscall.Kill(d.ids["n4"].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.run(t, js(`location.hash = "#members"`))
	b.waitJS(t, "n4 marked dead", fmt.Sprintf(`!!document.querySelector('tr.member[data-peer="%s"][data-state="dead"]')`, d.ids["n4"].PeerID), showMembers)

	t.Log("Phone width")
	// Phone width: no view scrolls sideways.
	b.run(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, v := range []string{"members", "chord", "kademlia", "lookup", "content", "network", "compare"} {
		b.run(t, js(`location.hash = "#`+v+`"`), chromedp.Sleep(300*time.Millisecond))
		if w := b.evalInt(t, `document.documentElement.scrollWidth`); w > 392 {
			t.Errorf("view %s is %d px wide on a 390 px phone", v, w)
		}
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}
