package content

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dhtnode/dhtnode/routing"

	"github.com/dhtnode/dhtnode/merkle"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func testData(size int, seed byte) []byte {
	out := make([]byte, 0, size+32)
	var in [9]byte
	in[8] = seed
	for i := uint64(0); len(out) < size; i++ {
		binary.LittleEndian.PutUint64(in[:], i)
		s := sha256.Sum256(in[:])
		out = append(out, s[:]...)
	}
	return out[:size:size]
}

// memSink records pieces like a blockstore would.
type memSink struct {
	mu     sync.Mutex
	pieces map[merkle.PieceID][]byte
	fail   error
}

func (s *memSink) PutPiece(id merkle.PieceID, data []byte) error {
	if err := id.Verify(data); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if s.pieces == nil {
		s.pieces = map[merkle.PieceID][]byte{}
	}
	s.pieces[id] = append([]byte(nil), data...)
	return nil
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIDRoundTrip(t *testing.T) {
	id := NewID([]byte(`{"x":1}`))
	s := id.String()
	if !strings.HasPrefix(s, "bagaaiera") {
		t.Fatalf("ID %s: want base32 CIDv1 json/sha2-256 (bagaaiera…)", s)
	}
	got, err := ParseID("  " + s + "\n")
	if err != nil || got != id {
		t.Fatalf("ParseID(%s) = %v, %v", s, got, err)
	}
	b58, _ := id.Cid().StringOfBase('z')
	if got, err := ParseID(b58); err != nil || got != id {
		t.Fatalf("base58 form not accepted: %v", err)
	}
	if got, err := IDFromBytes(id.Bytes()); err != nil || got != id {
		t.Fatalf("IDFromBytes: %v", err)
	}
	if !id.Matches([]byte(`{"x":1}`)) || id.Matches([]byte(`{"x":2}`)) {
		t.Fatal("Matches wrong")
	}
	var back ID
	txt, _ := id.MarshalText()
	if err := back.UnmarshalText(txt); err != nil || back != id {
		t.Fatal("text round trip")
	}
	if id.Key() != routing.ContentKey([]byte(`{"x":1}`)) || id.Key() != routing.Key(id.Digest()) {
		t.Fatal("Key is not routing.ContentKey of the manifest (the CID's digest)")
	}
}

func TestParseIDErrors(t *testing.T) {
	sum, _ := mh.Sum([]byte("x"), mh.SHA2_256, -1)
	sum512, _ := mh.Sum([]byte("x"), mh.SHA2_512, -1)
	cases := map[string]string{
		"":                                   "empty",
		"hello":                              "not a content ID (one looks like bagaaiera…",
		"bafyjunk!!":                         "not a content ID",
		cid.NewCidV0(sum).String():           "CIDv0",
		cid.NewCidV1(cid.Raw, sum).String():  "codec",
		cid.NewCidV1(Codec, sum512).String(): "sha2-256",
		strings.Repeat("b", 300):             "too long",
		cid.NewCidV1(cid.DagProtobuf, sum).String()[:20]: "not a content ID",
	}
	// The shape the message describes is the shape of real IDs.
	real := NewID([]byte("{}")).String()
	if !strings.HasPrefix(real, idPrefix) || len(real) != idLen {
		t.Errorf("a content ID is %q (%d characters); the error message says %s… and %d", real, len(real), idPrefix, idLen)
	}
	for in, want := range cases {
		_, err := ParseID(in)
		if !errors.Is(err, ErrInvalidID) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "encoding not supported") {
			t.Errorf("ParseID(%q) = %v, want ErrInvalidID mentioning %q", in, err, want)
		}
	}
	if _, err := IDFromBytes([]byte{1, 2, 3}); !errors.Is(err, ErrInvalidID) {
		t.Errorf("IDFromBytes(junk) = %v", err)
	}
}

