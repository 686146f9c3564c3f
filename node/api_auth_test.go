package node

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/client"
)

// hostile sends one request with exactly the given headers (no token added).
func hostile(n *Node, method, path, body string, header map[string]string) (int, string, http.Header) {
	req, _ := http.NewRequest(method, "http://127.0.0.1"+path, strings.NewReader(body))
	req.Host = "127.0.0.1"
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header()
}

// TestAPIRefusesCallersWithoutTheToken sends every class of route a caller without
// the token, with a wrong one, with the wrong scheme and with a forged session cookie.
func TestAPIRefusesCallersWithoutTheToken(t *testing.T) {
	n, _ := contentNode(t, nil)
	routes := []struct{ method, path, body string }{
		{"GET", "/api/v1/id", ""},
		{"GET", "/api/v1/members", ""},
		{"POST", "/api/v1/join", `{"addrs":["127.0.0.1:1"]}`},
		{"POST", "/api/v1/shutdown", ""},
		{"POST", "/api/v1/leave", ""},
		{"POST", "/api/v1/content/add", `{"path":"/etc/shadow"}`},
		{"POST", "/api/v1/content/get", `{"id":"x","output":"/root/owned"}`},
		{"GET", "/api/v1/content/cat?id=x", ""},
		{"GET", "/api/v1/content/ls", ""},
		{"POST", "/api/v1/content/pin/add", `{"id":"x"}`},
		{"POST", "/api/v1/repo/gc", ""},
		{"GET", "/api/v1/routing/routers", ""},
		{"POST", "/api/v1/routing/provide", `{"key":"x"}`},
		{"POST", "/api/v1/auth/login-code", ""},
		{"GET", "/debug/pprof/", ""},
		{"GET", "/debug/pprof/cmdline", ""},
		{"GET", "/webui/", ""},
		{"GET", "/no/such/path", ""},
	}
	callers := map[string]map[string]string{
		"no token":        nil,
		"wrong token":     {"Authorization": "Bearer " + strings.Repeat("0", 64)},
		"token prefix":    {"Authorization": "Bearer " + n.APIToken()[:32]},
		"basic scheme":    {"Authorization": "Basic " + n.APIToken()},
		"bare token":      {"Authorization": n.APIToken()},
		"forged cookie":   {"Cookie": client.SessionCookie + "=" + strings.Repeat("a", 64)},
		"token as cookie": {"Cookie": client.SessionCookie + "=" + n.APIToken()},
	}
	for name, h := range callers {
		for _, rt := range routes {
			code, body, hdr := hostile(n, rt.method, rt.path, rt.body, h)
			if code != http.StatusUnauthorized || !strings.Contains(body, `"error":"unauthorized`) || hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: %s %s: %d %s; want 401 with a JSON error", name, rt.method, rt.path, code, body)
			}
		}
	}
	select {
	case <-n.StopRequested():
		t.Fatal("a refused shutdown stopped the node")
	default:
	}
	// Nothing was added behind the refusals.
	list, err := n.List()
	if err != nil || len(list) != 0 {
		t.Errorf("content after refused adds: %v %v", list, err)
	}
	// The token itself opens every class.
	for _, p := range []string{"/api/v1/id", "/api/v1/content/ls", "/api/v1/routing/routers", "/debug/pprof/"} {
		if code, body, _ := hostile(n, "GET", p, "", map[string]string{"Authorization": "Bearer " + n.APIToken()}); code != 200 {
			t.Errorf("with the token, GET %s: %d %s", p, code, body)
		}
	}
	// /metrics stays open on a loopback listener, for a local Prometheus.
	if code, _, _ := hostile(n, "GET", "/metrics", "", nil); code != 200 {
		t.Errorf("/metrics on loopback without token: %d, want 200", code)
	}
}

// TestAPIMetricsNeedTheTokenOffLoopback: a daemon listening on another address
// serves /metrics only to token holders.
func TestAPIMetricsNeedTheTokenOffLoopback(t *testing.T) {
	n := startTestNode(t)
	req, _ := http.NewRequest("GET", "http://10.1.2.3:5001/metrics", nil)
	req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 5001}))
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("/metrics off loopback without token: %d, want 401", rec.Code)
	}
}

