package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/blockstore"
	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/exchange"
	"github.com/dhtnode/dhtnode/merkle"
	"github.com/dhtnode/dhtnode/routing"
)

// Content errors the node adds to those of exchange, blockstore and content. The API maps
// every one to a status code (and adds what to type to the messages of those a user of
// the CLI can fix, see apiHint).
var (
	// ErrNoContent: the node runs without a blockstore (an embedded node with no repo and
	// no absolute content.blocks_dir).
	ErrNoContent = errors.New("content is not enabled on this node (no repo)")
	// ErrNoRouter: the content is not local, no providers were named and no router runs.
	ErrNoRouter = errors.New("no router to find providers")
)

// NoProvidersError is the error of a search that found no provider: which routers were
// asked and what each said. It matches exchange.ErrNoProviders (errors.Is).
type NoProvidersError struct {
	ID content.ID
	// Asked says, per router in the order asked, "NAME found none" or "NAME failed"
	// (why it failed goes to the debug log).
	Asked []string
}

// Error names the content and what each router said, in one line.
func (e *NoProvidersError) Error() string {
	return fmt.Sprintf("%v: none found for %s (%s)", exchange.ErrNoProviders, e.ID, strings.Join(e.Asked, ", "))
}

// Unwrap makes errors.Is(err, exchange.ErrNoProviders) true.
func (e *NoProvidersError) Unwrap() error { return exchange.ErrNoProviders }

