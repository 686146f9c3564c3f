package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/internal/fdconn"
)

// AddRequest is the body of POST content/add. Path is read by the daemon, so it must be
// absolute (the CLI resolves it against its working directory).
type AddRequest struct {
	Path      string `json:"path"`
	Recursive bool   `json:"recursive,omitempty"`
	NoPin     bool   `json:"no_pin,omitempty"`
	PieceSize int64  `json:"piece_size,omitempty"`
	// Link stores no copy: the daemon serves the file from Path, verifying every read
	// (add --link); editing or moving it stops it being served.
	Link bool `json:"link,omitempty"`
}

// AddEvent is one line of the content/add stream.
type AddEvent struct {
	Progress *content.AddProgress `json:"progress,omitempty"`
	Result   *AddResult           `json:"result,omitempty"`
	Error    string               `json:"error,omitempty"`
}

// GetRequest is the body of POST content/get. Output (absolute) names the file or directory
// to create; OutputDir (absolute) creates the content under its own name there; neither
// fetches into the store only.
type GetRequest struct {
	ID        string   `json:"id"`
	Output    string   `json:"output,omitempty"`
	OutputDir string   `json:"output_dir,omitempty"`
	From      []string `json:"from,omitempty"`
	// Via names the router to search ("all": each); empty: the default, then the others.
	Via string `json:"via,omitempty"`
}

// GetEvent is one line of the content/get stream.
type GetEvent struct {
	Progress *GetProgress `json:"progress,omitempty"`
	Result   *GetResult   `json:"result,omitempty"`
	Error    string       `json:"error,omitempty"`
}

// GetProgress is a snapshot of a download in the content/get stream.
type GetProgress struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Bytes       int64         `json:"bytes"`        // verified bytes, including resumed ones
	Total       int64         `json:"total"`        // bytes of the whole content
	Pieces      int           `json:"pieces"`       // verified pieces
	TotalPieces int           `json:"total_pieces"` // pieces of the whole content
	Resumed     int           `json:"resumed"`      // pieces found in the store at the start
	Rate        float64       `json:"rate"`         // bytes/s over the last few seconds
	Peers       int           `json:"peers"`        // providers in use
	Elapsed     time.Duration `json:"elapsed_ns"`
	Done        bool          `json:"done"`
}

// IDRequest names one content; From optionally names providers (pin add fetches content
// that is not local).
type IDRequest struct {
	ID   string   `json:"id"`
	From []string `json:"from,omitempty"`
	Via  string   `json:"via,omitempty"` // as in GetRequest
}

// AddResult describes added content.
type AddResult struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Size      int64  `json:"size"`
	Files     int    `json:"files"`
	Pieces    int    `json:"pieces"`
	PieceSize int64  `json:"piece_size"`
	Pinned    bool   `json:"pinned"`
	// Linked is the path the content is served from (add --link); "" when copied.
	Linked string `json:"linked,omitempty"`
	// Elapsed is the time the add took, in seconds.
	Elapsed float64 `json:"elapsed"`
}

// GetResult describes a finished get.
type GetResult struct {
	ID      string         `json:"id"`
	Name    string         `json:"name"`
	Output  string         `json:"output,omitempty"`
	Size    int64          `json:"size"`
	Pieces  int            `json:"pieces"`
	Resumed int            `json:"resumed"`
	Fetched map[string]int `json:"fetched"` // pieces per provider peer ID
	Bad     map[string]int `json:"bad,omitempty"`
	Elapsed float64        `json:"elapsed"` // seconds
}

// FileInfo is one file of ContentInfo.
type FileInfo struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Root   string `json:"root"` // Merkle root (BEP 52 pieces root) in hex; "" for an empty file
	Pieces int    `json:"pieces"`
	Have   int    `json:"have"` // pieces held locally
}

// ContentInfo is what info prints: the manifest and how much of it is held locally.
type ContentInfo struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Kind      string     `json:"kind"`
	Size      int64      `json:"size"`
	PieceSize int64      `json:"piece_size"`
	Pieces    int        `json:"pieces"`
	Have      int        `json:"have"`
	Pinned    bool       `json:"pinned"`
	Local     bool       `json:"local"` // the manifest is in the local store (info of remote content stores nothing)
	Files     []FileInfo `json:"files"`
	// Linked is where the bytes are when they live in a get's output instead of piece
	// files: the node serves them from there, so moving or editing it loses them.
	Linked string `json:"linked,omitempty"`
}