func TestAPIRepoTokenIsUsedAndCreatedForOldRepos(t *testing.T) {
	cfg := testConfig()
	path := filepath.Join(t.TempDir(), "repo")
	repo, err := InitRepo(path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A repo made before tokens existed: the daemon creates one at start.
	if err := os.Remove(filepath.Join(path, TokenFile)); err != nil {
		t.Fatal(err)
	}
	n, err := New(cfg, repo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	fi, err := os.Stat(filepath.Join(path, TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token after start: %v %v", fi, err)
	}
	c, err := client.FromRepo(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	if _, err := c.ID(ctx); err != nil {
		t.Errorf("client from repo: %v", err)
	}
	_, err = client.New(n.APIAddr()).ID(ctx)
	if !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("client without token: %v, want ErrUnauthorized", err)
	}
	_, err = client.New(n.APIAddr(), client.WithToken("nope")).ID(ctx)
	if !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("client with a wrong token: %v, want ErrUnauthorized", err)
	}
}

func TestAPITokenFileMadePrivateAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "repo")
	repo, err := InitRepo(path, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(path, TokenFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.EnsureAPIToken(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(path, TokenFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("token mode %04o after start, want 0600", fi.Mode().Perm())
	}
}

// noRedirect is an HTTP client that shows redirects instead of following them.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       30 * time.Second,
}

func TestBrowserLogin(t *testing.T) {
	n, c := contentNode(t, nil)
	ctx := ctxFor(t)
	login, err := c.BrowserLoginURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(login, n.APIToken()) || !strings.HasPrefix(login, "http://"+n.APIAddr()+"/login?code=") {
		t.Fatalf("login URL %q", login)
	}
	resp, err := noRedirect.Get(login)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/webui/" {
		t.Fatalf("login: %d to %q, want 303 to /webui/", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == client.SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" || session.Value == n.APIToken() {
		t.Fatalf("session cookie %+v; want HttpOnly, SameSite=Strict, Path=/, not the token", session)
	}
	withCookie := func(method, path string, header map[string]string) int {
		req, _ := http.NewRequest(method, "http://"+n.APIAddr()+path, nil)
		req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := withCookie("GET", "/webui/", nil); code != 200 {
		t.Errorf("session cookie: GET /webui/ %d, want 200", code)
	}
	// Without a session a browser gets a page that says how to log in.
	req, _ := http.NewRequest("GET", "http://"+n.APIAddr()+"/webui/", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	page, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != 401 || !strings.Contains(string(body), "dhtnode webui") || strings.Contains(string(body), n.APIToken()) {
		t.Errorf("browser without a session: %d %q, want 401 and a page naming `dhtnode webui`", page.StatusCode, body)
	}
	if code := withCookie("GET", "/api/v1/id", nil); code != 200 {
		t.Errorf("session cookie: GET id %d, want 200", code)
	}
	if code := withCookie("GET", "/api/v1/id", map[string]string{"Origin": "http://" + n.APIAddr()}); code != 200 {
		t.Errorf("session cookie from the web UI's own origin: %d, want 200", code)
	}
	if code := withCookie("POST", "/api/v1/shutdown", map[string]string{"Origin": "http://evil.example"}); code != 403 {
		t.Errorf("session cookie from a foreign origin: %d, want 403", code)
	}
	if code := withCookie("POST", "/api/v1/auth/login-code", nil); code != 401 {
		t.Errorf("a session minted a login code: %d, want 401 (token only)", code)
	}

	// The code works once.
	resp, err = noRedirect.Get(login)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("replayed code: %d with cookies %v, want 401 and none", resp.StatusCode, resp.Cookies())
	}

	// next: a path on this server, never another host.
	for next, want := range map[string]int{
		"/api/v1/id": 303, "//evil.example/": 400, "/\\evil.example": 400, "https://evil.example/": 400,
		"/\t/evil.example": 400, "webui": 400,
	} {
		u, err := c.BrowserLoginURL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := noRedirect.Get(u + "&next=" + url.QueryEscape(next))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || (want == 303 && resp.Header.Get("Location") != next) {
			t.Errorf("next=%q: %d to %q, want %d", next, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

func TestLoginCodeExpires(t *testing.T) {
	n, c := contentNode(t, nil)
	now := time.Now()
	n.auth.mu.Lock()
	n.auth.now = func() time.Time { return now }
	n.auth.mu.Unlock()
	u, err := c.BrowserLoginURL(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	n.auth.mu.Lock()
	n.auth.now = func() time.Time { return now.Add(LoginCodeTTL + time.Second) }
	n.auth.mu.Unlock()
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired code: %d, want 401", resp.StatusCode)
	}
	if code, _, _ := hostile(n, "GET", "/login", "", nil); code != http.StatusUnauthorized {
		t.Errorf("login without code: %d, want 401", code)
	}
}

func TestLoginCodesAndSessionsAreBounded(t *testing.T) {
	a := newAPIAuth("t")
	for i := 0; i < 3*maxLoginCodes; i++ {
		if _, _, err := a.issue(a.codes, LoginCodeTTL, maxLoginCodes); err != nil {
			t.Fatal(err)
		}
	}
	if len(a.codes) != maxLoginCodes {
		t.Errorf("%d codes kept, want at most %d", len(a.codes), maxLoginCodes)
	}
}

func TestAPIBodyIsExactlyOneJSONValue(t *testing.T) {
	n := startTestNode(t)
	auth := map[string]string{"Authorization": "Bearer " + n.APIToken()}
	for body, want := range map[string]int{
		`null x`:                   400,
		`{"addrs":[]} {}`:          400,
		`{"addrs":[]}[]`:           400,
		``:                         400,
		`{"addrs":["nowhere"]}`:    400, // one value, refused by the handler for its content
		"{\"addrs\":[]}\n \t\n":    400, // trailing white space is fine; the empty list is not
		`{"addrs":["127.0.0.1:1"]`: 400,
	} {
		code, resp, _ := hostile(n, "POST", "/api/v1/join", body, auth)
		if code != want {
			t.Errorf("join body %q: %d %s, want %d", body, code, resp, want)
		}
	}
	if _, resp, _ := hostile(n, "POST", "/api/v1/join", `null x`, auth); !strings.Contains(resp, "exactly one JSON value") {
		t.Errorf("null x: %s; want it to say one JSON value", resp)
	}
	if _, resp, _ := hostile(n, "POST", "/api/v1/join", "{\"addrs\":[]}\n", auth); !strings.Contains(resp, "no addresses") {
		t.Errorf("one value with a trailing newline must reach the handler: %s", resp)
	}
}
