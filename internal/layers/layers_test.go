package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/dhtnode/dhtnode"

// allowed lists, for each package of the module (by path below the module, a trailing
// "/..." covering its subpackages), the module packages its non-test files may import.
// A package missing here fails the test: a new package takes a place in the layers
// (and in DESIGN.md) before it is used.
var allowed = map[string][]string{
	// The CLI talks to a daemon through client and runs nodes through node; routing
	// and content are the vocabulary it prints (keys, traces, content IDs; `add -n`
	// hashes a file without a daemon); webui serves the browser UI.
	"cmd/...": {"node", "compare", "client", "routing", "content", "webui"},
	// Examples are programs of a library user: anything but the CLI.
	"examples/...": {"node", "compare", "client", "routing", "content", "merkle", "gossip", "chord", "kademlia", "onehop", "exchange", "blockstore"},

	// internal/memhost is compare's in-memory libp2p host: libp2p only, no module
	// package, so the routers on it stay unaware of it.
	"compare": {"node", "setting", "chord", "kademlia", "onehop", "gossip", "membership", "routing", "content", "internal/memhost"},
	// internal/p2pgossip is gossip's libp2p transport: memberlist and libp2p only,
	// no module package, so it sits beside gossip below node.
	// internal/fdconn passes a cat's output file over the API's Unix socket: the
	// standard library only, used by both ends of the API.
	"node": {"gossip", "membership", "setting", "chord", "kademlia", "onehop", "exchange", "blockstore", "content", "merkle", "routing", "client", "webui", "internal/p2pgossip", "internal/fdconn"},
	// The API's wire types are the client's own, not exchange's or node's.
	"client": {"content", "routing", "internal/fdconn"},
	"webui":  {"client", "content", "routing"},

	// The routers stand alone: never each other, never node.
	"chord":           {"routing", "setting"},
	"chord/chordtest": {"chord", "routing", "setting"},
	"kademlia":        {"routing", "setting"},
	"onehop":          {"routing", "setting"},

	// membership turns gossip's events into routing's listener calls, for node and
	// compare alike; it knows no router.
	"membership": {"gossip", "routing"},

	"exchange":   {"blockstore", "content", "merkle", "routing"},
	"blockstore": {"content", "merkle"},
	"content":    {"merkle", "routing"},

	"merkle":  {},
	"routing": {},
	"gossip":  {},
	// setting is the Config structs' shared value types, standard library only.
	"setting": {},

	"internal/...": {},
}

// routers may not see each other or node even from their tests.
var routers = []string{"chord", "kademlia", "onehop"}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func TestImportsFollowLayers(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages; is the test run inside the module?", len(pkgs))
	}
	for _, p := range pkgs {
		rel := relative(p.ImportPath)
		rule, ok := ruleFor(rel)
		if !ok {
			t.Errorf("package %s has no place in the layers: add it to DESIGN.md and to allowed in this test", rel)
			continue
		}
		for _, imp := range internalImports(p.Imports) {
			if imp == rel || strings.HasPrefix(rel, imp+"/") {
				continue
			}
			if !slices.Contains(rule, imp) && !slices.Contains(rule, topOf(imp)) {
				t.Errorf("%s imports %s; its layer allows only %v", rel, imp, rule)
			}
		}
		for _, r := range routers {
			if rel != r && !strings.HasPrefix(rel, r+"/") {
				continue
			}
			for _, imp := range internalImports(slices.Concat(p.Imports, p.TestImports, p.XTestImports)) {
				if top := topOf(imp); top != r && (top == "node" || slices.Contains(routers, top)) {
					t.Errorf("%s (or its tests) imports %s: a router never depends on another router or on node", rel, imp)
				}
			}
		}
	}
}

// TestRuleCatchesUpwardImport makes sure the check bites: a router importing node
// and the CLI importing a router directly are both reported.
func TestRuleCatchesUpwardImport(t *testing.T) {
	for _, c := range []struct{ from, to string }{{"chord", "node"}, {"cmd/dhtnode", "kademlia"}, {"merkle", "routing"}} {
		rule, ok := ruleFor(c.from)
		if !ok {
			t.Fatalf("no rule for %s", c.from)
		}
		if slices.Contains(rule, c.to) {
			t.Errorf("rule for %s allows %s", c.from, c.to)
		}
	}
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// ruleFor finds the allowed imports of a package: its own entry, else the nearest
// "parent/..." entry.
func ruleFor(rel string) ([]string, bool) {
	if r, ok := allowed[rel]; ok {
		return r, true
	}
	for dir := rel; ; {
		if r, ok := allowed[dir+"/..."]; ok {
			return r, true
		}
		i := strings.LastIndexByte(dir, '/')
		if i < 0 {
			return nil, false
		}
		dir = dir[:i]
	}
}

func relative(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}

func internalImports(imps []string) []string {
	var out []string
	for _, imp := range imps {
		if imp == module || strings.HasPrefix(imp, module+"/") {
			out = append(out, relative(imp))
		}
	}
	return out
}

func topOf(rel string) string {
	top, _, _ := strings.Cut(rel, "/")
	return top
}
