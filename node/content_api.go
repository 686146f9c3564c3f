package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dhtnode/dhtnode/blockstore"
	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/content"
	"github.com/dhtnode/dhtnode/exchange"
	"github.com/dhtnode/dhtnode/internal/fdconn"
)

// Content endpoints (all under client.APIPrefix):
//
//	POST content/add        client.AddRequest → NDJSON client.AddEvent lines (progress…, then result or error)
//	POST content/get        client.GetRequest → NDJSON client.GetEvent lines (progress…, then result or error)
//	GET  content/cat?id=ID[&from=MULTIADDR…][&via=R]   the file's bytes (size in Dhtnode-Content-Size;
//	                                                    an error part way in the Dhtnode-Error trailer)
//	GET  content/cat?id=ID&output=file[…]      over the API socket, with the output file attached:
//	                                           the daemon writes the file there → client.CatResult
//	GET  content/info?id=ID[&from=MULTIADDR…][&via=R]  ContentInfo
//	GET  content/ls                            []ListEntry
//	POST content/pin/add    client.IDRequest → client.StatusResponse (fetches content that is not local)
//	POST content/pin/rm     client.IDRequest → client.StatusResponse
//	GET  content/pin/ls                        []string
//	POST repo/gc            → GCReport
//	GET  repo/stat          → RepoStatInfo
//	POST repo/verify        → VerifyReport
//
// Progress streams are newline-delimited JSON (Content-Type application/x-ndjson), flushed
// as they go, so a client can draw a progress bar; the last line carries the result or the
// error. Closing the request cancels the add or get.

// contentStatus maps content errors to HTTP statuses.
func contentStatus(err error) int {
	switch {
	case errors.Is(err, content.ErrInvalidID), errors.Is(err, ErrNoRouter), errors.Is(err, ErrUnknownRouter),
		errors.Is(err, content.ErrUnsafePath), errors.Is(err, content.ErrIsDir):
		return http.StatusBadRequest
	case errors.Is(err, exchange.ErrNotFound), errors.Is(err, blockstore.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, exchange.ErrExists):
		return http.StatusConflict
	case errors.Is(err, exchange.ErrNoProviders), errors.Is(err, exchange.ErrVerification), errors.Is(err, exchange.ErrIncomplete):
		return http.StatusBadGateway
	case errors.Is(err, ErrNoContent):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// ndjson writes a stream of JSON lines, flushing each; safe for concurrent use.
type ndjson struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
	e  *json.Encoder
}

func newNDJSON(w http.ResponseWriter) *ndjson {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	return &ndjson{w: w, rc: http.NewResponseController(w), e: json.NewEncoder(w)}
}

func (s *ndjson) send(v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.e.Encode(v)
	_ = s.rc.Flush()
}

// absPath refuses relative paths: the daemon's working directory means nothing to a client.
func absPath(what, p string) error {
	if p != "" && !filepath.IsAbs(p) {
		return fmt.Errorf("%s %q must be absolute", what, p)
	}
	return nil
}

// registerContentAPI serves the content endpoints: the transfers (add, get, cat) here,
// what the store holds (info, ls, pins, repo) in registerStoreAPI.
func registerContentAPI(n *Node, mux *http.ServeMux) {
	mux.HandleFunc("POST "+client.APIPrefix+"content/add", func(w http.ResponseWriter, r *http.Request) {
		var req client.AddRequest
		if !decodeJSON(w, r, &req) {
			return
		}
		if req.Path == "" {
			writeError(w, http.StatusBadRequest, errors.New("add: no path given"))
			return
		}
		if err := absPath("add: path", req.Path); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		out := newNDJSON(w)
		var last time.Time
		res, err := n.Add(r.Context(), req.Path, AddOptions{Recursive: req.Recursive, NoPin: req.NoPin, PieceSize: req.PieceSize, Link: req.Link,
			Progress: func(p content.AddProgress) {
				if now := time.Now(); now.Sub(last) >= 100*time.Millisecond {
					last = now
					out.send(client.AddEvent{Progress: &p})
				}
			}})
		if errors.Is(err, content.ErrIsDir) {
			err = fmt.Errorf("%w (add it with -r)", err) // the hint for the CLI, the API's main client
		}
		if err != nil {
			out.send(client.AddEvent{Error: err.Error()})
			return
		}
		out.send(client.AddEvent{Result: &res})
	})

	mux.HandleFunc("POST "+client.APIPrefix+"content/get", n.serveGet)

	mux.HandleFunc("GET "+client.APIPrefix+"content/cat", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var out *os.File
		if q.Get("output") == client.CatOutputFile {
			if out = fdconn.Take(r.Context()); out == nil {
				writeError(w, http.StatusBadRequest, errors.New("cat output=file: no file came with the request (send it over the repo's API socket)"))
				return
			}
			defer out.Close()
		}
		id, from, err := contentRef(q.Get("id"), q["from"])
		var size int64
		if err == nil {
			size, err = n.CatSize(r.Context(), id, from, q.Get("via"))
		}
		if err != nil {
			writeError(w, contentStatus(err), apiHint(err))
			return
		}
		if out != nil {
			writeJSON(w, http.StatusOK, n.catToFile(r.Context(), id, out))
			return
		}
		// No Content-Length: the body is chunked so that a failure part way (a piece that
		// fails verification) arrives as a trailer the client turns into a clear error,
		// instead of a connection cut the client can only call "unexpected EOF".
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set(client.CatSizeHeader, strconv.FormatInt(size, 10))
		w.Header().Set("Trailer", client.CatErrorTrailer)
		w.WriteHeader(http.StatusOK)
		if err := n.Cat(r.Context(), id, w); err != nil {
			n.Logger("content").Warn("cat failed part way", "id", id.String(), "err", err)
			w.Header().Set(client.CatErrorTrailer, oneLine(catError(id, err).Error()))
		}
	})

	registerStoreAPI(n, mux) // content_api_store.go
}

