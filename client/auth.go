package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Names of the browser login, which lets a web page in without the token ever
// appearing in a URL, a log or the browser's history: a token holder asks for a
// one-time code (LoginCode), the browser opens LoginPath?code=CODE, and the daemon
// consumes the code, sets the session cookie and redirects to the web UI.
const (
	// LoginPath is the page that consumes a login code (outside APIPrefix: a browser
	// opens it).
	LoginPath = "/login"
	// SessionCookie is the cookie a browser session carries (HttpOnly,
	// SameSite=Strict, Path=/).
	SessionCookie = "dhtnode_session"
	// WebUIPath is where a login lands unless it names another page.
	WebUIPath = "/webui/"
)

// LoginCodeResponse is the answer of POST auth/login-code: a code for one browser
// login, valid until ExpiresAt and only once.
type LoginCodeResponse struct {
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
}

// LoginCode asks the daemon for a one-time browser login code. Only a caller with
// the token gets one.
func (c *Client) LoginCode(ctx context.Context) (LoginCodeResponse, error) {
	var out LoginCodeResponse
	return out, c.Call(ctx, http.MethodPost, "auth/login-code", nil, &out)
}

// BrowserLoginURL returns a URL that logs a browser in once and opens the web UI:
// open it (or print it) soon, it expires within minutes and works a single time.
func (c *Client) BrowserLoginURL(ctx context.Context) (string, error) {
	lc, err := c.LoginCode(ctx)
	if err != nil {
		return "", err
	}
	return "http://" + c.addr + LoginPath + "?" + url.Values{"code": {lc.Code}}.Encode(), nil
}
