package node

import (
	"context"
	"net/http"

	"github.com/dhtnode/dhtnode/client"
)

// registerStoreAPI serves the endpoints about what the node holds: info and ls
// describe content, pin/add, pin/rm and pin/ls keep it through GC, repo/gc, repo/stat
// and repo/verify look after the blockstore (see the table in content_api.go).
func registerStoreAPI(n *Node, mux *http.ServeMux) {
	mux.HandleFunc("GET "+client.APIPrefix+"content/info", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		id, from, err := contentRef(q.Get("id"), q["from"])
		var info ContentInfo
		if err == nil {
			info, err = n.Info(r.Context(), id, from, q.Get("via"))
		}
		if err != nil {
			writeError(w, contentStatus(err), apiHint(err))
			return
		}
		writeJSON(w, http.StatusOK, info)
	})

	mux.HandleFunc("GET "+client.APIPrefix+"content/ls", func(w http.ResponseWriter, r *http.Request) {
		list, err := n.List()
		if err != nil {
			writeError(w, contentStatus(err), err)
			return
		}
		writeJSON(w, http.StatusOK, list)
	})

	pinCall := func(f func(context.Context, client.IDRequest) error, done string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var req client.IDRequest
			if !decodeJSON(w, r, &req) {
				return
			}
			if err := f(r.Context(), req); err != nil {
				writeError(w, contentStatus(err), apiHint(err))
				return
			}
			writeJSON(w, http.StatusOK, client.StatusResponse{Status: done})
		}
	}
	mux.HandleFunc("POST "+client.APIPrefix+"content/pin/add", pinCall(func(ctx context.Context, req client.IDRequest) error {
		id, from, err := contentRef(req.ID, req.From)
		if err != nil {
			return err
		}
		return n.Pin(ctx, id, from, req.Via)
	}, "pinned"))
	mux.HandleFunc("POST "+client.APIPrefix+"content/pin/rm", pinCall(func(_ context.Context, req client.IDRequest) error {
		id, err := parseContentID(req.ID)
		if err != nil {
			return err
		}
		return n.Unpin(id)
	}, "unpinned"))
	mux.HandleFunc("GET "+client.APIPrefix+"content/pin/ls", func(w http.ResponseWriter, r *http.Request) {
		pins, err := n.Pins()
		if err != nil {
			writeError(w, contentStatus(err), err)
			return
		}
		writeJSON(w, http.StatusOK, pins)
	})

	mux.HandleFunc("POST "+client.APIPrefix+"repo/gc", func(w http.ResponseWriter, r *http.Request) {
		res, err := n.RepoGC(r.Context())
		if err != nil {
			writeError(w, contentStatus(err), err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET "+client.APIPrefix+"repo/stat", func(w http.ResponseWriter, r *http.Request) {
		res, err := n.RepoStat()
		if err != nil {
			writeError(w, contentStatus(err), err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST "+client.APIPrefix+"repo/verify", func(w http.ResponseWriter, r *http.Request) {
		res, err := n.RepoVerify(r.Context())
		if err != nil {
			writeError(w, contentStatus(err), err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}
