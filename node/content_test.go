package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/content"
)

// contentNode starts an in-process node with a repo (and so a blockstore) and returns it
// with an API client.
func contentNode(t *testing.T, edit func(*Config)) (*Node, *client.Client) {
	t.Helper()
	cfg := testConfig()
	cfg.Content.NoSync = true
	if edit != nil {
		edit(&cfg)
	}
	repo, err := InitRepo(filepath.Join(t.TempDir(), "repo"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, repo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n, client.New(n.APIAddr(), client.WithToken(n.APIToken()))
}

func p2pAddrOf(n *Node) string {
	for _, a := range n.Host().Addrs() {
		if strings.Contains(a.String(), "/tcp/") {
			return a.String() + "/p2p/" + n.ID().String()
		}
	}
	return ""
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestContentAddGetInfoPinGCThroughAPI(t *testing.T) {
	a, ca := contentNode(t, nil)
	b, cb := contentNode(t, nil)
	dir := t.TempDir()
	data := make([]byte, 3<<20+17)
	_, _ = rand.Read(data)
	src := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	var addEvents int
	added, err := ca.Add(ctx, client.AddRequest{Path: src}, func(content.AddProgress) { addEvents++ })
	if err != nil {
		t.Fatal(err)
	}
	if added.Name != "data.bin" || added.Size != int64(len(data)) || !added.Pinned {
		t.Fatalf("add result %+v", added)
	}

	// Not local, no router, no --from: a clear error.
	if _, err := cb.Get(ctx, client.GetRequest{ID: added.ID}, nil); err == nil || !strings.Contains(err.Error(), "--from") {
		t.Fatalf("get without providers: %v", err)
	}
	// The library says the same without naming a flag; the API adds the CLI's hint.
	id, err := content.ParseID(added.ID)
	if err != nil {
		t.Fatal(err)
	}
	var none *NoProvidersError
	if _, err := b.Get(ctx, id, GetOptions{}); !errors.As(err, &none) || none.ID != id || strings.Contains(err.Error(), "--from") {
		t.Fatalf("library get without providers: %v, want a NoProvidersError naming no flag", err)
	}

	// info of remote content fetches the manifest and stores nothing.
	remote, err := cb.Info(ctx, added.ID, []string{p2pAddrOf(a)}, "")
	if err != nil || remote.Local || remote.Have != 0 || remote.Name != "data.bin" || remote.Pieces == 0 {
		t.Fatalf("remote info %+v, %v", remote, err)
	}
	if list, err := cb.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("info stored something: %+v %v", list, err)
	}

	var progress []client.GetProgress
	res, err := cb.Get(ctx, client.GetRequest{ID: added.ID, OutputDir: dir + "/out", From: []string{p2pAddrOf(a)}}, func(p client.GetProgress) { progress = append(progress, p) })
	if err == nil || !strings.Contains(err.Error(), "output directory") || len(progress) != 0 {
		t.Fatalf("get into a missing directory: %v after %d progress events; want an output directory error before any transfer", err, len(progress))
	}
	_ = os.Mkdir(dir+"/out", 0o755)
	res, err = cb.Get(ctx, client.GetRequest{ID: added.ID, OutputDir: dir + "/out", From: []string{p2pAddrOf(a)}}, func(p client.GetProgress) { progress = append(progress, p) })
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "out", "data.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("output differs: %v", err)
	}
	if len(progress) == 0 || !progress[len(progress)-1].Done || res.Fetched[a.ID().String()] != res.Pieces {
		t.Fatalf("progress %d events, result %+v", len(progress), res)
	}

	info, err := cb.Info(ctx, added.ID, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	// B wrote the pieces only into the output and serves them from there.
	outFile := filepath.Join(dir, "out", "data.bin")
	if info.Have != info.Pieces || !info.Pinned || len(info.Files) != 1 || info.Files[0].Root == "" || info.Linked != outFile {
		t.Fatalf("info %+v; want complete, pinned, linked to %s", info, outFile)
	}
	if st, err := cb.RepoStat(ctx); err != nil || st.Pieces != 0 || st.Linked != 1 || st.LinkedBytes != int64(len(data)) {
		t.Fatalf("B's stat %+v %v; want no piece files and 1 linked content of %d bytes", st, err, len(data))
	}
	var cat bytes.Buffer
	if _, err := cb.Cat(ctx, added.ID, nil, "", &cat); err != nil || !bytes.Equal(cat.Bytes(), data) {
		t.Fatalf("cat: %v", err)
	}
	list, err := cb.List(ctx)
	if err != nil || len(list) != 1 || !list[0].Complete || list[0].Linked != outFile {
		t.Fatalf("ls: %+v %v", list, err)
	}
	// B serves it now: A drops it and gets it back from B.
	if err := ca.Unpin(ctx, added.ID); err != nil {
		t.Fatal(err)
	}
	if gc, err := ca.RepoGC(ctx); err != nil || gc.RemovedContents != 1 {
		t.Fatalf("gc: %+v %v", gc, err)
	}
	// pin add fetches content that is not local.
	if err := ca.Pin(ctx, added.ID, []string{p2pAddrOf(b)}, ""); err != nil {
		t.Fatal(err)
	}
	if st, err := ca.RepoStat(ctx); err != nil || st.Contents != 1 || st.PieceBytes != int64(len(data)) || st.Linked != 0 {
		t.Fatalf("stat %+v %v", st, err)
	}
	if v, err := ca.RepoVerify(ctx); err != nil || v.Checked == 0 || len(v.Corrupt) != 0 || len(v.CorruptLinked) != 0 {
		t.Fatalf("verify %+v %v", v, err)
	}
	pins, err := ca.Pins(ctx)
	if err != nil || len(pins) != 1 || pins[0] != added.ID {
		t.Fatalf("pins %v %v", pins, err)
	}
	// Editing B's output: verify finds the piece, reports it as linked (not quarantined:
	// the file is the user's, it stays as is) and B no longer claims it.
	f, err := os.OpenFile(outFile, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt([]byte{^data[5]}, 5)
	if cerr := f.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	v, err := cb.RepoVerify(ctx)
	if err != nil || len(v.Corrupt) != 1 || len(v.CorruptLinked) != 1 || v.CorruptLinked[0] != v.Corrupt[0] ||
		len(v.Incomplete) != 1 || v.Incomplete[0] != added.ID {
		t.Fatalf("verify after editing the output: %+v %v", v, err)
	}
	if st, err := os.Stat(outFile); err != nil || st.Size() != int64(len(data)) {
		t.Fatalf("verify touched the edited output: %v", err)
	}
	if info, err := cb.Info(ctx, added.ID, nil, ""); err != nil || info.Have != info.Pieces-1 || info.Linked != outFile {
		t.Fatalf("info after editing the output: %+v %v", info, err)
	}
}

func TestContentDirectoryAndUnknownID(t *testing.T) {
	a, ca := contentNode(t, nil)
	bNode, cb := contentNode(t, nil)
	src := filepath.Join(t.TempDir(), "tree")
	files := map[string]string{"a.txt": "alpha", "sub/b.txt": strings.Repeat("b", 70000), "sub/deep/c": "c"}
	for p, s := range files {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(src, p)), 0o755)
		if err := os.WriteFile(filepath.Join(src, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := ctxFor(t)
	if _, err := ca.Add(ctx, client.AddRequest{Path: src}, nil); err == nil || !strings.Contains(err.Error(), "-r") {
		t.Fatalf("add of a directory without -r: %v", err)
	}
	added, err := ca.Add(ctx, client.AddRequest{Path: src, Recursive: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "copy")
	if _, err := cb.Get(ctx, client.GetRequest{ID: added.ID, Output: out, From: []string{p2pAddrOf(a)}}, nil); err != nil {
		t.Fatal(err)
	}
	for p, s := range files {
		got, err := os.ReadFile(filepath.Join(out, p))
		if err != nil || string(got) != s {
			t.Fatalf("%s: %q %v", p, got, err)
		}
	}
	// B keeps no piece files: it serves the tree from its output, file by file.
	if st, err := cb.RepoStat(ctx); err != nil || st.Pieces != 0 || st.Linked != 1 {
		t.Fatalf("B after getting a tree: %+v %v; want no piece files, one linked content", st, err)
	}
	_, cc := contentNode(t, nil)
	out3 := filepath.Join(t.TempDir(), "copy3")
	if _, err := cc.Get(ctx, client.GetRequest{ID: added.ID, Output: out3, From: []string{p2pAddrOf(bNode)}}, nil); err != nil {
		t.Fatalf("get of a directory from the node that got it: %v", err)
	}
	for p, s := range files {
		if got, err := os.ReadFile(filepath.Join(out3, p)); err != nil || string(got) != s {
			t.Fatalf("%s from B: %q %v", p, got, err)
		}
	}
	if _, err := cb.Cat(ctx, added.ID, nil, "", &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("cat of a directory: %v", err)
	}
	unknown := "bagaaierajfrjhjbhw7cpwr7gr5l7yotc6e7emplibaacnogzenbqpnoalkoa"
	_, err = cb.Get(ctx, client.GetRequest{ID: unknown, From: []string{p2pAddrOf(a)}}, nil)
	if err == nil || !strings.Contains(err.Error(), "unknown content ID") {
		t.Fatalf("unknown ID: %v", err)
	}
	var api *client.APIError
	if _, err := cb.Info(ctx, "nonsense", nil, ""); err == nil || !strings.Contains(err.Error(), "invalid content ID") {
		t.Fatalf("bad ID: %v", err)
	} else if ok := asAPIError(err, &api); !ok || api.Status != 400 {
		t.Fatalf("bad ID status: %v", err)
	}
}

func asAPIError(err error, target **client.APIError) bool {
	e, ok := err.(*client.APIError)
	if ok {
		*target = e
	}
	return ok
}

func TestContentEmptyFile(t *testing.T) {
	a, ca := contentNode(t, nil)
	_, cb := contentNode(t, nil)
	src := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(src, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	added, err := ca.Add(ctx, client.AddRequest{Path: src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "got")
	res, err := cb.Get(ctx, client.GetRequest{ID: added.ID, Output: out, From: []string{p2pAddrOf(a)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(out); err != nil || st.Size() != 0 || res.Pieces != 0 {
		t.Fatalf("empty file: %v %+v", err, res)
	}
	var buf bytes.Buffer
	if n, err := cb.Cat(ctx, added.ID, nil, "", &buf); err != nil || n != 0 {
		t.Fatalf("cat of an empty file: %d, %v", n, err)
	}
}
