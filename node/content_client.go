package node

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/exchange"
)

// ErrStreamEnded: a progress stream ended without a result (the daemon died or was stopped).
var ErrStreamEnded = errors.New("the daemon stopped answering before the operation finished")

// stream posts in and decodes each NDJSON line of the answer with line, until it returns
// done or the stream ends.
func (c *Client) stream(ctx context.Context, path string, in any, line func([]byte) (done bool, err error)) error {
	resp, err := c.do(ctx, http.MethodPost, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		done, err := line(sc.Bytes())
		if err != nil || done {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrStreamEnded, err)
	}
	return ErrStreamEnded
}

// streamEvent is one line of a progress stream: AddEvent's and GetEvent's shape, with
// the progress type P and the result type R as parameters, so that Add and Get
// decode their streams with one function.
type streamEvent[P, R any] struct {
	Progress *P     `json:"progress,omitempty"`
	Result   *R     `json:"result,omitempty"`
	Error    string `json:"error,omitempty"`
}

// These conversions compile only while AddEvent and GetEvent keep streamEvent's fields.
var (
	_ = AddEvent(streamEvent[content.AddProgress, AddResult]{})
	_ = GetEvent(streamEvent[exchange.Progress, GetResult]{})
)

// streamResult posts req to path and reads its progress stream: each progress line goes
// to progress (when set), and the result line or the error line ends it. op names the
// operation in a malformed line's error.
func streamResult[P, R any](ctx context.Context, c *Client, path, op string, req any, progress func(P)) (R, error) {
	var res R
	err := c.stream(ctx, path, req, func(b []byte) (bool, error) {
		var ev streamEvent[P, R]
		if err := json.Unmarshal(b, &ev); err != nil {
			return false, fmt.Errorf("%s: bad answer: %w", op, err)
		}
		switch {
		case ev.Error != "":
			return true, errors.New(ev.Error)
		case ev.Result != nil:
			res = *ev.Result
			return true, nil
		case ev.Progress != nil && progress != nil:
			progress(*ev.Progress)
		}
		return false, nil
	})
	return res, err
}

// Add asks the daemon to add the file or directory at an absolute path; progress, if set,
// is called as the daemon reads.
func (c *Client) Add(ctx context.Context, req AddRequest, progress func(content.AddProgress)) (AddResult, error) {
	return streamResult[content.AddProgress, AddResult](ctx, c, "content/add", "add", req, progress)
}

// Get asks the daemon to fetch content; progress, if set, is called a few times a second.
func (c *Client) Get(ctx context.Context, req GetRequest, progress func(exchange.Progress)) (GetResult, error) {
	return streamResult[exchange.Progress, GetResult](ctx, c, "content/get", "get", req, progress)
}

func idQuery(id string, from []string) string {
	q := url.Values{"id": {id}}
	for _, f := range from {
		q.Add("from", f)
	}
	return q.Encode()
}

// Cat copies a single-file content to w (fetching it first if the daemon lacks it). A
// transfer cut short is an error, never a silently short file.
func (c *Client) Cat(ctx context.Context, id string, from []string, w io.Writer) (int64, error) {
	resp, err := c.do(ctx, http.MethodGet, "content/cat?"+idQuery(id, from), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("cat %s: %w", id, err)
	}
	if want, perr := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); perr == nil && n != want {
		return n, fmt.Errorf("cat %s: %w after %d of %d bytes", id, ErrStreamEnded, n, want)
	}
	return n, nil
}

// Info describes content (the daemon fetches the manifest if it lacks it).
func (c *Client) Info(ctx context.Context, id string, from []string) (ContentInfo, error) {
	var out ContentInfo
	return out, c.Call(ctx, http.MethodGet, "content/info?"+idQuery(id, from), nil, &out)
}

// List describes all local content.
func (c *Client) List(ctx context.Context) ([]ListEntry, error) {
	var out []ListEntry
	return out, c.Call(ctx, http.MethodGet, "content/ls", nil, &out)
}

// Pin pins content, fetching it first (from providers in from, else the router's) when it
// is not complete locally.
func (c *Client) Pin(ctx context.Context, id string, from []string) error {
	return c.Call(ctx, http.MethodPost, "content/pin/add", IDRequest{ID: id, From: from}, nil)
}

// Unpin unpins content.
func (c *Client) Unpin(ctx context.Context, id string) error {
	return c.Call(ctx, http.MethodPost, "content/pin/rm", IDRequest{ID: id}, nil)
}

// Pins lists pinned content IDs.
func (c *Client) Pins(ctx context.Context) ([]string, error) {
	var out []string
	return out, c.Call(ctx, http.MethodGet, "content/pin/ls", nil, &out)
}

// RepoGC removes unpinned content.
func (c *Client) RepoGC(ctx context.Context) (GCReport, error) {
	var out GCReport
	return out, c.Call(ctx, http.MethodPost, "repo/gc", nil, &out)
}

// RepoStat describes the blockstore.
func (c *Client) RepoStat(ctx context.Context) (RepoStatInfo, error) {
	var out RepoStatInfo
	return out, c.Call(ctx, http.MethodGet, "repo/stat", nil, &out)
}

// RepoVerify rehashes every stored piece, in piece files and in linked files.
func (c *Client) RepoVerify(ctx context.Context) (VerifyReport, error) {
	var out VerifyReport
	return out, c.Call(ctx, http.MethodPost, "repo/verify", nil, &out)
}
