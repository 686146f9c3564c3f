package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
)

// The UI is served from the binary with a same-origin-only policy, and / leads to it.
func TestWebUIServedAndRootRedirects(t *testing.T) {
	n := startTestNode(t)
	rec := serve(n, "GET", "/webui/", "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<title>dhtnode</title>") {
		t.Fatalf("GET /webui/: %d %.200s", rec.Code, rec.Body.String())
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	for _, f := range []string{"app.js", "style.css"} {
		if rec := serve(n, "GET", "/webui/"+f, "", nil); rec.Code != 200 || rec.Body.Len() < 100 {
			t.Fatalf("GET /webui/%s: %d", f, rec.Code)
		}
	}
	for _, p := range []string{"/", "/webui"} {
		if rec := serve(n, "GET", p, "", nil); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/webui/" {
			t.Fatalf("GET %s: %d to %q", p, rec.Code, rec.Header().Get("Location"))
		}
	}
}

// Two connected nodes list each other in peers, count bytes in stats/bw, and an upload
// is added like a file and can be fetched by its ID.
func TestPeersBandwidthUploadThroughClient(t *testing.T) {
	a, ca := contentNode(t, nil)
	b, cb := contentNode(t, nil)
	ctx := ctxFor(t)
	if _, err := b.Join([]string{a.IDInfo().GossipAddr}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20+5)
	_, _ = rand.Read(data)
	req, _ := http.NewRequest("POST", "http://"+a.APIAddr()+client.APIPrefix+"content/upload?name=up.bin", bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+a.APIToken())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var added client.AddResult
	if resp.StatusCode != 200 || json.Unmarshal(body, &added) != nil || added.Name != "up.bin" || added.Size != int64(len(data)) || !added.Pinned {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	if _, err := cb.Get(ctx, client.GetRequest{ID: added.ID, From: []string{p2pAddrOf(a)}}, nil); err != nil {
		t.Fatal(err)
	}

	peers, err := cb.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) < 2 || !peers[0].Self || peers[0].PeerID != b.ID().String() {
		t.Fatalf("peers %+v: want this node first, then a", peers)
	}
	var sawA bool
	for _, p := range peers[1:] {
		if p.PeerID == a.ID().String() {
			sawA = p.State == "alive" && len(p.Conns) > 0 && !p.Conns[0].Relayed
		}
	}
	if !sawA {
		t.Fatalf("peers %+v: want a alive with a direct connection", peers)
	}
	// libp2p's meters fold bytes in once a second: poll.
	var bw client.BandwidthStats
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if bw, err = cb.BandwidthStats(ctx); err != nil {
			t.Fatal(err)
		}
		if bw.ByProtocol["/dhtnode/exchange/1.0.0"].TotalIn >= int64(len(data)) {
			break
		}
	}
	if bw.Total.TotalIn < int64(len(data)) || bw.ByProtocol["/dhtnode/exchange/1.0.0"].TotalIn < int64(len(data)) {
		t.Fatalf("bandwidth %+v: want the piece bytes counted in, under the exchange protocol", bw)
	}
	if tr, err := ca.Transfers(ctx); err != nil || len(tr) != 0 {
		t.Fatalf("transfers on an idle node: %+v %v", tr, err)
	}

	for _, bad := range []string{"", "..", "a/b"} {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://"+a.APIAddr()+client.APIPrefix+"content/upload?name="+bad, strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+a.APIToken())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("upload name %q: %d, want 400", bad, resp.StatusCode)
		}
	}
}
