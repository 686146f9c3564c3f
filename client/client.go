package client

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
)

// APIPrefix is the path prefix of every API call.
const APIPrefix = "/api/v1/"

// ErrNoDaemon means nothing answered at the API address: no daemon is running
// there (or it is still starting). Client methods wrap it with the address.
var ErrNoDaemon = errors.New("no daemon answering")

// APIError is a non-2xx answer from the API, with the daemon's message.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// ErrUnauthorized matches (errors.Is) an *APIError with status 401: the call sent no
// token, or not the daemon's.
var ErrUnauthorized = errors.New("unauthorized")

// Is makes errors.Is(err, ErrUnauthorized) true for a 401.
func (e *APIError) Is(target error) bool {
	return target == ErrUnauthorized && e.Status == http.StatusUnauthorized
}

// Client calls a daemon's HTTP API; the CLI uses it, and so can scripts in Go.
// Feature files add methods on *Client built on Call (content.go, routing.go).
type Client struct {
	addr   string
	token  string
	http   *http.Client
	socket string // the daemon's API socket, for cats into a file (see WithSocket)
}

// Option customises New.
type Option func(*Client)

// WithToken sends tok (the repo's api.token, see ReadToken) as
// "Authorization: Bearer tok" with every call; without it the daemon answers 401.
func WithToken(tok string) Option { return func(c *Client) { c.token = tok } }

// WithHTTPClient makes the client send its requests through hc (timeouts, a
// custom transport).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithSocket names the daemon's Unix API socket (the repo's SocketFile). With it, Cat
// into a file hands the file to the daemon, which writes it without sending the bytes
// through a socket; without it, or when the socket does not answer, Cat streams.
func WithSocket(path string) Option { return func(c *Client) { c.socket = path } }

// New returns a client of the API at addr (host:port, or an http:// URL).
func New(addr string, opts ...Option) *Client {
	c := &Client{addr: strings.TrimSuffix(strings.TrimPrefix(addr, "http://"), "/"), http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c
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
// Streaming and byte answers (content.go) read the body themselves.
func (c *Client) do(ctx context.Context, method, path string, in any) (*http.Response, error) {
	return c.send(ctx, c.http, "http://"+c.addr, method, path, in)
}

// send is do through hc to the API at base (scheme and host).
func (c *Client) send(ctx context.Context, hc *http.Client, base, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+APIPrefix+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := hc.Do(req)
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
