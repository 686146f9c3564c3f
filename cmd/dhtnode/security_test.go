package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dhtnode/dhtnode/node"
)

// hostileUser is the unprivileged account the local-attacker test runs as.
const hostileUser = "dhtnode-hostile"

// asUser runs name args as the unprivileged user (setpriv, no supplementary groups)
// with a minimal environment, and returns stdout, stderr and the exit code.
func asUser(t *testing.T, u *user.User, env []string, name string, args ...string) (string, string, int) {
	t.Helper()
	full := append([]string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--clear-groups", "--", name}, args...)
	cmd := exec.Command("setpriv", full...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=/"}, env...)
	cmd.Dir = "/"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("setpriv %s: %v", name, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// lookupOrCreateUser returns the hostile account, creating it (no home, no shell).
func lookupOrCreateUser(t *testing.T) *user.User {
	t.Helper()
	if u, err := user.Lookup(hostileUser); err == nil {
		return u
	}
	out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", hostileUser).CombinedOutput()
	if err != nil {
		t.Skipf("cannot create user %s: %v %s", hostileUser, err, out)
	}
	u, err := user.Lookup(hostileUser)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// worldExecutable copies the test binary where another user can run it (the
// build directory is private to root).
func worldExecutable(t *testing.T, bin string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dhtnode-pub-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst := filepath.Join(dir, "dhtnode")
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestLocalUserCannotUseRootDaemon: a daemon run by root, and an unprivileged user
// on the same machine who knows its API address. The user can neither read the
// token, nor add /etc/shadow, nor cat content the daemon holds, nor make the daemon
// write a file where only root may write; the repo's owner can do all of it.
func TestLocalUserCannotUseRootDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: it starts a root daemon and attacks it as another Unix user")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("needs curl for the raw HTTP attacks")
	}
	u := lookupOrCreateUser(t)
	bin := worldExecutable(t, dhtnodeBin(t))

	root := t.TempDir() // 0700, root's
	repo := filepath.Join(root, "repo")
	initRepo(t, repo, func(c *node.Config) { c.Content.NoSync = true })
	d := startDaemon(t, repo)
	api := d.id().APIAddr

	// Something private the daemon holds, added by its owner.
	secret := filepath.Join(root, "secret.txt")
	const secretText = "the owner's secret\n"
	if err := os.WriteFile(secret, []byte(secretText), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cli(t, repo, "add", "-q", secret)
	if code != 0 {
		t.Fatalf("owner add: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	// The positive control: the owner reads it back.
	if out, errOut, code := cli(t, repo, "cat", id); code != 0 || out != secretText {
		t.Fatalf("owner cat: %d %q %s", code, out, errOut)
	}

	env := []string{"DHTNODE_PATH=" + repo}
	// The token file is out of reach.
	if _, _, code := asUser(t, u, nil, "cat", filepath.Join(repo, node.TokenFile)); code == 0 {
		t.Fatal("the unprivileged user read the API token")
	}
	// Through the CLI: refused, with a one-line reason.
	for _, args := range [][]string{{"add", "/etc/shadow"}, {"cat", id}, {"get", id, "-o", filepath.Join(root, "pwned-cli")}, {"shutdown"}} {
		out, errOut, code := asUser(t, u, env, bin, append([]string{"--api", api}, args...)...)
		if code == 0 || strings.Contains(out, secretText) || !strings.Contains(errOut, "refused") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("as %s: dhtnode %v: %d %q %q; want a one-line refusal", hostileUser, args, code, out, errOut)
		}
	}
	// Raw HTTP, with no token and with a guessed one.
	base := "http://" + api + "/api/v1/"
	outside := filepath.Join(root, "pwned-http")
	for _, hdr := range []string{"X-None: 1", "Authorization: Bearer " + strings.Repeat("0", 64)} {
		for _, req := range [][]string{
			{"-X", "POST", "-d", `{"path":"/etc/shadow"}`, base + "content/add"},
			{base + "content/cat?id=" + id},
			{"-X", "POST", "-d", `{"id":"` + id + `","output":"` + outside + `"}`, base + "content/get"},
			{"http://" + api + "/debug/pprof/cmdline"},
		} {
			args := append([]string{"-s", "-H", hdr, "-w", "\n%{http_code}"}, req...)
			out, _, _ := asUser(t, u, nil, curl, args...)
			if !strings.HasSuffix(out, "\n401") || strings.Contains(out, secretText) || strings.Contains(out, "root:") {
				t.Errorf("as %s: curl %v: %q; want 401 and nothing else", hostileUser, req, out)
			}
		}
	}
	if _, err := os.Stat(outside); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the daemon wrote %s for the unprivileged user: %v", outside, err)
	}
	if _, err := os.Stat(filepath.Join(root, "pwned-cli")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the daemon wrote pwned-cli for the unprivileged user: %v", err)
	}
	// Nothing but the owner's content is in the store.
	if out, _, code := cli(t, repo, "ls"); code != 0 || strings.Contains(out, "shadow") {
		t.Errorf("store after the attacks: %d %s", code, out)
	}
	select {
	case <-d.exited:
		t.Fatal("the unprivileged user stopped the daemon")
	default:
	}
}