// ListEntry is one line of ls.
type ListEntry struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Size     int64  `json:"size"`
	Pieces   int    `json:"pieces"`
	Have     int    `json:"have"`
	Complete bool   `json:"complete"`
	Pinned   bool   `json:"pinned"`
	Linked   string `json:"linked,omitempty"` // as in ContentInfo: the get output the bytes are in
}

// GCReport is what repo gc removed.
type GCReport struct {
	RemovedContents int   `json:"removed_contents"` // unpinned manifests
	RemovedPieces   int   `json:"removed_pieces"`
	RemovedBytes    int64 `json:"removed_bytes"`
}

// RepoStatInfo is what repo stat prints.
type RepoStatInfo struct {
	Dir          string `json:"dir"`
	Contents     int    `json:"contents"` // stored manifests
	Pinned       int    `json:"pinned"`
	Pieces       int    `json:"pieces"` // stored pieces (identical pieces stored once)
	PieceBytes   int64  `json:"piece_bytes"`
	Quarantined  int    `json:"quarantined"` // corrupt pieces copied aside
	MetadataSize int64  `json:"metadata_bytes"`
	// Linked counts the contents whose bytes are in a get's output rather than the store,
	// and LinkedBytes the bytes held there: without them a node that got content would
	// seem to hold nothing.
	Linked      int   `json:"linked,omitempty"`
	LinkedBytes int64 `json:"linked_bytes,omitempty"`
	// Segments are the files the pieces are appended to, and DiskBytes the blocks they
	// take on disk (what repo gc gives back shows here).
	Segments  int   `json:"segments"`
	DiskBytes int64 `json:"disk_bytes"`
}

// VerifyReport is the result of repo verify in printable form.
type VerifyReport struct {
	Checked    int      `json:"checked"`    // stored and linked pieces hashed
	Corrupt    []string `json:"corrupt"`    // piece IDs; stored ones among them are now quarantined
	Incomplete []string `json:"incomplete"` // pinned content IDs missing pieces (get refetches them)
	// CorruptLinked are the pieces of Corrupt read from a get's output (edited since): they
	// are only marked missing, never quarantined, because the file is the user's.
	CorruptLinked []string `json:"corrupt_linked,omitempty"`
}

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
	_ = GetEvent(streamEvent[GetProgress, GetResult]{})
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
func (c *Client) Get(ctx context.Context, req GetRequest, progress func(GetProgress)) (GetResult, error) {
	return streamResult[GetProgress, GetResult](ctx, c, "content/get", "get", req, progress)
}

func idQuery(id string, from []string, via string) string {
	q := url.Values{"id": {id}}
	if via != "" {
		q.Set("via", via)
	}
	for _, f := range from {
		q.Add("from", f)
	}
	return q.Encode()
}