// contentState holds the node's blockstore and exchange (a field of Node).
type contentState struct {
	store *blockstore.Store
	x     *exchange.Exchange
	// ctx ends when the node closes; background provides use it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startContent opens the blockstore under the repo and serves the exchange protocol.
func (n *Node) startContent() error {
	cc := n.cfg.Content
	dir := cc.BlocksDir
	switch {
	case n.repo != nil:
		dir = n.repo.ResolvePath(dir)
	case !filepath.IsAbs(dir):
		n.Logger("content").Info("content disabled: no repo and content.blocks_dir is relative")
		return nil
	}
	bs, err := blockstore.Open(blockstore.Config{
		Dir:        dir,
		NoSync:     cc.NoSync,
		Logger:     n.logger,
		Registerer: n.registry,
	})
	if err != nil {
		return fmt.Errorf("open blockstore: %w", err)
	}
	n.onClose(bs.Close)
	xcfg := cc.exchangeConfig()
	xcfg.Logger = n.logger
	xcfg.Registerer = n.registry
	x, err := exchange.New(n.host, exchangeStore{bs}, content.Decode, xcfg)
	if err != nil {
		return fmt.Errorf("start exchange: %w", err)
	}
	n.onClose(x.Close)
	n.content.store, n.content.x = bs, x
	n.content.ctx, n.content.cancel = context.WithCancel(context.Background())
	n.onClose(func() error {
		n.content.cancel()
		n.content.wg.Wait()
		return nil
	})
	n.Logger("content").Info("blockstore open", "dir", dir)
	n.startAnnouncer()
	return nil
}

// Blockstore is the node's blockstore (nil when content is not enabled).
func (n *Node) Blockstore() *blockstore.Store { return n.content.store }

// Exchange is the node's piece exchange (nil when content is not enabled).
func (n *Node) Exchange() *exchange.Exchange { return n.content.x }

func (n *Node) contentReady() error {
	if n.content.store == nil {
		return ErrNoContent
	}
	return nil
}

// exchangeStore adapts the blockstore to exchange.Store.
type exchangeStore struct{ bs *blockstore.Store }

var (
	_ exchange.Store        = exchangeStore{}
	_ exchange.HaveReporter = exchangeStore{}
	_ exchange.OutputLinker = exchangeStore{}
)

func notFound(err error) error {
	if errors.Is(err, blockstore.ErrNotFound) {
		return fmt.Errorf("%w: %v", exchange.ErrNotFound, err)
	}
	return err
}

func (s exchangeStore) Manifest(id content.ID) ([]byte, error) {
	_, raw, err := s.bs.Manifest(id)
	return raw, notFound(err)
}

// PutManifest stores and pins a download's manifest in one step, so GC keeps its partial
// state and the download can resume.
func (s exchangeStore) PutManifest(id content.ID, block []byte) error {
	_, err := s.bs.PinManifest(id, block)
	return err
}

func (s exchangeStore) HasPiece(id merkle.PieceID) bool { return s.bs.HasPiece(id) }

// Have answers have requests from the blockstore's per-content bitfield.
func (s exchangeStore) Have(id content.ID, pieces int) ([]byte, error) {
	bf, err := s.bs.Have(id)
	if err != nil {
		return nil, err
	}
	if bf.Len() != pieces {
		return nil, fmt.Errorf("have bitfield of %d pieces, want %d", bf.Len(), pieces)
	}
	return bf.Bytes(), nil
}

// ReadPiece reads through the content, so a piece of linked content (a get's output) is
// found in its file when there is no piece file.
func (s exchangeStore) ReadPiece(id content.ID, index int, piece merkle.PieceID, buf []byte) error {
	data, err := s.bs.ReadContentPiece(id, index, buf)
	if err != nil {
		return notFound(err)
	}
	if len(data) != len(buf) {
		return fmt.Errorf("piece %s: %d bytes, want %d", piece, len(data), len(buf))
	}
	if len(data) > 0 && &data[0] != &buf[0] {
		copy(buf, data)
	}
	return nil
}

func (s exchangeStore) PutPiece(id content.ID, index int, _ merkle.PieceID, data []byte) error {
	return s.bs.PutVerifiedContentPiece(id, index, data)
}

// LinkOutput links the content to a get's output: its pieces are written there only.
func (s exchangeStore) LinkOutput(id content.ID, path, final string) error {
	return s.bs.LinkContent(id, blockstore.Link{Path: path, Final: final})
}

func (s exchangeStore) UnlinkOutput(id content.ID) error {
	return s.bs.Unlink(id)
}

func (s exchangeStore) OutputPieceWritten(id content.ID, index int) error {
	return s.bs.MarkLinkedPiece(id, index)
}

// providers returns who to fetch id from: the peers named in from; else through via (a router
// name, or "all"); else the default router first and then each other running router,
// until one names a provider, so that nodes whose default routers differ still find
// each other's content. While none does and other members are alive, it asks again,
// more and more slowly, for content.find_timeout: a provider's announce may still be
// on its way. The error stays one line; why each router failed goes to the debug log.
func (n *Node) providers(ctx context.Context, id content.ID, from []peer.AddrInfo, via string) ([]peer.AddrInfo, error) {
	if len(from) > 0 {
		return from, nil
	}
	routers, err := n.searchOrder(via)
	if err != nil {
		return nil, err
	}
	if len(routers) == 0 {
		return nil, fmt.Errorf("content %s is not in the local store and %w", id, ErrNoRouter)
	}
	give := time.Now().Add(n.cfg.Content.FindTimeout.Std())
	for wait := 500 * time.Millisecond; ; wait = min(2*wait, 4*time.Second) {
		out, err := n.askRouters(ctx, id, routers)
		// Alone in the cluster, no member can be announcing it.
		if err == nil || ctx.Err() != nil || time.Now().Add(wait).After(give) || len(n.AlivePeers()) == 0 {
			return out, err
		}
		n.Logger("content").Debug("no provider yet: asking again", "id", id.String(), "in", wait)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// askRouters asks each router in turn for id's providers, until one names a peer
// other than this node.
func (n *Node) askRouters(ctx context.Context, id content.ID, routers []routing.Router) ([]peer.AddrInfo, error) {
	log := n.Logger("content")
	var asked []string
	for _, r := range routers {
		infos, _, err := r.FindProviders(ctx, id.Key(), n.cfg.Content.MaxProviders)
		var out []peer.AddrInfo
		for _, info := range infos {
			if info.ID != n.host.ID() {
				out = append(out, info)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		if err != nil {
			log.Debug("finding providers failed", "id", id.String(), "router", r.Name(), "err", err)
			asked = append(asked, r.Name()+" failed")
		} else {
			asked = append(asked, r.Name()+" found none")
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, &NoProvidersError{ID: id, Asked: asked}
}

// searchOrder lists the routers a content search asks, in order: via's (see
// routersFor) when given, else the default router and then the others.
func (n *Node) searchOrder(via string) ([]routing.Router, error) {
	if via != "" {
		return n.routersFor(via)
	}
	var out []routing.Router
	if d := n.DefaultRouter(); d != nil {
		out = append(out, d)
	}
	for _, r := range n.Routers() {
		if r != n.DefaultRouter() {
			out = append(out, r)
		}
	}
	return out, nil
}

// provide announces id through every running router in the background, so a getter
// finds it whichever router it searches (no router: nothing to do).
func (n *Node) provide(id content.ID) {
	for _, r := range n.Routers() {
		n.content.wg.Add(1)
		go func() {
			defer n.content.wg.Done()
			log := n.Logger("content")
			if err := n.provideOnce(r, id); err != nil {
				log.Warn("announcing content failed", "id", id.String(), "router", r.Name(), "err", err)
				return
			}
			log.Info("announced content", "id", id.String(), "router", r.Name())
		}()
	}
}

// provideOnce announces id through r, within content.provide_timeout and until the node
// closes.
func (n *Node) provideOnce(r routing.Router, id content.ID) error {
	ctx, cancel := context.WithTimeout(n.content.ctx, n.cfg.Content.ProvideTimeout.Std())
	defer cancel()
	_, err := r.Provide(ctx, id.Key())
	return err
}

// AddOptions configures (*Node).Add.
type AddOptions struct {
	Recursive bool  // allow a directory
	NoPin     bool  // leave the content unpinned (GC may remove it)
	PieceSize int64 // 0 = content.piece_size from the config
	// Link stores no copy: the node serves the file from path, verifying every read
	// (add --link); editing or moving the file stops it being served.
	Link bool
	// Progress, if set, is called on the adding goroutine after each read.
	Progress func(content.AddProgress)
}

// Add reads a file (or a directory with Recursive) at path on this machine, stores its
// pieces and manifest, pins it unless NoPin, and announces it through the router in the
// background.
func (n *Node) Add(ctx context.Context, path string, opts AddOptions) (AddResult, error) {
	if err := n.contentReady(); err != nil {
		return AddResult{}, err
	}
	ps := opts.PieceSize
	if ps == 0 {
		ps = int64(n.cfg.Content.PieceSize)
	}
	start := time.Now()
	bopts := blockstore.AddOptions{Recursive: opts.Recursive, PieceSize: ps, Progress: opts.Progress, NoPin: opts.NoPin}
	add := n.content.store.Add
	if opts.Link {
		add = n.content.store.AddLinked
	}
	res, err := add(ctx, path, bopts)
	if err != nil {
		return AddResult{}, err
	}
	m := res.Manifest
	out := AddResult{ID: res.ID.String(), Name: m.Name, Kind: string(m.Kind), Size: m.Size, Files: len(m.Files),
		Pieces: m.NumPieces(), PieceSize: m.PieceSize, Pinned: !opts.NoPin, Elapsed: time.Since(start).Seconds()}
	if opts.Link {
		out.Linked = path
	}
	n.Logger("content").Info("added content", "id", out.ID, "name", out.Name, "size", out.Size)
	n.provide(res.ID)
	return out, nil
}

// GetOptions configures (*Node).Get.
type GetOptions struct {
	// Output is the path to write the file or directory to; "" fetches into the store only.
	Output string
	// From names the providers to fetch from; empty asks the routers.
	From []peer.AddrInfo
	// Via names the router to search ("all": every one); empty asks the default
	// router first, then the others.
	Via string
	// Progress, if set, is called from one goroutine a few times a second.
	Progress func(GetProgress)
}

// Get fetches content into the store (resuming from the pieces already there) and, with
// Output, writes it there atomically; then the node provides it too. Content already
// complete locally needs no provider. Errors say what failed in one line: an invalid ID,
// no provider reachable, unknown ID (no provider has it), verification failed (naming
// the peers), the output exists.
func (n *Node) Get(ctx context.Context, id content.ID, opts GetOptions) (GetResult, error) {
	if err := n.contentReady(); err != nil {
		return GetResult{}, err
	}
	var err error
	if opts.Output != "" {
		// Say so before fetching anything, not after the download when the rename fails.
		if dir := filepath.Dir(opts.Output); !isDir(dir) {
			return GetResult{}, fmt.Errorf("get: output directory %s does not exist", dir)
		}
	}
	var provs []peer.AddrInfo
	if !n.complete(id) || len(opts.From) > 0 {
		if provs, err = n.providers(ctx, id, opts.From, opts.Via); err != nil {
			return GetResult{}, err
		}
	}
	req := exchange.Request{ID: id, Providers: provs, Output: opts.Output}
	if opts.Progress != nil {
		req.Progress = func(p exchange.Progress) { opts.Progress(getProgress(p)) }
	}
	res, err := n.content.x.Download(ctx, req)
	out := GetResult{ID: id.String(), Name: res.Name, Output: opts.Output, Size: res.Size, Pieces: res.Pieces,
		Resumed: res.Resumed, Fetched: map[string]int{}, Elapsed: res.Elapsed.Seconds()}
	for p, c := range res.Fetched {
		out.Fetched[p.String()] = c
	}
	for p, c := range res.Bad {
		if out.Bad == nil {
			out.Bad = map[string]int{}
		}
		out.Bad[p.String()] = c
	}
	if err != nil {
		if errors.Is(err, exchange.ErrNotFound) {
			return out, fmt.Errorf("unknown content ID %s: no provider has it (%w)", id, err)
		}
		return out, err
	}
	n.Logger("content").Info("got content", "id", out.ID, "name", out.Name, "size", out.Size, "resumed", out.Resumed, "seconds", out.Elapsed)
	n.provide(id)
	return out, nil
}

// getProgress is the API's form of a download's progress.
func getProgress(p exchange.Progress) GetProgress {
	return GetProgress{ID: p.ID, Name: p.Name, Bytes: p.Bytes, Total: p.Total, Pieces: p.Pieces, TotalPieces: p.TotalPieces,
		Resumed: p.Resumed, Rate: p.Rate, Peers: p.Peers, Elapsed: p.Elapsed, Done: p.Done}
}

// complete reports whether every piece of id is in the store.
func (n *Node) complete(id content.ID) bool {
	info, err := n.content.store.Info(id)
	return err == nil && info.Complete()
}

// CatSize fetches a single-file content into the store if needed (from the given providers
// or the router) and returns its size; Cat then streams it.
func (n *Node) CatSize(ctx context.Context, id content.ID, from []peer.AddrInfo, via string) (int64, error) {
	if err := n.contentReady(); err != nil {
		return 0, err
	}
	if !n.complete(id) {
		if _, err := n.Get(ctx, id, GetOptions{From: from, Via: via}); err != nil {
			return 0, err
		}
	}
	m, _, err := n.content.store.Manifest(id)
	if err != nil {
		return 0, err
	}
	if m.Kind == content.KindDir {
		return 0, fmt.Errorf("%s: %w: cat streams one file, get writes a directory", id, content.ErrIsDir)
	}
	return m.Size, nil
}

// Cat writes a stored single-file content to w, verifying every piece as it is read.
func (n *Node) Cat(ctx context.Context, id content.ID, w io.Writer) error {
	return n.content.store.WriteFile(ctx, id, 0, w)
}

// Info describes content: from the local store, else by fetching its manifest from the
// given providers or the router.
func (n *Node) Info(ctx context.Context, id content.ID, from []peer.AddrInfo, via string) (ContentInfo, error) {
	if err := n.contentReady(); err != nil {
		return ContentInfo{}, err
	}
	m, _, err := n.content.store.Manifest(id)
	local := err == nil
	if errors.Is(err, blockstore.ErrNotFound) {
		provs, perr := n.providers(ctx, id, from, via)
		if perr != nil {
			return ContentInfo{}, perr
		}
		raw, ferr := n.content.x.FetchManifest(ctx, id, provs)
		if ferr != nil {
			if errors.Is(ferr, exchange.ErrNotFound) {
				return ContentInfo{}, fmt.Errorf("unknown content ID %s: no provider has it (%w)", id, ferr)
			}
			return ContentInfo{}, ferr
		}
		if m, err = content.Decode(id, raw); err != nil {
			return ContentInfo{}, err
		}
	} else if err != nil {
		return ContentInfo{}, err
	}
	out := ContentInfo{ID: id.String(), Name: m.Name, Kind: string(m.Kind), Size: m.Size, PieceSize: m.PieceSize,
		Pieces: m.NumPieces(), Local: local}
	var have *content.Bitfield
	herr := blockstore.ErrNotFound
	if local {
		have, herr = n.content.store.Have(id)
		if bi, err := n.content.store.Info(id); err == nil {
			out.Pinned, out.Linked = bi.Pinned, bi.Linked
		}
	}
	for i, f := range m.Files {
		fi := FileInfo{Path: f.Path, Size: f.Size}
		if f.Size > 0 {
			fi.Root = f.Root.String()
		}
		l, _ := m.Layout(i)
		fi.Pieces = l.NumPieces()
		if herr == nil {
			first := m.FirstPiece(i)
			for k := 0; k < fi.Pieces; k++ {
				if have.Has(first + k) {
					fi.Have++
				}
			}
		}
		out.Have += fi.Have
		out.Files = append(out.Files, fi)
	}
	return out, nil
}

// List describes all local content (complete and partial).
func (n *Node) List() ([]ListEntry, error) {
	if err := n.contentReady(); err != nil {
		return nil, err
	}
	infos, err := n.content.store.List()
	if err != nil {
		return nil, err
	}
	out := make([]ListEntry, 0, len(infos))
	for _, c := range infos {
		out = append(out, ListEntry{ID: c.ID.String(), Name: c.Name, Kind: string(c.Kind), Size: c.Size,
			Pieces: c.Pieces, Have: c.Have, Complete: c.Complete(), Pinned: c.Pinned, Linked: c.Linked})
	}
	return out, nil
}

// Pin keeps content through GC. Content that is not complete locally is fetched first
// (from the given providers, else the router's), the way a pin in kubo fetches.
func (n *Node) Pin(ctx context.Context, id content.ID, from []peer.AddrInfo, via string) error {
	if err := n.contentReady(); err != nil {
		return err
	}
	if !n.complete(id) {
		// Download stores the manifest pinned, then the pieces.
		_, err := n.Get(ctx, id, GetOptions{From: from, Via: via})
		return err
	}
	return n.content.store.Pin(id)
}

// Unpin lets GC remove content.
func (n *Node) Unpin(id content.ID) error {
	if err := n.contentReady(); err != nil {
		return err
	}
	if pinned, err := n.content.store.Pinned(id); err == nil && !pinned {
		return fmt.Errorf("content %s is not pinned", id)
	}
	return n.content.store.Unpin(id)
}

// Pins lists pinned content IDs, sorted.
func (n *Node) Pins() ([]string, error) {
	if err := n.contentReady(); err != nil {
		return nil, err
	}
	ids, err := n.content.store.Pins()
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	sort.Strings(out)
	return out, nil
}

// RepoGC removes unpinned content and unused pieces, and tells the routers to stop
// re-announcing the removed content (as kubo's reprovider announces only what the
// blockstore holds): a getter would find us and be told we lack it.
func (n *Node) RepoGC(ctx context.Context) (GCReport, error) {
	if err := n.contentReady(); err != nil {
		return GCReport{}, err
	}
	r, err := n.content.store.GC(ctx)
	for _, id := range r.RemovedIDs {
		for _, rt := range n.Routers() {
			if s, ok := rt.(routing.ProvideStopper); ok {
				s.StopProviding(id.Key())
			}
		}
	}
	return GCReport{RemovedContents: r.RemovedContents, RemovedPieces: r.RemovedPieces, RemovedBytes: r.RemovedBytes}, err
}

// RepoStat counts what the blockstore holds.
func (n *Node) RepoStat() (RepoStatInfo, error) {
	if err := n.contentReady(); err != nil {
		return RepoStatInfo{}, err
	}
	s, err := n.content.store.Stat()
	return RepoStatInfo{Dir: s.Dir, Contents: s.Contents, Pinned: s.Pinned, Pieces: s.Pieces, PieceBytes: s.PieceBytes,
		Quarantined: s.Quarantined, MetadataSize: s.MetadataSize, Linked: s.Linked, LinkedBytes: s.LinkedBytes,
		Segments: s.Segments, DiskBytes: s.DiskBytes}, err
}

// RepoVerify rehashes every stored piece, in piece files and in linked files.
func (n *Node) RepoVerify(ctx context.Context) (VerifyReport, error) {
	if err := n.contentReady(); err != nil {
		return VerifyReport{}, err
	}
	linked := n.linkedOnlyPieces()
	res, err := n.content.store.Verify(ctx)
	if err != nil {
		return VerifyReport{}, err
	}
	out := VerifyReport{Checked: res.Checked, Corrupt: []string{}, Incomplete: []string{}}
	for _, c := range res.Corrupt {
		out.Corrupt = append(out.Corrupt, c.String())
		if linked[c] {
			out.CorruptLinked = append(out.CorruptLinked, c.String())
		}
	}
	for _, c := range res.Incomplete {
		out.Incomplete = append(out.Incomplete, c.ID.String())
	}
	return out, nil
}

// linkedOnlyPieces is the set of pieces that linked content holds only in its files (no
// piece file): the ones Verify reads there. The blockstore reports corrupt pieces without
// saying where they were, and a user must not be told an edited output was quarantined.
func (n *Node) linkedOnlyPieces() map[merkle.PieceID]bool {
	out := map[merkle.PieceID]bool{}
	infos, err := n.content.store.List()
	if err != nil {
		return out // Verify fails the same way and says why
	}
	for _, c := range infos {
		if c.Linked == "" {
			continue
		}
		m, _, err := n.content.store.Manifest(c.ID)
		if err != nil {
			continue
		}
		have, err := n.content.store.Have(c.ID)
		if err != nil {
			continue
		}
		for g := 0; g < have.Len(); g++ {
			if ref, err := m.Piece(g); err == nil && have.Has(g) && !n.content.store.HasPiece(ref.ID) {
				out[ref.ID] = true
			}
		}
	}
	return out
}

// isDir reports whether path names an existing directory.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
