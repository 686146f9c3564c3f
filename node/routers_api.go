package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/dhtnode/dhtnode/client"
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

// ParseRoutingKey reads a key as users type it, and says how it read it:
//   - 64 hexadecimal digits are the key itself (client.KeyKindHex);
//   - a CID, such as a dhtnode content ID ("bagaaiera..."), is its sha2-256 digest
//     (content.ID.Key, where add announces content); a CID with another hash function
//     is hashed from its binary form, routing.ContentKey(cid.Bytes()) (client.KeyKindCID);
//   - any other string is hashed as text, routing.ContentKey([]byte(s)) (client.KeyKindString).
func ParseRoutingKey(s string) (routing.Key, string, error) {
	if s == "" {
		return routing.Key{}, "", errors.New("empty key")
	}
	if len(s) == 2*routing.KeyLen {
		if _, err := hex.DecodeString(s); err == nil {
			k, err := routing.ParseKey(s)
			return k, client.KeyKindHex, err
		}
	}
	if c, err := cid.Decode(s); err == nil {
		if dec, err := multihash.Decode(c.Hash()); err == nil && dec.Code == multihash.SHA2_256 && len(dec.Digest) == routing.KeyLen {
			return routing.Key(dec.Digest), client.KeyKindCID, nil
		}
		return routing.ContentKey(c.Bytes()), client.KeyKindCID, nil
	}
	return routing.ContentKey([]byte(s)), client.KeyKindString, nil
}

func peerRefs(infos []peer.AddrInfo) []client.PeerRef {
	out := make([]client.PeerRef, 0, len(infos))
	for _, ai := range infos {
		ref := client.PeerRef{PeerID: ai.ID.String(), Key: routing.PeerKey(ai.ID)}
		for _, a := range ai.Addrs {
			ref.Addrs = append(ref.Addrs, a.String())
		}
		out = append(out, ref)
	}
	return out
}

func registerRoutingAPI(n *Node, mux *http.ServeMux) {
	mux.HandleFunc("GET "+client.APIPrefix+"routing/routers", func(w http.ResponseWriter, r *http.Request) {
		out := []client.RouterInfo{}
		for _, name := range n.routers.order {
			out = append(out, client.RouterInfo{Name: name, Default: name == n.routers.def})
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET "+client.APIPrefix+"routing/lookup", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n.serveRouting(w, r, q.Get("key"), q.Get("via"), func(ctx context.Context, rt routing.Router, key routing.Key) ([]peer.AddrInfo, routing.Trace, error) {
			return rt.Lookup(ctx, key)
		})
	})
	mux.HandleFunc("GET "+client.APIPrefix+"routing/findprovs", func(w http.ResponseWriter, r *http.Request) {
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
	mux.HandleFunc("POST "+client.APIPrefix+"routing/provide", func(w http.ResponseWriter, r *http.Request) {
		var req client.ProvideRequest
		if !decodeJSON(w, r, &req) {
			return
		}
		n.serveRouting(w, r, req.Key, req.Via, func(ctx context.Context, rt routing.Router, key routing.Key) ([]peer.AddrInfo, routing.Trace, error) {
			trace, err := rt.Provide(ctx, key)
			return nil, trace, err
		})
	})
	mux.HandleFunc("GET "+client.APIPrefix+"routing/table", func(w http.ResponseWriter, r *http.Request) {
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
	resp := client.RoutingResponse{Input: input, KeyKind: kind, Key: key}
	for _, rt := range routers {
		peers, trace, err := op(ctx, rt, key)
		res := client.RoutingResult{Router: rt.Name(), Peers: peerRefs(peers), Trace: trace}
		if err != nil {
			res.Error = err.Error()
		}
		resp.Results = append(resp.Results, res)
	}
	writeJSON(w, http.StatusOK, resp)
}
