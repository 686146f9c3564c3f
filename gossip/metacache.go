package gossip

import (
	"bytes"
	"slices"
	"sync"
)

// MetaCache remembers, per member name, the last metadata that verified, so that
// the many repeats of a member's alive message cost a byte comparison instead of
// a decode and a signature check.
//
// Whether metadata verifies depends only on the member name and the bytes, so one
// cache can serve every member in a process: a simulation of a thousand members
// (compare) then checks each signature once instead of once per member, and keeps
// one decoded copy of each member's addresses instead of a thousand. A Gossip
// without Config.MetaCache gets a cache of its own.
type MetaCache struct {
	mu sync.Mutex
	m  map[string]verifiedMeta
}

type verifiedMeta struct {
	raw  []byte
	meta NodeMeta
}

// NewMetaCache returns an empty cache, safe for concurrent use by any number of
// members.
func NewMetaCache() *MetaCache {
	return &MetaCache{m: make(map[string]verifiedMeta)}
}

// Vet decodes and verifies meta as the metadata of the member called name, or
// answers from the cache when the same bytes verified before. The returned
// NodeMeta may be shared with other callers: treat it as read-only.
func (c *MetaCache) Vet(name string, meta []byte) (NodeMeta, error) {
	c.mu.Lock()
	v, ok := c.m[name]
	c.mu.Unlock()
	if ok && bytes.Equal(v.raw, meta) {
		return v.meta, nil
	}
	m, err := DecodeMeta(meta)
	if err != nil {
		return NodeMeta{}, err
	}
	if err := m.Verify(name); err != nil {
		return NodeMeta{}, err
	}
	c.mu.Lock()
	c.m[name] = verifiedMeta{raw: slices.Clone(meta), meta: m}
	c.mu.Unlock()
	return m, nil
}

// Forget drops name's entry; its next metadata is checked again.
func (c *MetaCache) Forget(name string) {
	c.mu.Lock()
	delete(c.m, name)
	c.mu.Unlock()
}