// Cat copies a single-file content to w (fetching it first if the daemon lacks it). A
// transfer cut short is an error, never a silently short file.
//
// When w is a regular file (or /dev/null) and the client knows the daemon's socket
// (WithSocket), the daemon gets the file itself and writes it: the bytes never cross
// a socket, which on a loopback connection costs as much CPU as verifying them.
// Pipes and terminals are streamed, since a daemon must not wait on a reader it
// cannot see.
func (c *Client) Cat(ctx context.Context, id string, from []string, via string, w io.Writer) (int64, error) {
	if f, ok := w.(*os.File); ok && c.socket != "" && directOutput(f) {
		if n, tried, err := c.catToFile(ctx, id, from, via, f); tried {
			return n, err
		}
	}
	resp, err := c.do(ctx, http.MethodGet, "content/cat?"+idQuery(id, from, via), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.CopyBuffer(w, onlyReader{resp.Body}, make([]byte, catBuffer))
	if err != nil {
		return n, fmt.Errorf("cat %s: %w", id, err)
	}
	// The trailer is read with the end of the body: it says why a cat stopped part way.
	if msg := resp.Trailer.Get(CatErrorTrailer); msg != "" {
		return n, fmt.Errorf("cat %s: %w after %d bytes: %s", id, ErrCatFailed, n, msg)
	}
	want, perr := strconv.ParseInt(resp.Header.Get(CatSizeHeader), 10, 64)
	if perr != nil {
		want, perr = strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	}
	if perr == nil && n != want {
		return n, fmt.Errorf("cat %s: %w after %d of %d bytes", id, ErrStreamEnded, n, want)
	}
	return n, nil
}

// catToFile is Cat handing f to the daemon over its API socket. tried is false when
// the socket did not answer (no daemon behind it, or one without the socket), so the
// caller streams instead.
func (c *Client) catToFile(ctx context.Context, id string, from []string, via string, f *os.File) (n int64, tried bool, err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return 0, false, nil
	}
	sender := fdconn.NewSender(conn.(*net.UnixConn), f)
	hc := &http.Client{Transport: &http.Transport{
		DialContext:       func(context.Context, string, string) (net.Conn, error) { return sender, nil },
		DisableKeepAlives: true,
	}}
	defer sender.Close()
	resp, err := c.send(ctx, hc, "http://localhost", http.MethodGet,
		"content/cat?"+idQuery(id, from, via)+"&output="+CatOutputFile, nil)
	if err != nil {
		return 0, true, err
	}
	defer resp.Body.Close()
	var res CatResult
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return 0, true, fmt.Errorf("cat %s: read answer: %w", id, err)
	}
	if res.Error != "" {
		return res.Bytes, true, fmt.Errorf("cat %s: %w after %d bytes: %s", id, ErrCatFailed, res.Bytes, res.Error)
	}
	return res.Bytes, true, nil
}

// directOutput reports whether the daemon may write f itself: a regular file or
// /dev/null, whose writes never wait on another process.
func directOutput(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	if fi.Mode().IsRegular() {
		return true
	}
	null, err := os.Stat(os.DevNull)
	return err == nil && os.SameFile(fi, null)
}

// CatOutputFile is content/cat's output=file: the output file comes with the request
// over the API socket and the answer is a CatResult.
const CatOutputFile = "file"

// CatResult answers a cat into a file: the bytes the daemon wrote and, when it stopped
// part way, why.
type CatResult struct {
	Bytes int64  `json:"bytes"`
	Error string `json:"error,omitempty"`
}

// catBuffer is the size of cat's copies: large, so that a cat of a big file costs few
// system calls on either side of the copy.
const catBuffer = 1 << 20

// onlyReader hides everything but Read, so io.CopyBuffer uses its buffer instead of
// the writer's ReadFrom (which for a file copies through 32 KiB).
type onlyReader struct{ io.Reader }

// Headers of the content/cat answer: its size, and (a trailer, after the body) the
// error that stopped it part way.
const (
	CatSizeHeader   = "Dhtnode-Content-Size"
	CatErrorTrailer = "Dhtnode-Error"
)

// ErrCatFailed: the daemon stopped a cat part way and said why (a piece that failed
// verification, naming it and where it was quarantined).
var ErrCatFailed = errors.New("the daemon stopped the cat")

// Info describes content (the daemon fetches the manifest if it lacks it).
func (c *Client) Info(ctx context.Context, id string, from []string, via string) (ContentInfo, error) {
	var out ContentInfo
	return out, c.Call(ctx, http.MethodGet, "content/info?"+idQuery(id, from, via), nil, &out)
}

// List describes all local content.
func (c *Client) List(ctx context.Context) ([]ListEntry, error) {
	var out []ListEntry
	return out, c.Call(ctx, http.MethodGet, "content/ls", nil, &out)
}

// Pin pins content, fetching it first (from providers in from, else the router's) when it
// is not complete locally.
func (c *Client) Pin(ctx context.Context, id string, from []string, via string) error {
	return c.Call(ctx, http.MethodPost, "content/pin/add", IDRequest{ID: id, From: from, Via: via}, nil)
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

// RepoVerify rehashes every stored piece, in segments and in linked files.
func (c *Client) RepoVerify(ctx context.Context) (VerifyReport, error) {
	var out VerifyReport
	return out, c.Call(ctx, http.MethodPost, "repo/verify", nil, &out)
}
