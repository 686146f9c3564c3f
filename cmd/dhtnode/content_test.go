package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/node"
)

// initRepo creates a repo and lets the test adjust its config before the first start.
func initRepo(t *testing.T, path string, edit func(*node.Config)) {
	t.Helper()
	cfg := node.DefaultConfig()
	edit(&cfg)
	if _, err := node.InitRepo(path, cfg); err != nil {
		t.Fatal(err)
	}
}

// p2pAddr is the daemon's first TCP address with its peer ID, for --from.
func p2pAddr(t *testing.T, info client.IDInfo) string {
	t.Helper()
	for _, a := range info.Addrs {
		if strings.Contains(a, "/tcp/") {
			return a + "/p2p/" + info.PeerID
		}
	}
	t.Fatalf("no TCP address in %v", info.Addrs)
	return ""
}

func contentInfo(t *testing.T, repo, id string) (client.ContentInfo, string) {
	out, errOut, code := cli(t, repo, "info", id, "--format", "json")
	if code != 0 {
		return client.ContentInfo{}, errOut
	}
	var info client.ContentInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		return info, out
	}
	return info, fmt.Sprintf("%d/%d pieces", info.Have, info.Pieces)
}

// TestGetResumesAfterSIGKILL: add on A, get --from A on B, interrupted by Ctrl-C on the CLI,
// then again; B is SIGKILLed part way (its downloads are throttled with content.max_rate so
// "part way" is reliable), restarted, and the same get completes, fetching only the pieces B
// did not have.
func TestGetResumesAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	base := t.TempDir()
	repoA, repoB := filepath.Join(base, "a"), filepath.Join(base, "b")
	initRepo(t, repoB, func(c *node.Config) {
		c.Content.MaxRate = 3 << 20 // 3 MB/s: 24 MiB take ~8 s
		c.Content.PieceSize = 64 << 10
	})
	data := make([]byte, 24<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(base, "payload.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}

	a := startDaemon(t, repoA)
	from := p2pAddr(t, a.id())
	out, errOut, code := cli(t, repoA, "add", "-q", "--piece-size", "65536", file)
	if code != 0 {
		t.Fatalf("add: %s", errOut)
	}
	id := strings.TrimSpace(out)
	// add -n computes the same ID without a daemon.
	if out, _, _ := cli(t, repoA, "add", "-n", "-q", "--piece-size", "65536", file); strings.TrimSpace(out) != id {
		t.Fatalf("add -n gave %q, add gave %q", out, id)
	}

	b := startDaemon(t, repoB)
	b.id()
	outPath := filepath.Join(base, "got.bin")
	// Ctrl-C on the CLI first: it says what was kept and how to resume.
	interrupted := exec.Command(dhtnodeBin(t), "get", id, "--from", from, "-o", outPath)
	interrupted.Env = append(os.Environ(), "DHTNODE_PATH="+repoB, "DHTNODE_API=")
	var intErr bytes.Buffer
	interrupted.Stderr = &intErr
	if err := interrupted.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to hold a sixth of the pieces", 60*time.Second, func() (bool, string) {
		info, state := contentInfo(t, repoB, id)
		return info.Pieces > 0 && info.Have >= info.Pieces/6, state
	})
	if err := interrupted.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := interrupted.Wait(); err == nil || !strings.Contains(intErr.String(), "get interrupted with at least") ||
		!strings.Contains(intErr.String(), "run the same get again to resume") {
		t.Fatalf("interrupted get: %v, stderr %q", err, intErr.String())
	}
	get := exec.Command(dhtnodeBin(t), "get", id, "--from", from, "-o", outPath)
	get.Env = append(os.Environ(), "DHTNODE_PATH="+repoB, "DHTNODE_API=")
	var getErr bytes.Buffer
	get.Stderr = &getErr
	if err := get.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to hold a third of the pieces", 60*time.Second, func() (bool, string) {
		info, state := contentInfo(t, repoB, id)
		return info.Pieces > 0 && info.Have >= info.Pieces/3, state
	})
	if err := b.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-b.exited
	if err := get.Wait(); err == nil {
		t.Fatal("get succeeded although its daemon was killed")
	}
	if _, err := os.Stat(outPath); !os.IsNotExist(err) {
		t.Fatalf("output visible after the kill: %v", err)
	}
	t.Logf("first get ended with: %s", strings.TrimSpace(getErr.String()))

	b2 := startDaemon(t, repoB)
	b2.id()
	before, _ := contentInfo(t, repoB, id)
	if before.Have == 0 || before.Have == before.Pieces {
		t.Fatalf("after restart B holds %d of %d pieces", before.Have, before.Pieces)
	}
	out, errOut, code = cli(t, repoB, "get", id, "--from", from, "-o", outPath, "--format", "json")
	if code != 0 {
		t.Fatalf("resumed get: %s", errOut)
	}
	var res client.GetResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Resumed < before.Have || res.Resumed == res.Pieces {
		t.Fatalf("resumed %d pieces, B held %d of %d", res.Resumed, before.Have, res.Pieces)
	}
	fetched := 0
	for _, n := range res.Fetched {
		fetched += n
	}
	if fetched+res.Resumed != res.Pieces {
		t.Fatalf("fetched %d + resumed %d != %d pieces", fetched, res.Resumed, res.Pieces)
	}
	got, err := os.ReadFile(outPath)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("output differs from the added file (err %v)", err)
	}
	// cat on B serves it from the store, verified.
	out, _, code = cli(t, repoB, "cat", id)
	if code != 0 || out != string(data) {
		t.Fatalf("cat: code %d, %d bytes", code, len(out))
	}
	// B holds the content only in the output (linked), and info, ls and repo stat say so.
	if info, state := contentInfo(t, repoB, id); info.Linked != outPath || info.Have != info.Pieces {
		t.Fatalf("B's info: linked %q, %s; want complete and linked to %s", info.Linked, state, outPath)
	}
	out, _, _ = cli(t, repoB, "info", id)
	if !strings.Contains(out, "data:        "+outPath+" (linked") {
		t.Errorf("info does not say where the data is:\n%s", out)
	}
	out, _, _ = cli(t, repoB, "ls")
	if !strings.Contains(out, "  "+outPath+"\n") {
		t.Errorf("ls does not show the linked output:\n%s", out)
	}
	out, _, _ = cli(t, repoB, "repo", "stat", "--format", "json")
	var st client.RepoStatInfo
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Pieces != 0 || st.Linked != 1 || st.LinkedBytes != int64(len(data)) {
		t.Fatalf("B's repo stat %+v (%v); want 0 piece files and 1 linked content of %d bytes", st, err, len(data))
	}
}

