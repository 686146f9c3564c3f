package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/dhtnode/dhtnode/node"
	"github.com/spf13/cobra"
)

// EnvAPI overrides the API address the client commands use.
const EnvAPI = "DHTNODE_API"

// globals are the root's persistent flags, shared by every command.
type globals struct {
	repo string
	api  string
}

// repoPath is --repo, else $DHTNODE_PATH, else ~/.dhtnode.
func (g *globals) repoPath() (string, error) {
	if g.repo != "" {
		return g.repo, nil
	}
	return node.DefaultRepoPath()
}

// client finds the running daemon's API: --api, else $DHTNODE_API, else the address
// the daemon wrote into the repo; it sends the repo's API token (the daemon refuses
// calls without it). The error says plainly when no daemon is running.
func (g *globals) client() (*daemonClient, error) {
	addr, where := g.api, "at "+g.api
	fromRepo := false
	if addr == "" {
		if env := os.Getenv(EnvAPI); env != "" {
			addr, where = env, "at "+env+" ($"+EnvAPI+")"
		}
	}
	path, err := g.repoPath()
	if err != nil && addr == "" {
		return nil, err
	}
	if addr == "" {
		addr, err = client.ReadAPIAddr(path)
		if errors.Is(err, client.ErrNoAPIFile) {
			return nil, noDaemon("for repo " + path)
		}
		if err != nil {
			return nil, err
		}
		where, fromRepo = "for repo "+path, true
	}
	// Without a readable token the call still goes out: the daemon's 401 then
	// explains itself, with the reason the token could not be read (check).
	tok, tokErr := "", err
	if tokErr == nil {
		tok, tokErr = client.ReadToken(path)
	}
	opts := []client.Option{client.WithToken(tok)}
	if fromRepo {
		// The daemon that wrote the API file serves the repo's socket too.
		opts = append(opts, client.WithSocket(filepath.Join(path, client.SocketFile)))
	}
	return &daemonClient{Client: client.New(addr, opts...), where: where, tokenErr: tokErr}, nil
}

func noDaemon(where string) error {
	return fmt.Errorf("no daemon running %s (is `dhtnode daemon` started?)", where)
}

// daemonClient is client.Client with the CLI's error wording.
type daemonClient struct {
	*client.Client
	where    string
	tokenErr error // why the repo's token could not be read, if it could not
}

// check turns a client error into the CLI's one-line message.
func (c *daemonClient) check(err error) error {
	if errors.Is(err, client.ErrNoDaemon) {
		return noDaemon(c.where)
	}
	if errors.Is(err, client.ErrUnauthorized) && c.tokenErr != nil {
		return fmt.Errorf("the daemon %s refused the call: no API token (%v); use the repo of the user who runs the daemon", c.where, c.tokenErr)
	}
	return err
}

// callCtx bounds one client call. Joins can take memberlist's TCP timeout per address.
func callCtx(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), d)
}

// callDaemon runs one call against the running daemon: it finds the daemon's API,
// bounds the call by timeout and turns the call's error into the CLI's message (no
// daemon running, with where it looked). call takes the client first so that a method
// expression such as (*client.Client).Leave is a call.
func callDaemon(cmd *cobra.Command, g *globals, timeout time.Duration, call func(c *client.Client, ctx context.Context) error) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	ctx, cancel := callCtx(cmd, timeout)
	defer cancel()
	return c.check(call(c.Client, ctx))
}

// queryAndPrint is the shape of every read-only --format command: it checks format,
// runs query against the daemon (see callDaemon) and prints the answer to stdout as
// indented JSON, or with printText for --format text. It returns the answer too, for
// commands whose exit status depends on it (a router's failure, corrupt pieces).
func queryAndPrint[T any](cmd *cobra.Command, g *globals, format string, timeout time.Duration,
	query func(c *client.Client, ctx context.Context) (T, error), printText func(w io.Writer, answer T) error) (T, error) {
	var answer T
	if err := checkFormat(format); err != nil {
		return answer, err
	}
	err := callDaemon(cmd, g, timeout, func(c *client.Client, ctx context.Context) error {
		var err error
		answer, err = query(c, ctx)
		return err
	})
	if err != nil {
		return answer, err
	}
	if done, err := printStructured(cmd.OutOrStdout(), format, answer); done {
		return answer, err
	}
	return answer, printText(cmd.OutOrStdout(), answer)
}

// printStructured prints v for --format json or a template and reports whether
// it did; for text the command prints its own layout.
func printStructured(w io.Writer, format string, v any) (bool, error) {
	switch {
	case format == "json":
		return true, printJSON(w, v)
	case isTemplateFormat(format):
		return true, printTemplate(w, format, v)
	}
	return false, nil
}

// addFormatFlag adds --format text|json|TEMPLATE to cmd.
func addFormatFlag(cmd *cobra.Command, format *string) {
	cmd.Flags().StringVar(format, "format", "text",
		"output format: text, json, or a Go template over the JSON answer's Go fields, e.g. '{{.GossipAddr}}'")
}

// isTemplateFormat tells a Go template (docker's and kubectl's --format) from
// the named formats, so scripts can pick one field without a JSON tool.
func isTemplateFormat(format string) bool { return strings.Contains(format, "{{") }

func checkFormat(format string) error {
	if isTemplateFormat(format) {
		_, err := template.New("format").Parse(format)
		if err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		return nil
	}
	if format != "text" && format != "json" {
		return fmt.Errorf("unknown --format %q (want text, json or a Go template such as '{{.PeerID}}')", format)
	}
	return nil
}

// printTemplate executes format on v and ends the output with a newline, as
// docker inspect --format does.
func printTemplate(w io.Writer, format string, v any) error {
	tmpl, err := template.New("format").Option("missingkey=error").Parse(format)
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, v); err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	if !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
		out.WriteByte('\n')
	}
	_, err = w.Write(out.Bytes())
	return err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
