package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/dhtnode/dhtnode/routing"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// The routing endpoints:
//
//	GET  /api/v1/routing/routers                          running routers and the default
//	GET  /api/v1/routing/lookup?key=K&via=V               owner(s) of K with the lookup trace
//	GET  /api/v1/routing/table?via=V                      routing tables
//	POST /api/v1/routing/provide     {"key":K,"via":V}    announce this node as provider of K
//	GET  /api/v1/routing/findprovs?key=K&via=V&limit=N    providers of K
//
// V is a router name, "all", or empty for the default router. K is read by
// ParseRoutingKey. Every answer carries one result per router asked; a router that
// failed has its error (and its trace so far) in its result, so the answer is 200 even
// then: clients check each result's error.

// routingCallTimeout bounds one routing API call, whatever the client's patience.
const routingCallTimeout = 2 * time.Minute

// Key kinds ParseRoutingKey reports.
const (
	KeyKindHex    = "key"    // 64 hexadecimal digits, used as the key itself
	KeyKindCID    = "cid"    // a content ID (any CID): the key is its sha2-256 digest
	KeyKindString = "string" // anything else: the key is SHA-256 of the string's bytes
)

// ParseRoutingKey reads a key as users type it, and says how it read it:
//   - 64 hexadecimal digits are the key itself (KeyKindHex);
//   - a CID, such as a dhtnode content ID ("bagaaiera..."), is its sha2-256 digest
//     (content.ID.Key, where add announces content); a CID with another hash function
//     is hashed from its binary form, routing.ContentKey(cid.Bytes()) (KeyKindCID);
//   - any other string is hashed as text, routing.ContentKey([]byte(s)) (KeyKindString).
func ParseRoutingKey(s string) (routing.Key, string, error) {
	if s == "" {
		return routing.Key{}, "", errors.New("empty key")
	}
	if len(s) == 2*routing.KeyLen {
		if _, err := hex.DecodeString(s); err == nil {
			k, err := routing.ParseKey(s)
			return k, KeyKindHex, err
		}
	}
	if c, err := cid.Decode(s); err == nil {
		if dec, err := multihash.Decode(c.Hash()); err == nil && dec.Code == multihash.SHA2_256 && len(dec.Digest) == routing.KeyLen {
			return routing.Key(dec.Digest), KeyKindCID, nil
		}
		return routing.ContentKey(c.Bytes()), KeyKindCID, nil
	}
	return routing.ContentKey([]byte(s)), KeyKindString, nil
}

// RouterInfo is one entry of GET routing/routers.
type RouterInfo struct {
	Name    string `json:"name"`
	Default bool   `json:"default"`
}

// PeerRef is a peer in a routing answer.
type PeerRef struct {
	PeerID string `json:"peer_id"`
	// Key is the peer's position in the key space, PeerKey(peer ID).
	Key   routing.Key `json:"key"`
	Addrs []string    `json:"addrs,omitempty"`
}

func peerRefs(infos []peer.AddrInfo) []PeerRef {
	out := make([]PeerRef, 0, len(infos))
	for _, ai := range infos {
		ref := PeerRef{PeerID: ai.ID.String(), Key: routing.PeerKey(ai.ID)}
		for _, a := range ai.Addrs {
			ref.Addrs = append(ref.Addrs, a.String())
		}
		out = append(out, ref)
	}
	return out
}

// RoutingResult is one router's answer to a lookup, provide or findprovs.
type RoutingResult struct {
	Router string `json:"router"`
	// Peers are the owners (lookup, closest first) or the providers (findprovs).
	Peers []PeerRef     `json:"peers"`
	Trace routing.Trace `json:"trace"`
	Error string        `json:"error,omitempty"`
}

// RoutingResponse is the answer of lookup, provide and findprovs.
type RoutingResponse struct {
	// Input is the key as given; KeyKind says how it was read (see ParseRoutingKey).
	Input   string          `json:"input"`
	KeyKind string          `json:"key_kind"`
	Key     routing.Key     `json:"key"`
	Results []RoutingResult `json:"results"`
}

// ProvideRequest is the body of POST routing/provide.
type ProvideRequest struct {
	Key string `json:"key"`
	Via string `json:"via,omitempty"`
}

func registerRoutingAPI(n *Node, mux *http.ServeMux) {
	mux.HandleFunc("GET "+APIPrefix+"routing/routers", func(w http.ResponseWriter, r *http.Request) {
		out := []RouterInfo{}
		for _, name := range n.routers.order {
			out = append(out, RouterInfo{Name: name, Default: name == n.routers.def})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET "+APIPrefix+"routing/lookup", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n.serveRouting(w, r, q.Get("key"), q.Get("via"), func(ctx context.Context, rt routing.Router, key routing.Key) ([]peer.AddrInfo, routing.Trace, error) {
			return rt.Lookup(ctx, key)
		})
	})
	mux.HandleFunc("GET "+APIPrefix+"routing/findprovs", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit := 20
		if s := q.Get("limit"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 {
				writeError(w, http.StatusBadRequest, fmt.Errorf("findprovs: limit %q is not a count", s))
				return
			}
			limit = v
		}
		n.serveRouting(w, r, q.Get("key"), q.Get("via"), func(ctx context.Context, rt routing.Router, key routing.Key) ([]peer.AddrInfo, routing.Trace, error) {
			return rt.FindProviders(ctx, key, limit)
		})
	})
	mux.HandleFunc("POST "+APIPrefix+"routing/provide", func(w http.ResponseWriter, r *http.Request) {
		var req ProvideRequest
		if !decodeJSON(w, r, &req) {
			return
		}
		n.serveRouting(w, r, req.Key, req.Via, func(ctx context.Context, rt routing.Router, key routing.Key) ([]peer.AddrInfo, routing.Trace, error) {
			trace, err := rt.Provide(ctx, key)
			return nil, trace, err
		})
	})
	mux.HandleFunc("GET "+APIPrefix+"routing/table", func(w http.ResponseWriter, r *http.Request) {
		routers, err := n.routersFor(r.URL.Query().Get("via"))
		if err != nil {
			writeError(w, http.StatusNotFound, err)
			return
		}
		out := []routing.Table{}
		for _, rt := range routers {
			if tr, ok := rt.(routing.TableReporter); ok {
				out = append(out, tr.RoutingTable())
			} else {
				out = append(out, routing.Table{Algo: rt.Name()})
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// serveRouting runs op on every router `via` names, one after the other, and writes
// one result per router.
func (n *Node) serveRouting(w http.ResponseWriter, r *http.Request, input, via string,
	op func(context.Context, routing.Router, routing.Key) ([]peer.AddrInfo, routing.Trace, error)) {
	key, kind, err := ParseRoutingKey(input)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	routers, err := n.routersFor(via)
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), routingCallTimeout)
	defer cancel()
	resp := RoutingResponse{Input: input, KeyKind: kind, Key: key}
	for _, rt := range routers {
		peers, trace, err := op(ctx, rt, key)
		res := RoutingResult{Router: rt.Name(), Peers: peerRefs(peers), Trace: trace}
		if err != nil {
			res.Error = err.Error()
		}
		resp.Results = append(resp.Results, res)
	}
	writeJSON(w, http.StatusOK, resp)
}
