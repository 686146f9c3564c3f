package node

import "net/http"

// Stub created by the daemon helper; the routers wiring replaces it with the lookup
// and routing-table endpoints (see the pattern in api.go).
func registerRoutingAPI(n *Node, mux *http.ServeMux) {}
