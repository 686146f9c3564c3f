// Package setting holds the small value types the packages' Config structs share so
// that one struct is both the Go API and the config file's section: Duration, a
// time.Duration that JSON writes as a Go duration string ("5s", "24h") rather than
// a count of nanoseconds. It depends on the standard library only, so the routers
// can use it without importing each other or node.
package setting
