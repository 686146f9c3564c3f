package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/internal/fdconn"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The local HTTP API.
//
// All paths live under client.APIPrefix (/api/v1/) and speak JSON. Reads are GET; every call that
// changes state is POST (a GET to it gets 405), so a browser page cannot trigger one
// with an <img> tag. Requests that carry a foreign Origin header are refused with
// 403, and when the API listens on loopback the Host header must name a loopback
// host, which stops DNS-rebinding pages from reaching it through a browser. Behind
// those checks, every call must carry the repo's API token or a browser session made
// from a one-time login code (api_auth.go); request bodies are exactly one JSON value.
//
// Adding a feature's endpoints (the pattern every feature follows):
//
//  1. Create a file of your own in package node, e.g. node/content_api.go, with one
//     function `func registerContentAPI(n *Node, mux *http.ServeMux)` that calls
//     mux.HandleFunc("GET "+client.APIPrefix+"content/...", ...) and
//     mux.HandleFunc("POST "+client.APIPrefix+"content/add", ...). Use writeJSON,
//     writeError and decodeJSON below for bodies and errors.
//  2. Add one line calling it to registerAPIs.
//  3. Put the request and answer types, and matching methods on *client.Client built
//     on (*client.Client).Call, in package client (e.g. client/content.go), and test
//     the handler with httptest against n.Handler().
//
// The middleware (Origin/Host checks, the token, JSON errors) wraps the whole mux, so feature
// handlers get it for free.

// registerAPIs installs every feature's endpoints. One line per feature.
func registerAPIs(n *Node, mux *http.ServeMux) {
	registerCoreAPI(n, mux)
	registerAuthAPI(n, mux) // api_auth.go
	registerDebugAPI(n, mux)
	registerRoutingAPI(n, mux) // routers_api.go
	registerContentAPI(n, mux) // content_api.go
	registerObserveAPI(n, mux) // webui_api.go
}

// Handler is the API as an http.Handler, middleware included. The server started
// by New serves it; tests call it through httptest.
func (n *Node) Handler() http.Handler {
	if n.auth == nil {
		if err := n.initAuth(); err != nil {
			// Only a repo whose token cannot be read gets here (startAPI reports it):
			// a random token keeps the API closed rather than open.
			n.Logger("api").Error("API token unavailable; the API refuses every call", "err", err)
			n.auth = newAPIAuth(randomToken())
		}
	}
	if n.mux == nil {
		n.mux = http.NewServeMux()
		registerAPIs(n, n.mux)
	}
	return guardLocal(n.auth.middleware(n.mux))
}

// initAuth loads the repo's API token, creating it for a repo made before tokens
// existed; a node without a repo gets a random token, which APIToken tells its
// embedder.
func (n *Node) initAuth() error {
	if n.repo == nil {
		n.auth = newAPIAuth(randomToken())
		return nil
	}
	tok, err := n.repo.EnsureAPIToken()
	if err != nil {
		return err
	}
	n.auth = newAPIAuth(tok)
	return nil
}

// APIToken is the token API callers must send (Authorization: Bearer): the repo's
// api.token, or for a node without a repo one made at start.
func (n *Node) APIToken() string {
	n.Handler()
	return string(n.auth.token)
}

