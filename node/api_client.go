package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// ErrNoDaemon means nothing answered at the API address: no daemon is running
// there (or it is still starting). Client methods wrap it with the address.
var ErrNoDaemon = errors.New("no daemon answering")

// APIError is a non-2xx answer from the API, with the daemon's message.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Client calls a daemon's HTTP API; the CLI uses it, and so can scripts in Go.
// Feature files add methods on *Client built on Call (e.g. content_client.go).
type Client struct {
	addr string
	http *http.Client
}

// NewClient talks to the API at addr (host:port, or an http:// URL).
func NewClient(addr string) *Client {
	return &Client{addr: strings.TrimSuffix(strings.TrimPrefix(addr, "http://"), "/"), http: &http.Client{}}
}

// Addr is the API address the client talks to.
func (c *Client) Addr() string { return c.addr }

// Call sends one API request: method GET or POST, path relative to APIPrefix (e.g.
// "members"), in marshalled as the JSON body when non-nil, and the answer decoded
// into out when non-nil. Errors: ErrNoDaemon (wrapped) when nothing listens,
// *APIError when the daemon refused, or a transport error.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.do(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("call %s: read answer: %w", path, err)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("call %s: decode answer: %w", path, err)
		}
	}
	return nil
}

// do sends one API request (see Call) and returns the response when it is 2xx, for
// the caller to read and close; otherwise the daemon's error, with Call's errors.
// Streaming and byte answers (content_client.go) read the body themselves.
func (c *Client) do(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addr+APIPrefix+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if isConnRefused(err) {
			return nil, fmt.Errorf("%w at %s", ErrNoDaemon, c.addr)
		}
		return nil, fmt.Errorf("call %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e ErrorResponse
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, &APIError{Status: resp.StatusCode, Message: e.Error}
		}
		return nil, &APIError{Status: resp.StatusCode, Message: fmt.Sprintf("%s %s: %s", method, path, resp.Status)}
	}
	return resp, nil
}

func isConnRefused(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}

// ID returns the daemon's identity and bound addresses.
func (c *Client) ID(ctx context.Context) (IDInfo, error) {
	var out IDInfo
	return out, c.Call(ctx, http.MethodGet, "id", nil, &out)
}

// Members lists every member the daemon knows.
func (c *Client) Members(ctx context.Context) ([]MemberInfo, error) {
	var out []MemberInfo
	return out, c.Call(ctx, http.MethodGet, "members", nil, &out)
}

// Join makes the daemon join the members at addrs now.
func (c *Client) Join(ctx context.Context, addrs []string) (int, error) {
	var out JoinResponse
	err := c.Call(ctx, http.MethodPost, "join", JoinRequest{Addrs: addrs}, &out)
	return out.Joined, err
}

// Leave makes the daemon leave the cluster gracefully and stop.
func (c *Client) Leave(ctx context.Context) error {
	return c.Call(ctx, http.MethodPost, "leave", nil, nil)
}

// Shutdown stops the daemon without leaving (others see it fail, and reconnect
// to it when it comes back).
func (c *Client) Shutdown(ctx context.Context) error {
	return c.Call(ctx, http.MethodPost, "shutdown", nil, nil)
}

// Version returns the daemon's version.
func (c *Client) Version(ctx context.Context) (string, error) {
	var out VersionInfo
	return out.Version, c.Call(ctx, http.MethodGet, "version", nil, &out)
}

// WaitReady polls the API until it answers or ctx ends; for scripts and tests that
// start a daemon and then talk to it.
func (c *Client) WaitReady(ctx context.Context) error {
	for {
		_, err := c.ID(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("daemon at %s not ready: %w", c.addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
