// Package layers holds no code of its own: its test loads the module's package graph
// with `go list` and fails when an import points up or sideways across the layers
// DESIGN.md draws (cmd on top, the routers and the content core below node, the small
// vocabulary packages at the bottom). It keeps the folders an honest map.
package layers
