package node

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
)

// startTestNode runs a real node on loopback (no repo) and stops it with the test.
func startTestNode(t *testing.T, mutate ...func(*Config)) *Node {
	t.Helper()
	cfg := testConfig()
	for _, f := range mutate {
		f(&cfg)
	}
	n, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func serve(n *Node, method, path, body string, header map[string]string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://127.0.0.1"+path, r)
	req.Header.Set("Authorization", "Bearer "+n.APIToken())
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, req)
	return rec
}

func TestAPIMethodsAndOrigin(t *testing.T) {
	n := startTestNode(t)
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		want                     int
	}{
		{"id", "GET", "/api/v1/id", "", nil, 200},
		{"members", "GET", "/api/v1/members", "", nil, 200},
		{"version", "GET", "/api/v1/version", "", nil, 200},
		{"metrics", "GET", "/metrics", "", nil, 200},
		{"pprof", "GET", "/debug/pprof/", "", nil, 200},
		{"POST to a read", "POST", "/api/v1/id", "", nil, 405},
		{"GET to join", "GET", "/api/v1/join", "", nil, 405},
		{"GET to leave", "GET", "/api/v1/leave", "", nil, 405},
		{"GET to shutdown", "GET", "/api/v1/shutdown", "", nil, 405},
		{"foreign origin on read", "GET", "/api/v1/id", "", map[string]string{"Origin": "http://evil.example"}, 403},
		{"foreign origin on write", "POST", "/api/v1/shutdown", "", map[string]string{"Origin": "https://evil.example"}, 403},
		{"null origin", "POST", "/api/v1/shutdown", "", map[string]string{"Origin": "null"}, 403},
		{"own origin", "GET", "/api/v1/id", "", map[string]string{"Origin": "http://127.0.0.1"}, 200},
		{"join without addrs", "POST", "/api/v1/join", `{"addrs": []}`, nil, 400},
		{"join bad addr", "POST", "/api/v1/join", `{"addrs": ["nowhere"]}`, nil, 400},
		{"join unknown field", "POST", "/api/v1/join", `{"adrs": ["127.0.0.1:1"]}`, nil, 400},
		{"join not json", "POST", "/api/v1/join", `addrs=1`, nil, 400},
		{"unknown path", "GET", "/api/v1/nope", "", nil, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(n, tc.method, tc.path, tc.body, tc.header)
			if rec.Code != tc.want {
				t.Errorf("%s %s: status %d, want %d; body %s", tc.method, tc.path, rec.Code, tc.want, rec.Body)
			}
			if rec.Code == 403 && !strings.Contains(rec.Body.String(), `"error"`) {
				t.Errorf("403 without a JSON error: %s", rec.Body)
			}
		})
	}
	select {
	case <-n.StopRequested():
		t.Fatal("a refused shutdown request stopped the node")
	default:
	}
}

func TestAPIRefusesForeignHostOnLoopback(t *testing.T) {
	n := startTestNode(t)
	req, _ := http.NewRequest("GET", "http://"+n.APIAddr()+"/api/v1/id", nil)
	req.Header.Set("Authorization", "Bearer "+n.APIToken())
	req.Host = "rebind.evil.example:5101"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Host got %d, want 403", resp.StatusCode)
	}
}

func TestAPIMetricsAndClient(t *testing.T) {
	n := startTestNode(t)
	rec := serve(n, "GET", "/metrics", "", nil)
	body := rec.Body.String()
	for _, want := range []string{`dhtnode_gossip_members{state="alive"} 1`, "dhtnode_gossip_packets_total", "libp2p_rcmgr_", "dhtnode_info{", "libp2p_", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	c := client.New(n.APIAddr(), client.WithToken(n.APIToken()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := c.ID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id.PeerID != n.ID().String() || id.GossipAddr == "" || strings.HasSuffix(id.GossipAddr, ":0") {
		t.Errorf("id = %+v; want our peer ID and a bound gossip port", id)
	}
	for _, a := range id.ListenAddrs {
		if strings.Contains(a, "/tcp/0") || strings.Contains(a, "/udp/0/") {
			t.Errorf("listen addr %s still has port 0", a)
		}
	}
	members, err := c.Members(ctx)
	if err != nil || len(members) != 1 || members[0].State != "alive" || members[0].PeerID != id.PeerID {
		t.Errorf("members = %+v, %v; want just ourselves, alive", members, err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.StopRequested():
		if n.StopReason() != StopShutdown {
			t.Errorf("reason %q", n.StopReason())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown call did not request a stop")
	}
}

func TestClientNoDaemon(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = client.New(addr).ID(context.Background())
	if !errors.Is(err, client.ErrNoDaemon) {
		t.Errorf("got %v, want client.ErrNoDaemon", err)
	}
}

func TestJoinUnreachableAddressFailsClearly(t *testing.T) {
	n := startTestNode(t)
	// A port nobody listens on: memberlist's TCP push/pull is refused at once.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	start := time.Now()
	rec := serve(n, "POST", "/api/v1/join", `{"addrs": ["`+dead+`"]}`, nil)
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), dead) {
		t.Errorf("join to dead address: %d %s", rec.Code, rec.Body)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("join took %v", d)
	}
}

func TestNewFailsClearlyOnPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	for name, mutate := range map[string]func(*Config){
		"api":    func(c *Config) { c.Addresses.API = busy.Addr().String() },
		"gossip": func(c *Config) { c.Addresses.Gossip = busy.Addr().String() },
		"libp2p": func(c *Config) { c.Addresses.Listen = []string{"/ip4/127.0.0.1/tcp/" + itoa(port)} },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			mutate(&cfg)
			n, err := New(cfg, nil)
			if err == nil {
				n.Close()
				t.Fatal("started on a busy port")
			}
			if !strings.Contains(err.Error(), "address already in use") {
				t.Errorf("error should say the address is in use: %v", err)
			}
		})
	}
}