func (n *Node) startAPI(addr string) error {
	if err := n.initAuth(); err != nil {
		return fmt.Errorf("start API: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("start API on %s: %w", addr, err)
	}
	n.apiListener = ln
	n.api = &http.Server{
		Handler:           n.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	go func() {
		if err := n.api.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.Logger("api").Error("API server stopped", "err", err)
		}
	}()
	n.onClose(func() error { return shutdownHTTP(n.api) })
	if n.repo != nil {
		if err := n.repo.WriteAPIAddr(ln.Addr().String()); err != nil {
			return err
		}
		n.onClose(func() error { removeIfOurs(n.repo, ln.Addr().String()); return nil })
		n.startAPISocket()
	}
	n.Logger("api").Info("API listening", "addr", ln.Addr().String())
	return nil
}

// startAPISocket serves the API on the repo's Unix socket too, for the clients on this
// machine: a cat can pass its output file over it, which the daemon writes without
// copying the bytes through a socket. The socket is optional (clients fall back to
// the TCP API): a path too long for a socket address only gets a log line.
func (n *Node) startAPISocket() {
	path := n.repo.file(SocketFile)
	// The repo lock makes this daemon the repo's only one: a socket left here is an
	// earlier run's, which died before removing it.
	_ = os.Remove(path)
	ln, err := fdconn.Listen(path)
	if err != nil {
		n.Logger("api").Info("API socket not started; clients use the TCP API", "path", path, "err", err)
		return
	}
	// The repo directory is the owner's alone already; the mode says so again for
	// a repo whose directory someone opened up.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		n.Logger("api").Warn("API socket not started", "path", path, "err", err)
		return
	}
	srv := &http.Server{
		Handler:           n.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       fdconn.WithConn,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.Logger("api").Error("API socket server stopped", "err", err)
		}
	}()
	// Closing the listener removes the socket file.
	n.onClose(func() error { return shutdownHTTP(srv) })
}

// removeIfOurs deletes the repo's API file unless another daemon replaced it.
func removeIfOurs(r *Repo, addr string) {
	if cur, err := client.ReadAPIAddr(r.Path()); err == nil && cur == addr {
		_ = os.Remove(r.file(APIFile))
	}
}

func registerCoreAPI(n *Node, mux *http.ServeMux) {
	mux.HandleFunc("GET "+client.APIPrefix+"id", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.IDInfo())
	})
	mux.HandleFunc("GET "+client.APIPrefix+"members", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.MemberInfos())
	})
	mux.HandleFunc("GET "+client.APIPrefix+"version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, client.VersionInfo{Version: Version()})
	})
	mux.HandleFunc("POST "+client.APIPrefix+"join", func(w http.ResponseWriter, r *http.Request) {
		var req client.JoinRequest
		if !decodeJSON(w, r, &req) {
			return
		}
		if len(req.Addrs) == 0 {
			writeError(w, http.StatusBadRequest, errors.New("join: no addresses given"))
			return
		}
		for _, a := range req.Addrs {
			if err := n.checkJoinAddr(a); err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("join: %w", err))
				return
			}
		}
		joined, err := n.Join(req.Addrs)
		if err != nil {
			writeError(w, http.StatusBadGateway, err)
			return
		}
		writeJSON(w, http.StatusOK, client.JoinResponse{Joined: joined})
	})
	mux.HandleFunc("POST "+client.APIPrefix+"leave", func(w http.ResponseWriter, r *http.Request) {
		if err := n.Leave(); err != nil {
			writeError(w, http.StatusInternalServerError, fmt.Errorf("leave: %w", err))
			return
		}
		writeJSON(w, http.StatusOK, client.StatusResponse{Status: "left; daemon stopping"})
		n.requestStop(StopLeave)
	})
	mux.HandleFunc("POST "+client.APIPrefix+"shutdown", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, client.StatusResponse{Status: "daemon stopping"})
		n.requestStop(StopShutdown)
	})
}

func registerDebugAPI(n *Node, mux *http.ServeMux) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.registry, promhttp.HandlerOpts{Registry: n.registry}))
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}