// catToFile is a cat into the caller's own output file, which came over the API
// socket: the daemon writes the verified pieces there itself, so no byte crosses a
// socket. What it wrote, and the error that stopped it part way, are the answer.
func (n *Node) catToFile(ctx context.Context, id content.ID, out *os.File) client.CatResult {
	cw := &countingWriter{w: out}
	err := n.Cat(ctx, id, cw)
	res := client.CatResult{Bytes: cw.n}
	if err != nil {
		n.Logger("content").Warn("cat failed part way", "id", id.String(), "err", err)
		res.Error = oneLine(catError(id, err).Error())
	}
	return res
}

// countingWriter counts what reached w.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	k, err := c.w.Write(b)
	c.n += int64(k)
	return k, err
}

// serveGet is POST content/get: it checks the request, names the output from the
// manifest when only a directory is given, then streams the download's progress and
// its result or error as NDJSON.
func (n *Node) serveGet(w http.ResponseWriter, r *http.Request) {
	var req client.GetRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	for _, c := range []struct{ what, p string }{{"get: output", req.Output}, {"get: output_dir", req.OutputDir}} {
		if err := absPath(c.what, c.p); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
	}
	out := newNDJSON(w)
	id, from, err := contentRef(req.ID, req.From)
	if err != nil {
		out.send(client.GetEvent{Error: err.Error()})
		return
	}
	output := req.Output
	if output == "" && req.OutputDir != "" {
		// The name comes from the manifest (one path component, checked by content).
		info, err := n.Info(r.Context(), id, from, req.Via)
		if err != nil {
			out.send(client.GetEvent{Error: apiHint(err).Error()})
			return
		}
		output = filepath.Join(req.OutputDir, info.Name)
	}
	res, err := n.Get(r.Context(), id, GetOptions{Output: output, From: from, Via: req.Via,
		Progress: func(p GetProgress) { out.send(client.GetEvent{Progress: &p}) }})
	if err != nil {
		out.send(client.GetEvent{Error: apiHint(err).Error()})
		return
	}
	out.send(client.GetEvent{Result: &res})
}

// catError says what stopped a cat part way, for a person: which piece, that it failed
// verification and where its bytes went, and how to get it back.
func catError(id content.ID, err error) error {
	var pe *blockstore.PieceError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case errors.Is(err, blockstore.ErrCorrupt) && pe.Quarantined != "":
		return fmt.Errorf("piece %d (%s) failed verification and was quarantined to %s; `dhtnode get %s` fetches it again",
			pe.Index, pe.Piece, pe.Quarantined, id)
	case errors.Is(err, blockstore.ErrCorrupt):
		return fmt.Errorf("piece %d (%s) failed verification in its linked file (it changed since it was added or fetched); it is marked missing: `dhtnode get %s` fetches it again: %v",
			pe.Index, pe.Piece, id, pe.Err)
	case errors.Is(err, blockstore.ErrNotFound):
		return fmt.Errorf("piece %d (%s) is missing from the store; `dhtnode get %s` fetches it again", pe.Index, pe.Piece, id)
	}
	return err
}

// oneLine makes s fit a header value.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, s)
}
