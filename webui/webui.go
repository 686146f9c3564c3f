// Package webui holds dhtnode's web UI: plain HTML, CSS and JavaScript embedded in the
// binary, with no build step and nothing fetched from elsewhere. The daemon serves it at
// /webui/ next to its HTTP API; the page talks to that API with same-origin fetch calls,
// so it sees exactly what the CLI sees and carries the same credentials (the browser's
// session cookie).
//
// The views (members, Chord ring, Kademlia buckets, lookups side by side, content and
// transfers, network, compare results) poll the API about once a second; see
// docs/webui.md.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Files is the UI's file tree (index.html at its root).
func Files() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree has the directory by construction
	}
	return sub
}

// Handler serves the UI rooted at "/" (mount it with http.StripPrefix). Every answer
// carries a Content-Security-Policy that allows only the page's own origin, so even an
// injected string could not load or run script from elsewhere.
func Handler() http.Handler {
	files := http.FileServerFS(Files())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
