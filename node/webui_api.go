package node

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/exchange"
	"github.com/dhtnode/dhtnode/routing"
	"github.com/dhtnode/dhtnode/webui"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
)

// What the web UI (and the peers, stats bw and transfers commands) read, and the UI itself:
//
//	GET  /webui/                   the embedded web UI (GET / and /webui redirect there)
//	GET  peers                     []client.PeerInfo: members and connected peers
//	GET  stats/bw                  client.BandwidthStats: libp2p bytes per protocol
//	GET  transfers                 []client.Transfer: downloads in progress
//	POST content/upload?name=N     the body is a file's bytes; added (and pinned) as N
//
// The UI polls these about once a second; each answer is a snapshot taken under short
// locks, so polling costs little.

// netView is the node's traffic accounting, fed by the libp2p host.
type netView struct {
	once sync.Once
	bw   *metrics.BandwidthCounter
}

// bandwidth is the counter the libp2p host reports to (created on first use).
func (n *Node) bandwidth() *metrics.BandwidthCounter {
	n.netview.once.Do(func() { n.netview.bw = metrics.NewBandwidthCounter() })
	return n.netview.bw
}

func registerObserveAPI(n *Node, mux *http.ServeMux) {
	ui := http.StripPrefix("/webui", webui.Handler())
	mux.Handle("GET /webui/", ui)
	for _, p := range []string{"GET /webui", "GET /{$}"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/webui/", http.StatusFound)
		})
	}
	mux.HandleFunc("GET "+client.APIPrefix+"peers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.Peers())
	})
	mux.HandleFunc("GET "+client.APIPrefix+"stats/bw", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.BandwidthStats())
	})
	mux.HandleFunc("GET "+client.APIPrefix+"transfers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.Transfers())
	})
	mux.HandleFunc("POST "+client.APIPrefix+"content/upload", func(w http.ResponseWriter, r *http.Request) {
		res, err := n.upload(r)
		if err != nil {
			writeError(w, uploadStatus(err), err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// Peers lists every gossip member and every peer the host is connected to, this node
// first, then by key (their order on the ring).
func (n *Node) Peers() []client.PeerInfo {
	byID := map[peer.ID]*client.PeerInfo{}
	get := func(id peer.ID) *client.PeerInfo {
		if p := byID[id]; p != nil {
			return p
		}
		p := &client.PeerInfo{PeerID: id.String(), Key: routing.PeerKey(id), Self: id == n.host.ID(), Conns: []client.ConnInfo{}}
		byID[id] = p
		return p
	}
	for _, m := range n.gossip.Members() {
		if m.PeerID == "" {
			continue
		}
		p := get(m.PeerID)
		p.Name, p.GossipAddr, p.State = m.Name, m.Addr, string(m.State)
	}
	for _, c := range n.host.Network().Conns() {
		st := c.Stat()
		p := get(c.RemotePeer())
		addr := c.RemoteMultiaddr().String()
		p.Conns = append(p.Conns, client.ConnInfo{
			Addr:      addr,
			Direction: strings.ToLower(st.Direction.String()),
			Relayed:   st.Limited || strings.Contains(addr, "/p2p-circuit"),
			Opened:    st.Opened,
			Streams:   len(c.GetStreams()),
		})
	}
	out := make([]client.PeerInfo, 0, len(byID))
	for id, p := range byID {
		if !p.Self {
			p.Latency = n.host.Peerstore().LatencyEWMA(id)
		}
		slices.SortFunc(p.Conns, func(a, b client.ConnInfo) int { return strings.Compare(a.Addr, b.Addr) })
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b client.PeerInfo) int {
		if a.Self != b.Self {
			if a.Self {
				return -1
			}
			return 1
		}
		return slices.Compare(a.Key[:], b.Key[:])
	})
	return out
}

// BandwidthStats is the host's traffic so far, in total and per protocol.
func (n *Node) BandwidthStats() client.BandwidthStats {
	bw := n.bandwidth()
	conv := func(s metrics.Stats) client.Bandwidth {
		return client.Bandwidth{TotalIn: s.TotalIn, TotalOut: s.TotalOut, RateIn: s.RateIn, RateOut: s.RateOut}
	}
	out := client.BandwidthStats{Total: conv(bw.GetBandwidthTotals()), ByProtocol: map[string]client.Bandwidth{}, CollectedAt: time.Now()}
	for proto, s := range bw.GetBandwidthByProtocol() {
		name := string(proto)
		if name == "" {
			name = "(unnegotiated)"
		}
		out.ByProtocol[name] = conv(s)
	}
	return out
}

// Transfers lists the downloads in progress (none when content is off).
func (n *Node) Transfers() []Transfer {
	if n.content.x == nil {
		return []Transfer{}
	}
	return transfers(n.content.x.Transfers())
}

// transfers is the API's form of the exchange's download snapshots.
func transfers(ts []exchange.Transfer) []Transfer {
	out := make([]Transfer, 0, len(ts))
	for _, t := range ts {
		tr := Transfer{ID: t.ID, Name: t.Name, Total: t.Total, Bytes: t.Bytes, PiecesDone: t.PiecesDone, TotalPieces: t.TotalPieces,
			Resumed: t.Resumed, Elapsed: t.Elapsed, Pieces: t.Pieces, Peers: make([]TransferPeer, len(t.Peers))}
		for i, p := range t.Peers {
			tr.Peers[i] = TransferPeer{PeerID: p.PeerID, State: p.State, Reason: p.Reason, Rate: p.Rate, Bytes: p.Bytes,
				Pieces: p.Pieces, InFlight: p.InFlight, Window: p.Window, Bad: p.Bad}
		}
		out = append(out, tr)
	}
	return out
}

// errUploadName is an upload without a usable file name.
var errUploadName = errors.New("upload: name must be one plain file name")

func uploadStatus(err error) int {
	if errors.Is(err, errUploadName) {
		return http.StatusBadRequest
	}
	return contentStatus(err)
}

// upload stores the request body in a temporary file under the name the caller gave and
// adds it like `add` would (pinned unless pin=false), then removes the temporary copy:
// add copies the pieces into the store.
func (n *Node) upload(r *http.Request) (client.AddResult, error) {
	name := r.URL.Query().Get("name")
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return client.AddResult{}, fmt.Errorf("%w (got %q)", errUploadName, name)
	}
	if err := n.contentReady(); err != nil {
		return client.AddResult{}, err
	}
	parent := os.TempDir()
	if n.repo != nil {
		parent = n.repo.Path()
	}
	dir, err := os.MkdirTemp(parent, ".upload-")
	if err != nil {
		return client.AddResult{}, fmt.Errorf("upload: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return client.AddResult{}, fmt.Errorf("upload: %w", err)
	}
	if _, err := io.Copy(f, r.Body); err != nil {
		_ = f.Close()
		return client.AddResult{}, fmt.Errorf("upload: read body: %w", err)
	}
	if err := f.Close(); err != nil {
		return client.AddResult{}, fmt.Errorf("upload: %w", err)
	}
	return n.Add(r.Context(), path, AddOptions{NoPin: r.URL.Query().Get("pin") == "false"})
}