// IDInfo describes this node: what the id command prints.
func (n *Node) IDInfo() IDInfo {
	info := IDInfo{
		PeerID:          n.host.ID().String(),
		Name:            n.gossip.Local().Name,
		GossipAddr:      n.gossipJoinAddr(),
		GossipBind:      n.gossip.BoundAddr(),
		GossipTransport: n.cfg.Gossip.Transport,
		ListenAddrs:     []string{},
		Addrs:           []string{},
		APIAddr:         n.APIAddr(),
		Version:         Version(),
		PID:             os.Getpid(),
	}
	for _, a := range n.host.Network().ListenAddresses() {
		info.ListenAddrs = append(info.ListenAddrs, a.String())
	}
	for _, a := range n.host.Addrs() {
		info.Addrs = append(info.Addrs, a.String())
	}
	if info.GossipAddr == "" {
		info.GossipAddr = info.GossipBind
	}
	info.Cluster = n.clusterInfo()
	info.Reach = n.reach.info(n.host)
	slices.Sort(info.ListenAddrs)
	return info
}

// clusterInfo is gossip's join state as the API reports it.
func (n *Node) clusterInfo() client.ClusterInfo {
	st := n.gossip.JoinStatus()
	if n.overLibp2p() && len(st.Seeds) == len(n.cfg.Gossip.Join) {
		st.Seeds = slices.Clone(n.cfg.Gossip.Join) // as configured, not memberlist's form
	}
	return client.ClusterInfo{State: st.State, Joined: st.Joined, Reason: st.Reason, Seeds: st.Seeds}
}

// MemberInfos lists every member gossip knows, this node included, sorted by
// gossip address so repeated listings line up.
func (n *Node) MemberInfos() []MemberInfo {
	members := n.gossip.Members()
	self := n.gossip.Local().Name
	out := make([]MemberInfo, 0, len(members))
	for _, m := range members {
		mi := MemberInfo{Name: m.Name, Addr: m.Addr, State: string(m.State), PeerID: m.PeerID.String(), Addrs: []string{}}
		if m.Name == self {
			ci := n.clusterInfo()
			mi.Self, mi.Cluster = true, &ci
		}
		for _, a := range m.Addrs {
			mi.Addrs = append(mi.Addrs, a.String())
		}
		// Over libp2p, memberlist's address is derived from the peer ID and
		// reaches nothing outside gossip; where the member listens tells more.
		if n.overLibp2p() && len(mi.Addrs) > 0 {
			mi.Addr = mi.Addrs[0]
		}
		out = append(out, mi)
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return strings.Compare(a.Addr+a.Name, b.Addr+b.Name) })
	return out
}

// maxRequestBody bounds API request bodies; feature handlers that take more
// (uploads) read the body themselves.
const maxRequestBody = 1 << 20

// decodeJSON reads r's body into v strictly: exactly one JSON value (an empty body,
// or anything but white space after the value, is refused), unknown fields refused,
// size bounded. On failure it writes a 400 and returns false.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := decodeBody(http.MaxBytesReader(w, r.Body, maxRequestBody), v); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return false
	}
	return true
}

// decodeBody is decodeJSON's reader, apart from HTTP so it can be fuzzed.
func decodeBody(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("bad request body: want one JSON value, got none")
		}
		return fmt.Errorf("bad request body: %w", err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("bad request body: want exactly one JSON value, got more after it")
	}
	return nil
}

// writeJSON sends v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError sends {"error": err} with status.
func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, client.ErrorResponse{Error: err.Error()})
}

// guardLocal refuses cross-origin and DNS-rebinding requests before they reach a
// handler. Only programs on this machine (the CLI, curl, Prometheus) are callers;
// they send no Origin, or one naming the API itself.
func guardLocal(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) && isLoopbackAddr(r.Context().Value(http.LocalAddrContextKey)) {
			writeError(w, http.StatusForbidden, fmt.Errorf("host %q refused: the API answers only to localhost names", r.Host))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && origin != "http://"+r.Host {
			writeError(w, http.StatusForbidden, fmt.Errorf("origin %q refused: the API is for local clients only", origin))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isLoopbackAddr(v any) bool {
	a, ok := v.(net.Addr)
	if !ok {
		// httptest.NewRecorder requests carry no local address; treat them as loopback.
		return true
	}
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
