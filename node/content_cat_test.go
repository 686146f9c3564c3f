package node

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dhtnode/dhtnode/client"
)

// corruptStored flips a byte of the stored copy of data[off:off+32] wherever the store
// keeps it under dir (whatever its layout), and reports the file it changed.
func corruptStored(t *testing.T, dir string, needle []byte) string {
	t.Helper()
	var changed string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || changed != "" || strings.HasSuffix(p, ".db") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		if i := bytes.Index(b, needle); i >= 0 {
			b[i+5] ^= 0x20
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			changed = p
		}
		return nil
	})
	if changed == "" {
		t.Fatal("test setup: the stored bytes were not found")
	}
	return changed
}

// TestCatCorruptPieceSaysWhich: a cat through the daemon that meets a piece failing
// verification ends with an error naming the piece and saying it was quarantined (sent
// as a trailer), never a bare "unexpected EOF"; the bytes before it arrive, none after.
func TestCatCorruptPieceSaysWhich(t *testing.T) {
	n, c := contentNode(t, nil)
	data := make([]byte, 6<<18+100) // 6 pieces of 256 KiB and a short one
	_, _ = rand.Read(data)
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	added, err := c.Add(ctx, client.AddRequest{Path: src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const piece = 3
	off := piece<<18 + 1000
	corruptStored(t, n.Blockstore().Dir(), data[off:off+32])
	var out bytes.Buffer
	got, err := c.Cat(ctx, added.ID, nil, "", &out)
	if !errors.Is(err, client.ErrCatFailed) {
		t.Fatalf("cat of content with a corrupt piece: %d bytes, %v; want ErrCatFailed", got, err)
	}
	for _, want := range []string{"piece 3 ", "failed verification", "quarantined", "dhtnode get " + added.ID} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("cat error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("cat error %q is still a bare EOF", err)
	}
	if got != piece<<18 || !bytes.Equal(out.Bytes(), data[:piece<<18]) {
		t.Fatalf("cat wrote %d bytes before the corrupt piece, want the %d before it", got, piece<<18)
	}
	// The piece is quarantined: repo stat counts it and the content misses it (a second
	// cat would fetch it from a provider).
	if st, err := c.RepoStat(ctx); err != nil || st.Quarantined != 1 {
		t.Fatalf("repo stat after the cat: %+v %v", st, err)
	}
	if info, err := c.Info(ctx, added.ID, nil, ""); err != nil || info.Have != info.Pieces-1 {
		t.Fatalf("info after the cat: %+v %v", info, err)
	}
	// A whole cat still works and checks its length.
	res2, err := c.Add(ctx, client.AddRequest{Path: writeTemp(t, data[:1<<20])}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if got, err := c.Cat(ctx, res2.ID, nil, "", &out); err != nil || got != 1<<20 || !bytes.Equal(out.Bytes(), data[:1<<20]) {
		t.Fatalf("clean cat: %d %v", got, err)
	}
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "g")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAddLinkThroughAPI: add --link through the API stores no copy, serves and cats the
// file from where it is, and repo verify reports the piece of an edited file as a linked
// one (marked missing, never quarantined); a moved file leaves the content incomplete.
func TestAddLinkThroughAPI(t *testing.T) {
	_, c := contentNode(t, nil)
	data := make([]byte, 5<<18+10)
	_, _ = rand.Read(data)
	src := writeTemp(t, data)
	ctx := ctxFor(t)
	added, err := c.Add(ctx, client.AddRequest{Path: src, Link: true}, nil)
	if err != nil || added.Linked != src {
		t.Fatalf("add --link: %+v %v", added, err)
	}
	if st, err := c.RepoStat(ctx); err != nil || st.Pieces != 0 || st.Linked != 1 || st.LinkedBytes != int64(len(data)) {
		t.Fatalf("stat after add --link: %+v %v", st, err)
	}
	var out bytes.Buffer
	if _, err := c.Cat(ctx, added.ID, nil, "", &out); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("cat of linked content: %v", err)
	}
	if info, err := c.Info(ctx, added.ID, nil, ""); err != nil || info.Linked != src || info.Have != info.Pieces {
		t.Fatalf("info: %+v %v", info, err)
	}
	data[2<<18+7] ^= 1
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := c.RepoVerify(ctx)
	if err != nil || len(v.Corrupt) != 1 || len(v.CorruptLinked) != 1 || len(v.Incomplete) != 1 {
		t.Fatalf("verify of an edited linked file: %+v %v", v, err)
	}
	if st, _ := c.RepoStat(ctx); st.Quarantined != 0 {
		t.Fatalf("the user's file was quarantined: %+v", st)
	}
	if err := os.Rename(src, src+".moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RepoVerify(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err := c.Info(ctx, added.ID, nil, ""); err != nil || info.Have != 0 {
		t.Fatalf("info after the file moved: %+v %v", info, err)
	}
}

// socketClient is a client whose TCP API address is dead, so that only what goes over
// the repo's API socket can succeed.
func socketClient(t *testing.T, n *Node) *client.Client {
	t.Helper()
	sock := filepath.Join(n.repo.Path(), client.SocketFile)
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the daemon serves no API socket: %v", err)
	}
	return client.New("127.0.0.1:1", client.WithToken(n.APIToken()), client.WithSocket(sock))
}

// TestCatIntoFileOverSocket: a cat into a regular file hands the file to the daemon,
// which writes it (the client's TCP address is dead here, so the bytes cannot have come
// that way); a corrupt piece stops it with the same error as a streamed cat, after
// exactly the bytes before it; a pipe is never handed over; the socket goes with the
// daemon.
func TestCatIntoFileOverSocket(t *testing.T) {
	n, c := contentNode(t, nil)
	data := make([]byte, 6<<18+100)
	_, _ = rand.Read(data)
	ctx := ctxFor(t)
	added, err := c.Add(ctx, client.AddRequest{Path: writeTemp(t, data)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := socketClient(t, n)
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// The daemon writes at the file's offset, as the CLI's own writes would.
	if _, err := out.WriteString("head:"); err != nil {
		t.Fatal(err)
	}
	got, err := sc.Cat(ctx, added.ID, nil, "", out)
	if err != nil || got != int64(len(data)) {
		t.Fatalf("cat into a file over the socket: %d bytes, %v", got, err)
	}
	if b, _ := os.ReadFile(out.Name()); !bytes.Equal(b, append([]byte("head:"), data...)) {
		t.Fatalf("the file holds %d bytes, not the content after the head", len(b))
	}

	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if got, err := sc.Cat(ctx, added.ID, nil, "", null); err != nil || got != int64(len(data)) {
		t.Fatalf("cat into /dev/null over the socket: %d bytes, %v", got, err)
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	_, err = sc.Cat(ctx, added.ID, nil, "", pw)
	pw.Close()
	if !errors.Is(err, client.ErrNoDaemon) {
		t.Fatalf("cat into a pipe: %v; want it streamed over the (dead) TCP API", err)
	}

	const piece = 2
	off := piece<<18 + 1000
	corruptStored(t, n.Blockstore().Dir(), data[off:off+32])
	bad, err := os.Create(filepath.Join(t.TempDir(), "bad"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	got, err = sc.Cat(ctx, added.ID, nil, "", bad)
	if !errors.Is(err, client.ErrCatFailed) || !strings.Contains(err.Error(), "piece 2 ") || !strings.Contains(err.Error(), "quarantined") {
		t.Fatalf("cat of a corrupt piece into a file: %d bytes, %v", got, err)
	}
	if b, _ := os.ReadFile(bad.Name()); got != piece<<18 || !bytes.Equal(b, data[:piece<<18]) {
		t.Fatalf("the file holds %d bytes (reported %d), want the %d before the corrupt piece", len(b), got, piece<<18)
	}

	sock := filepath.Join(n.repo.Path(), client.SocketFile)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the API socket outlived the daemon: %v", err)
	}
}

// TestCatOutputFileNeedsAFile: output=file without a file (over TCP, where none can
// come) is refused with a reason, not served as a stream.
func TestCatOutputFileNeedsAFile(t *testing.T) {
	n, c := contentNode(t, nil)
	ctx := ctxFor(t)
	added, err := c.Add(ctx, client.AddRequest{Path: writeTemp(t, []byte("small"))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+n.APIAddr()+client.APIPrefix+"content/cat?output=file&id="+added.ID, nil)
	req.Header.Set("Authorization", "Bearer "+n.APIToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "no file came with the request") {
		t.Fatalf("output=file over TCP: %s %s", resp.Status, body)
	}
}
