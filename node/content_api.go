package node

import "net/http"

// Stub created by the daemon helper; the content wiring replaces it with the add,
// get, provide and pin endpoints (see the pattern in api.go).
func registerContentAPI(n *Node, mux *http.ServeMux) {}
