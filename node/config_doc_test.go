package node

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// updateDocs rewrites the generated part of docs/configuration.md instead of checking it:
// go test ./node/ -run TestConfigReference -update-docs
var updateDocs = flag.Bool("update-docs", false, "rewrite the generated part of docs/configuration.md")

const (
	configDocPath   = "../docs/configuration.md"
	configDocMarker = "<!-- Everything below is generated from node.Config by TestConfigReference; run `go test ./node/ -run TestConfigReference -update-docs` after changing a setting. -->"
)

// TestConfigReference keeps docs/configuration.md true: below its marker the page holds
// the config.json that `dhtnode init` writes (EncodeConfig of DefaultConfig) and one
// line per key with its doc comment from this package's source, both regenerated here
// and compared with the file.
func TestConfigReference(t *testing.T) {
	want, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(configDocPath)
	if err != nil {
		t.Fatal(err)
	}
	head, _, found := strings.Cut(string(page), configDocMarker)
	if !found {
		t.Fatalf("%s lacks the marker line %q", configDocPath, configDocMarker)
	}
	fresh := head + configDocMarker + "\n" + want
	if *updateDocs {
		if err := os.WriteFile(configDocPath, []byte(fresh), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if fresh != string(page) {
		t.Fatalf("%s is out of date with node.Config: run go test ./node/ -run TestConfigReference -update-docs", configDocPath)
	}
}

// configReference renders the default config.json and a table of every key.
func configReference() (string, error) {
	docs := map[string]string{}
	// The routers' sections are their own Config types, documented in their packages.
	for pkg, dir := range map[string]string{"node": ".", "chord": "../chord", "onehop": "../onehop", "kademlia": "../kademlia"} {
		if err := fieldDocs(dir, pkg, docs); err != nil {
			return "", err
		}
	}
	var js bytes.Buffer
	if err := EncodeConfig(&js, DefaultConfig()); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("\n## Defaults\n\n`dhtnode init` writes exactly this:\n\n```json\n")
	b.Write(js.Bytes())
	b.WriteString("```\n\n## Keys\n\n| key | default | meaning |\n|---|---|---|\n")
	var defaults map[string]any
	if err := json.Unmarshal(js.Bytes(), &defaults); err != nil {
		return "", err
	}
	if err := writeKeys(&b, reflect.TypeOf(Config{}), "", defaults, docs); err != nil {
		return "", err
	}
	return b.String(), nil
}

// writeKeys writes one table row per leaf key of struct type t, depth first in field order.
func writeKeys(b *strings.Builder, t reflect.Type, prefix string, values map[string]any, docs map[string]string) error {
	prev := ""
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		typeName := path.Base(t.PkgPath()) + "." + t.Name()
		doc := docs[typeName+"."+f.Name]
		if doc == "" {
			doc = prev // a field declared under its neighbour's comment ("A and B bound …")
		}
		if doc == "" {
			doc = docs[typeName] // fields documented only on their type
		}
		prev = doc
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)) {
			sub, _ := values[name].(map[string]any)
			if err := writeKeys(b, f.Type, key+".", sub, docs); err != nil {
				return err
			}
			continue
		}
		if doc == "" {
			return fmt.Errorf("%s.%s (config key %s) has no doc comment", typeName, f.Name, key)
		}
		def, err := json.Marshal(values[name])
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "| `%s` | `%s` | %s |\n", key, def, strings.ReplaceAll(doc, "|", `\|`))
	}
	return nil
}

// fieldDocs reads the doc comments of the struct types and their fields of package pkg
// from the non-test sources in dir into out: "pkg.Type" and "pkg.Type.Field" → text on
// one line.
func fieldDocs(dir, pkg string, out map[string]string) error {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.ParseComments)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	oneLine := func(g *ast.CommentGroup) string { return strings.Join(strings.Fields(g.Text()), " ") }
	for _, file := range files {
		{
			for _, decl := range file.Decls {
				gd, ok := decl.(*ast.GenDecl)
				if !ok || gd.Tok != token.TYPE {
					continue
				}
				for _, spec := range gd.Specs {
					ts := spec.(*ast.TypeSpec)
					st, ok := ts.Type.(*ast.StructType)
					if !ok {
						continue
					}
					doc := ts.Doc
					if doc == nil && len(gd.Specs) == 1 {
						doc = gd.Doc
					}
					if doc != nil {
						out[pkg+"."+ts.Name.Name] = oneLine(doc)
					}
					for _, f := range st.Fields.List {
						if f.Doc == nil && f.Comment == nil {
							continue
						}
						c := f.Doc
						if c == nil {
							c = f.Comment
						}
						for _, n := range f.Names {
							out[pkg+"."+ts.Name.Name+"."+n.Name] = oneLine(c)
						}
					}
				}
			}
		}
	}
	return nil
}
