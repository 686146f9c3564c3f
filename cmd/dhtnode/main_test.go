package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dhtnode/dhtnode/node"
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestHelpDocumentsExitStatus(t *testing.T) {
	out, _, code := runCLI(t, "--help")
	if code != 0 || !strings.Contains(out, "Exit status: 0 on success, 1 on failure") {
		t.Errorf("help (code %d) lacks the exit status:\n%s", code, out)
	}
	for _, c := range []string{"init", "daemon", "id", "members", "join", "leave", "shutdown", "version"} {
		if !strings.Contains(out, "  "+c+" ") {
			t.Errorf("help does not list %q", c)
		}
	}
}

func TestUsageErrorsExitOne(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "r")
	for _, args := range [][]string{
		{"frobnicate"},
		{"members", "--format", "xml"},
		{"members", "extra-arg"},
		{"join"},
		{"daemon", "--no-such-flag"},
	} {
		_, errOut, code := runCLI(t, append([]string{"--repo", repo}, args...)...)
		if code != 1 || !strings.HasPrefix(errOut, "dhtnode: ") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: code %d, stderr %q; want 1 and one line", args, code, errOut)
		}
	}
}

func TestInitTwice(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "r")
	out, _, code := runCLI(t, "--repo", repo, "init")
	if code != 0 || !strings.Contains(out, "peer id: 12D3KooW") {
		t.Fatalf("init: %d %q", code, out)
	}
	_, errOut, code := runCLI(t, "--repo", repo, "init")
	if code != 1 || !strings.Contains(errOut, "already initialised") {
		t.Errorf("second init: %d %q", code, errOut)
	}
	if _, err := node.OpenRepo(repo); err != nil {
		t.Error(err)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "dhtnode "+node.ReleaseVersion) {
		t.Errorf("version: %d %q", code, out)
	}
}
