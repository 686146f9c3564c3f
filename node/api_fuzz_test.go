package node

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/dhtnode/dhtnode/client"
)

// FuzzDecodeBody feeds arbitrary bytes to the API's request decoder for every
// request type: it must never panic, and whatever it accepts must survive a round
// trip (encode, decode again, encode to the same bytes; omitempty makes [] and an
// absent list one value), so no input decodes to something the encoder cannot say.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"path":"/etc/shadow","recursive":true}`, `{"id":"bafy","output":"/tmp/x","from":["/ip4/127.0.0.1/tcp/1/p2p/x"]}`,
		`{"addrs":["127.0.0.1:1"]}`, `{"key":"k","via":"all"}`, `null x`, `{} {}`, `[]`, `"x"`, ``, `{"id":1}`,
		`{"path":"\u0000"}`, `{"piece_size":-1}`, `{"piece_size":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mk := range []func() any{
			func() any { return new(client.AddRequest) }, func() any { return new(client.GetRequest) },
			func() any { return new(client.IDRequest) }, func() any { return new(client.JoinRequest) },
			func() any { return new(client.ProvideRequest) },
		} {
			v := mk()
			if err := decodeBody(bytes.NewReader(data), v); err != nil {
				continue
			}
			enc, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("accepted %q but cannot encode %#v: %v", data, v, err)
			}
			w := mk()
			if err := decodeBody(bytes.NewReader(enc), w); err != nil {
				t.Fatalf("accepted %q, re-encoded as %s, then refused: %v", data, enc, err)
			}
			enc2, _ := json.Marshal(w)
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("round trip of %q: %s != %s", data, enc, enc2)
			}
		}
	})
}

// FuzzLoginNext: whatever next a login is given, it redirects only to a path on
// this server.
func FuzzLoginNext(f *testing.F) {
	for _, s := range []string{"/webui/", "//evil", "/\\evil", "https://evil/", "/\t/evil", "/a?b=//c", "", "webui", "/%2F/evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got, ok := loginNext(next)
		if !ok {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("loginNext(%q) = %q would leave the server", next, got)
		}
		// Resolved against the server as a browser does, it stays on the server.
		base, _ := url.Parse("http://127.0.0.1:5001/login")
		if r := base.ResolveReference(u); r.Host != base.Host {
			t.Fatalf("loginNext(%q) = %q resolves to host %q", next, got, r.Host)
		}
	})
}