// TestContentPrinters: the text of info, ls, repo stat and repo verify, linked content
// included, stays aligned and says where the data is.
func TestContentPrinters(t *testing.T) {
	var b strings.Builder
	_ = printContentInfo(&b, client.ContentInfo{ID: "bafy1", Name: "got.bin", Kind: "file", Size: 3 << 20, PieceSize: 1 << 18,
		Pieces: 12, Have: 12, Pinned: true, Local: true, Linked: "/home/u/got.bin",
		Files: []client.FileInfo{{Path: "got.bin", Size: 3 << 20, Root: "ab12", Pieces: 12, Have: 12}}})
	if want := "pinned:      true\ndata:        /home/u/got.bin (linked: a get's output; moving or editing it stops serving it)\nPATH"; !strings.Contains(b.String(), want) {
		t.Errorf("info of linked content:\n%s\nwant it to contain:\n%s", b.String(), want)
	}
	b.Reset()
	_ = printContentInfo(&b, client.ContentInfo{ID: "bafy2", Name: "x", Kind: "file"})
	if strings.Contains(b.String(), "data:") {
		t.Errorf("info of content in piece files has a data line:\n%s", b.String())
	}

	b.Reset()
	_ = printContentList(&b, []client.ListEntry{
		{ID: "bafy1", Name: "got.bin", Kind: "file", Size: 3 << 20, Pieces: 12, Have: 12, Complete: true, Pinned: true, Linked: "/home/u/got.bin"},
		{ID: "bafy2", Name: "added.bin", Kind: "file", Size: 100, Pieces: 1, Have: 0, Pinned: true},
	})
	want := `ID     NAME       KIND  SIZE     HELD      PINNED  DATA
bafy1  got.bin    file  3.0 MiB  complete  true    /home/u/got.bin
bafy2  added.bin  file  100 B    0/1       true    store
`
	if b.String() != want {
		t.Errorf("ls:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	_ = printRepoStat(&b, client.RepoStatInfo{Dir: "/r/blocks", Contents: 2, Pinned: 2, Pieces: 1, PieceBytes: 100, Segments: 1, DiskBytes: 4096,
		Linked: 1, LinkedBytes: 3 << 20, MetadataSize: 32 << 10})
	want = `dir:          /r/blocks
contents:     2 (2 pinned)
pieces:       1 (100 B) in 1 segment files (4.0 KiB on disk)
linked:       1 contents (3.0 MiB in get outputs)
quarantined:  0
metadata:     32.0 KiB
`
	if b.String() != want {
		t.Errorf("repo stat:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	_ = printVerifyReport(&b, client.VerifyReport{Checked: 13, Corrupt: []string{"p2", "p1"}, CorruptLinked: []string{"p2"}, Incomplete: []string{"bafy1"}})
	want = `checked 13 pieces (piece files and linked files): 2 corrupt
  corrupt piece p1 (quarantined)
  corrupt piece p2 (in a get's output, changed since: marked missing)
  pinned content bafy1 misses pieces: dhtnode get bafy1 fetches them again
`
	if b.String() != want {
		t.Errorf("repo verify:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestContentCLIErrors: errors are one clear line.
func TestContentCLIErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	base := t.TempDir()
	repo := filepath.Join(base, "a")
	a := startDaemon(t, repo)
	a.id()
	unknown := "bagaaierajfrjhjbhw7cpwr7gr5l7yotc6e7emplibaacnogzenbqpnoalkoa"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"get", "not-an-id"}, "invalid content ID"},
		{[]string{"get", unknown}, "--from"},
		{[]string{"get", unknown, "--from", p2pAddr(t, a.id())}, "is this node"},
		{[]string{"get", unknown, "--from", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWGRUVh8dbRQu6bCUZkPQn1ZwX3jJ8oMZYQJm3y6cqnSEx"}, "no provider reachable"},
		{[]string{"get", unknown, "--from", "/ip4/127.0.0.1/tcp/1"}, "/p2p/PEERID"},
		{[]string{"cat", unknown}, "--from"},
		{[]string{"add", filepath.Join(base, "missing")}, "no such file"},
		{[]string{"pin", "add", unknown}, "--from"},
	}
	for _, c := range cases {
		_, errOut, code := cli(t, repo, c.args...)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code == 0 || len(lines) != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: code %d, stderr %q; want one line containing %q", c.args, code, errOut, c.want)
		}
	}
}
