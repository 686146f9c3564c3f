package node

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dhtnode/dhtnode/client"
)

// Who may use the API.
//
// The API reads and writes files as the daemon's user, so it answers only callers
// that prove they are the repo's owner: they send the token in <repo>/api.token
// (mode 0600) as "Authorization: Bearer TOKEN", compared in constant time. A
// browser cannot be given a header, so a token holder asks for a one-time login
// code (POST auth/login-code) and the browser opens /login?code=CODE, which
// consumes the code and sets a session cookie (HttpOnly, SameSite=Strict), the way
// Jupyter does: the token never appears in a URL, a log or the browser's history.
//
// Two doors stay open without a token: /login itself (it checks the code) and
// /metrics, but only on a loopback listener, for a local Prometheus; metrics carry
// counts, no content and no paths. /debug/pprof needs the token like everything else.

// Limits of the browser login.
const (
	// LoginCodeTTL is how long a login code is valid: long enough to open a URL,
	// short enough that one found in a shell history is dead.
	LoginCodeTTL = 2 * time.Minute
	// SessionTTL is how long a browser session lasts before it must log in again.
	SessionTTL = 12 * time.Hour
	// maxLoginCodes and maxSessions bound the daemon's memory however often a
	// token holder logs in; the oldest are forgotten first.
	maxLoginCodes = 32
	maxSessions   = 256
)

// apiAuth holds the token and the live login codes and sessions. Codes and sessions
// are kept by their SHA-256, so a map lookup never compares a secret byte by byte.
type apiAuth struct {
	token []byte
	now   func() time.Time

	mu       sync.Mutex
	codes    map[[32]byte]time.Time // expiry
	sessions map[[32]byte]time.Time // expiry
}

func newAPIAuth(token string) *apiAuth {
	return &apiAuth{token: []byte(token), now: time.Now,
		codes: map[[32]byte]time.Time{}, sessions: map[[32]byte]time.Time{}}
}

// errUnauthorized is what every refused caller reads: short, and says where the token is.
var errUnauthorized = errors.New("unauthorized: send the API token (" + client.TokenFile + " in the daemon's repo) as \"Authorization: Bearer TOKEN\"")

// bearerOK reports whether r carries the token.
func (a *apiAuth) bearerOK(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(h[len(prefix):])), a.token) == 1
}

// sessionOK reports whether r carries a live session cookie.
func (a *apiAuth) sessionOK(r *http.Request) bool {
	c, err := r.Cookie(client.SessionCookie)
	if err != nil || c.Value == "" {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.sessions[sha256.Sum256([]byte(c.Value))]
	return ok && a.now().Before(exp)
}

// issue makes a random secret, remembers its hash in m until ttl, and returns it.
// It forgets expired entries, and the one expiring first when m is full.
func (a *apiAuth) issue(m map[[32]byte]time.Time, ttl time.Duration, max int) (string, time.Time, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	secret := hex.EncodeToString(b[:])
	now := a.now()
	exp := now.Add(ttl)
	a.mu.Lock()
	defer a.mu.Unlock()
	var oldest [32]byte
	var oldestExp time.Time
	for k, e := range m {
		if !now.Before(e) {
			delete(m, k)
			continue
		}
		if oldestExp.IsZero() || e.Before(oldestExp) {
			oldest, oldestExp = k, e
		}
	}
	if len(m) >= max {
		delete(m, oldest)
	}
	m[sha256.Sum256([]byte(secret))] = exp
	return secret, exp, nil
}

// consumeCode reports whether code is a live login code, and spends it.
func (a *apiAuth) consumeCode(code string) bool {
	if code == "" {
		return false
	}
	k := sha256.Sum256([]byte(code))
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.codes[k]
	delete(a.codes, k)
	return ok && a.now().Before(exp)
}

// middleware lets a request through only with the token or a live session, except
// the login page and loopback /metrics (see above).
func (a *apiAuth) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		open := r.URL.Path == client.LoginPath ||
			(r.URL.Path == "/metrics" && isLoopbackAddr(r.Context().Value(http.LocalAddrContextKey)))
		if !open && !a.bearerOK(r) && !a.sessionOK(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dhtnode"`)
			if wantsPage(r) {
				// A person opened the UI in a browser without a session: tell them how
				// to get one, instead of a JSON error.
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, loginHelpPage)
				return
			}
			writeError(w, http.StatusUnauthorized, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// wantsPage reports whether r is a browser navigating to a page outside the API.
func wantsPage(r *http.Request) bool {
	return r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, client.APIPrefix) &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// loginHelpPage is what a browser without a session sees.
const loginHelpPage = `<!doctype html>
<meta charset="utf-8"><title>dhtnode: log in</title>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto">
<h1>dhtnode</h1>
<p>This daemon answers only its owner. To open the web UI, run on the daemon's machine, as the user who owns its repo:</p>
<pre>dhtnode webui</pre>
<p>It opens (or, with <code>--print</code>, prints) a one-time login address that gives this browser a session.</p>
</body>
`

// registerAuthAPI installs the login code call and the login page.
func registerAuthAPI(n *Node, mux *http.ServeMux) {
	a := n.auth
	mux.HandleFunc("POST "+client.APIPrefix+"auth/login-code", func(w http.ResponseWriter, r *http.Request) {
		// A browser session must not mint logins for other browsers: the token only.
		if !a.bearerOK(r) {
			writeError(w, http.StatusUnauthorized, errUnauthorized)
			return
		}
		code, exp, err := a.issue(a.codes, LoginCodeTTL, maxLoginCodes)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, client.LoginCodeResponse{Code: code, ExpiresAt: exp})
	})
	mux.HandleFunc("GET "+client.LoginPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		q := r.URL.Query()
		next, ok := loginNext(q.Get("next"))
		if !ok {
			writeError(w, http.StatusBadRequest, errors.New("login: next must be a path on this server, starting with /"))
			return
		}
		if !a.consumeCode(q.Get("code")) {
			writeError(w, http.StatusUnauthorized, errors.New("login: the code is unknown, used or expired; ask for a new login URL"))
			return
		}
		session, exp, err := a.issue(a.sessions, SessionTTL, maxSessions)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: client.SessionCookie, Value: session, Path: "/", Expires: exp,
			MaxAge: int(SessionTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode,
		})
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
}

// loginNext checks where a login may redirect: a path on this server only (never
// "//host" or "/\host", which browsers read as another host), default the web UI.
func loginNext(next string) (string, bool) {
	if next == "" {
		return client.WebUIPath, true
	}
	// Browsers drop tabs and newlines from URLs and read \ as /, so "/\t/host" is "//host".
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "", false
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "", false
	}
	return next, true
}

// randomToken is 32 random bytes in hex.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program rather than return weak bytes
	return hex.EncodeToString(b[:])
}