func sampleManifest(t *testing.T) (*Manifest, map[string][]byte) {
	t.Helper()
	files := map[string][]byte{
		"a.txt":        testData(100, 1),
		"b/big.bin":    testData(5*16<<10+3, 2),
		"b/empty":      nil,
		"b/one-block":  testData(16<<10, 3),
		"c/d/e/f.data": testData(2*16<<10, 4),
	}
	m := &Manifest{Kind: KindDir, Name: "sample", PieceSize: 16 << 10}
	for _, p := range []string{"a.txt", "b/big.bin", "b/empty", "b/one-block", "c/d/e/f.data"} {
		data := files[p]
		f := File{Path: p, Size: int64(len(data))}
		if len(data) > 0 {
			b, _ := merkle.NewBuilder(merkle.BuilderConfig{PieceSize: m.PieceSize})
			b.Write(data)
			tree, err := b.Finish()
			if err != nil {
				t.Fatal(err)
			}
			f.Root = tree.Root()
			if tree.Layout().HasPieceLayer() {
				f.Layer = tree.PieceLayer()
			}
		}
		m.Files = append(m.Files, f)
		m.Size += f.Size
	}
	return m, files
}

func TestEncodeDecode(t *testing.T) {
	m, files := sampleManifest(t)
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	id := NewID(b)
	got, err := Decode(id, b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := Encode(got)
	if !bytes.Equal(b, b2) {
		t.Fatal("decode/encode is not byte-identical")
	}
	if got.NumPieces() != 1+6+0+1+2 {
		t.Fatalf("NumPieces = %d", got.NumPieces())
	}
	// Every content-wide piece maps to bytes that verify against its PieceID
	// and against the file root with the tree's proof.
	for g := 0; g < got.NumPieces(); g++ {
		ref, err := got.Piece(g)
		if err != nil {
			t.Fatal(err)
		}
		f := got.Files[ref.File]
		data := files[f.Path][ref.Offset : ref.Offset+int64(ref.Len)]
		if err := ref.ID.Verify(data); err != nil {
			t.Fatalf("piece %d (%s #%d): %v", g, f.Path, ref.Index, err)
		}
		tree, err := got.Tree(ref.File)
		if err != nil {
			t.Fatal(err)
		}
		proof, _ := tree.Proof(ref.Index, 1)
		l, _ := got.Layout(ref.File)
		if err := merkle.VerifyPiece(f.Root, l, ref.Index, data, proof); err != nil {
			t.Fatalf("piece %d proof: %v", g, err)
		}
		if ref.Global != g || got.FirstPiece(ref.File)+ref.Index != g {
			t.Fatalf("piece %d: ref %+v", g, ref)
		}
	}
	if _, err := got.Piece(got.NumPieces()); !errors.Is(err, ErrRange) {
		t.Fatalf("piece past end: %v", err)
	}
	if _, err := got.Tree(2); !errors.Is(err, merkle.ErrEmpty) {
		t.Fatalf("tree of empty file: %v", err)
	}

	// The hash is checked before anything else.
	if _, err := Decode(NewID([]byte("other")), b); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Decode with the wrong ID: %v", err)
	}
	// Non-canonical forms of the same manifest are refused.
	for name, bad := range map[string][]byte{
		"indented":       append([]byte(" "), b...),
		"trailing":       append(append([]byte(nil), b...), []byte(" {}")...),
		"unknown field":  bytes.Replace(b, []byte(`{"version":1,`), []byte(`{"version":1,"x":0,`), 1),
		"version 2":      bytes.Replace(b, []byte(`{"version":1,`), []byte(`{"version":2,`), 1),
		"escaped":        bytes.Replace(b, []byte(`"sample"`), []byte(`"sampl\u0065"`), 1),
		"upper hex root": bytes.Replace(b, []byte(m.Files[0].Root.String()), []byte(strings.ToUpper(m.Files[0].Root.String())), 1),
	} {
		if _, err := Decode(NewID(bad), bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Decode = %v, want ErrMalformed", name, err)
		}
	}
	if _, err := Unmarshal(make([]byte, MaxManifestSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatal("oversized manifest not refused")
	}
}

func TestValidate(t *testing.T) {
	m0, _ := sampleManifest(t)
	clone := func() *Manifest {
		c := *m0
		c.Files = append([]File(nil), m0.Files...)
		for i := range c.Files {
			c.Files[i].Layer = append([]merkle.Hash(nil), c.Files[i].Layer...)
			if len(c.Files[i].Layer) == 0 {
				c.Files[i].Layer = nil
			}
		}
		return &c
	}
	if err := clone().Validate(); err != nil {
		t.Fatal(err)
	}
	paths := map[string]error{
		"..":                     ErrUnsafePath,
		"../x":                   ErrUnsafePath,
		"a/../../x":              ErrUnsafePath,
		"/etc/x":                 ErrUnsafePath,
		"a//b":                   ErrUnsafePath,
		"a/./b":                  ErrUnsafePath,
		"./a":                    ErrUnsafePath,
		"a/":                     ErrUnsafePath,
		"":                       ErrUnsafePath,
		`a\..\..\x`:              ErrUnsafePath,
		`C:\x`:                   ErrUnsafePath,
		"a\x00b":                 ErrUnsafePath,
		"a\nb":                   ErrUnsafePath,
		"a\xffb":                 ErrUnsafePath,
		strings.Repeat("x", 256): ErrUnsafePath,
	}
	for p, want := range paths {
		m := clone()
		m.Files[0].Path = p
		if err := m.Validate(); !errors.Is(err, want) {
			t.Errorf("path %q: %v, want %v", p, err, want)
		}
	}
	mutations := map[string]struct {
		f    func(m *Manifest)
		want error
	}{
		"duplicate":           {func(m *Manifest) { m.Files[1].Path = m.Files[0].Path }, ErrUnsafePath},
		"file and dir":        {func(m *Manifest) { m.Files[0].Path = "b" }, ErrUnsafePath},
		"unsorted":            {func(m *Manifest) { m.Files[0], m.Files[4] = m.Files[4], m.Files[0] }, ErrInvalid},
		"bad name":            {func(m *Manifest) { m.Name = ".." }, ErrUnsafePath},
		"name with slash":     {func(m *Manifest) { m.Name = "a/b" }, ErrUnsafePath},
		"bad kind":            {func(m *Manifest) { m.Kind = "tar" }, ErrInvalid},
		"piece size":          {func(m *Manifest) { m.PieceSize = 3 << 10 }, ErrInvalid},
		"size sum":            {func(m *Manifest) { m.Size++ }, ErrInvalid},
		"negative size":       {func(m *Manifest) { m.Files[2].Size = -1 }, ErrInvalid},
		"tampered layer":      {func(m *Manifest) { m.Files[1].Layer[2][0] ^= 1 }, ErrInvalid},
		"short layer":         {func(m *Manifest) { m.Files[1].Layer = m.Files[1].Layer[1:] }, ErrInvalid},
		"missing layer":       {func(m *Manifest) { m.Files[1].Layer = nil }, ErrInvalid},
		"layer on one piece":  {func(m *Manifest) { m.Files[0].Layer = []merkle.Hash{m.Files[0].Root} }, ErrInvalid},
		"no root":             {func(m *Manifest) { m.Files[0].Root = merkle.Hash{} }, ErrInvalid},
		"root on empty":       {func(m *Manifest) { m.Files[2].Root = m.Files[0].Root }, ErrInvalid},
		"file kind two files": {func(m *Manifest) { m.Kind = KindFile }, ErrInvalid},
	}
	for name, c := range mutations {
		m := clone()
		c.f(m)
		if err := m.Validate(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
		if _, err := Encode(m); err == nil {
			t.Errorf("%s: Encode accepted an invalid manifest", name)
		}
	}
}

func TestAddFile(t *testing.T) {
	dir := t.TempDir()
	data := testData(3*256<<10+777, 9)
	writeFile(t, filepath.Join(dir, "f.bin"), data)
	var sink memSink
	var last AddProgress
	res, err := Add(context.Background(), filepath.Join(dir, "f.bin"), AddOptions{Sink: &sink, Progress: func(p AddProgress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	root, _ := merkle.Root(data)
	if m.Kind != KindFile || m.Name != "f.bin" || m.Files[0].Root != root || m.Size != int64(len(data)) || m.PieceSize != merkle.DefaultPieceSize {
		t.Fatalf("manifest %+v", m)
	}
	if last.Bytes != int64(len(data)) || last.Total != int64(len(data)) || last.File != "f.bin" {
		t.Fatalf("last progress %+v", last)
	}
	if len(sink.pieces) != 4 {
		t.Fatalf("sink got %d pieces, want 4", len(sink.pieces))
	}
	for g := 0; g < m.NumPieces(); g++ {
		ref, _ := m.Piece(g)
		if !bytes.Equal(sink.pieces[ref.ID], data[ref.Offset:ref.Offset+int64(ref.Len)]) {
			t.Fatalf("piece %d not stored under %v", g, ref.ID)
		}
	}
	if got, err := Decode(res.ID, res.Encoded); err != nil || got.Files[0].Root != root {
		t.Fatalf("Decode(Add result): %v", err)
	}
	// -n: same ID, nothing stored.
	only, err := Add(context.Background(), filepath.Join(dir, "f.bin"), AddOptions{})
	if err != nil || only.ID != res.ID {
		t.Fatalf("only-hash ID %v differs from %v (%v)", only.ID, res.ID, err)
	}
	// AddReader gives the same ID for the same name and bytes.
	rd, err := AddReader(context.Background(), "f.bin", bytes.NewReader(data), AddOptions{})
	if err != nil || rd.ID != res.ID {
		t.Fatalf("AddReader ID %v, want %v (%v)", rd.ID, res.ID, err)
	}
}

func TestAddDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tree")
	want := map[string][]byte{
		"a-b":         testData(10, 1),
		"a/b":         testData(40000, 2),
		"a/c/d":       testData(300000, 3),
		"empty":       nil,
		"z/one-block": testData(16<<10, 4),
	}
	for p, d := range want {
		writeFile(t, filepath.Join(dir, p), d)
	}
	os.MkdirAll(filepath.Join(dir, "emptydir"), 0o755)
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := Add(context.Background(), dir, AddOptions{}); !errors.Is(err, ErrIsDir) {
		t.Fatalf("dir without -r: %v", err)
	}
	var sink memSink
	res, err := Add(context.Background(), dir, AddOptions{Recursive: true, Sink: &sink, PieceSize: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
		root, err := merkle.Root(want[f.Path])
		if (err == nil) != (f.Size > 0) || root != f.Root {
			t.Fatalf("%s: root %s, want %s", f.Path, f.Root, root)
		}
	}
	if fmt.Sprint(paths) != "[a-b a/b a/c/d empty z/one-block]" || m.Name != "tree" || m.Kind != KindDir {
		t.Fatalf("manifest files %v name %q kind %s", paths, m.Name, m.Kind)
	}
	if len(sink.pieces) != m.NumPieces() {
		t.Fatalf("%d pieces stored, %d in manifest", len(sink.pieces), m.NumPieces())
	}
	again, _ := Add(context.Background(), dir, AddOptions{Recursive: true, PieceSize: 32 << 10})
	if again.ID != res.ID {
		t.Fatal("adding the same directory twice gave two IDs")
	}
	other, _ := Add(context.Background(), dir, AddOptions{Recursive: true})
	if other.ID == res.ID {
		t.Fatal("a different piece size gave the same ID")
	}
}

func TestAddErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f"), testData(1<<20, 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Add(ctx, filepath.Join(dir, "f"), AddOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled add: %v", err)
	}
	boom := errors.New("no space left on device")
	if _, err := Add(context.Background(), filepath.Join(dir, "f"), AddOptions{Sink: &memSink{fail: boom}}); !errors.Is(err, boom) {
		t.Fatalf("sink error: %v", err)
	}
	if _, err := Add(context.Background(), filepath.Join(dir, "missing"), AddOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	writeFile(t, filepath.Join(dir, "d", `bad\name`), []byte("x"))
	if _, err := Add(context.Background(), filepath.Join(dir, "d"), AddOptions{Recursive: true}); !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("backslash name: %v", err)
	}
	writeFile(t, filepath.Join(dir, "empty"), nil)
	res, err := Add(context.Background(), filepath.Join(dir, "empty"), AddOptions{})
	if err != nil || res.Manifest.Size != 0 || res.Manifest.NumPieces() != 0 {
		t.Fatalf("empty file: %v", err)
	}
}

func TestChoosePieceSize(t *testing.T) {
	if ps := choosePieceSize(0, []int64{1 << 30}); ps != merkle.DefaultPieceSize {
		t.Fatalf("1 GiB: %d", ps)
	}
	ps := choosePieceSize(0, []int64{200 << 30})
	if (200<<30)/ps > MaxAutoPieces || ps > merkle.MaxPieceSize {
		t.Fatalf("200 GiB: piece size %d", ps)
	}
}
