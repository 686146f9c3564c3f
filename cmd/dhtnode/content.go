package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/dhtnode/dhtnode/content"
)

// contentCommands are the content commands: add, get, cat, info, ls, pin, repo.
func contentCommands(g *globals) []*cobra.Command {
	cmds := []*cobra.Command{
		newAddCmd(g), newGetCmd(g), newCatCmd(g), newInfoCmd(g), newLsCmd(g), newPinCmd(g), newRepoCmd(g),
	}
	return cmds
}

// longCall bounds operations that move content: they end when the user interrupts.
const longCall = 7 * 24 * time.Hour

// stderrBar returns a byte progress bar on stderr when stderr is a terminal and quiet is
// off, else nil.
func stderrBar(cmd *cobra.Command, quiet bool, total int64, desc string) *progressbar.ProgressBar {
	f, ok := cmd.ErrOrStderr().(*os.File)
	if quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
	)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func newAddCmd(g *globals) *cobra.Command {
	var recursive, quiet, pin, onlyHash, link bool
	var pieceSize int64
	var format string
	cmd := &cobra.Command{
		Use: "add PATH",
		Example: `  dhtnode add photo.jpg                 # store, pin, announce; prints "added ID photo.jpg"
  ID=$(dhtnode add -q photo.jpg)        # only the ID, for scripts
  dhtnode add -r ./album                # a directory
  dhtnode add -n photo.jpg              # compute the ID only: stores nothing, needs no daemon`,
		Short: "Add a file or directory (-r) to the store and print its content ID",
		Long: `Add reads PATH once, hashes it into a BEP 52 Merkle tree, stores its pieces and
manifest, pins it and announces it through the router (when one runs), then prints
"added ID NAME" (-q: only the ID). With -n it only computes and prints the ID, storing
nothing and needing no daemon. With --link it stores no copy: the daemon serves the file
from where it is, verifying every read, so editing or moving it stops that (repo verify
says which pieces). A progress bar is drawn on stderr when it is a terminal.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			path, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			progress := func(p content.AddProgress) {
				if bar == nil {
					if bar = stderrBar(cmd, quiet, p.Total, "adding"); bar == nil {
						return
					}
				}
				_ = bar.Set64(p.Bytes)
			}
			defer func() {
				if bar != nil {
					_ = bar.Finish()
				}
			}()
			var res client.AddResult
			if onlyHash {
				res, err = hashOnly(cmd, path, recursive, pieceSize, progress)
			} else {
				req := client.AddRequest{Path: path, Recursive: recursive, NoPin: !pin, PieceSize: pieceSize, Link: link}
				err = callDaemon(cmd, g, longCall, func(c *client.Client, ctx context.Context) (err error) {
					res, err = c.Add(ctx, req, progress)
					return err
				})
			}
			if err != nil {
				return err
			}
			if bar != nil {
				_ = bar.Finish()
				bar = nil
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, format, res); done {
				return err
			}
			switch {
			case quiet:
				fmt.Fprintln(w, res.ID)
			default:
				fmt.Fprintf(w, "added %s %s\n", res.ID, res.Name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "add a directory and everything in it")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the content ID, no progress")
	cmd.Flags().BoolVar(&pin, "pin", true, "pin the content (--pin=false lets repo gc remove it)")
	cmd.Flags().BoolVar(&link, "link", false, "store no copy: serve the file from where it is, verifying every read (editing or moving it stops that; repo verify reports it)")
	cmd.Flags().BoolVarP(&onlyHash, "only-hash", "n", false, "only compute and print the ID; store nothing (no daemon needed)")
	cmd.Flags().Int64Var(&pieceSize, "piece-size", 0, "piece size in bytes, a power of two ≥ 16384 (default: the daemon's content.piece_size; 256 KiB with -n)")
	addFormatFlag(cmd, &format)
	return cmd
}

// hashOnly is add -n: computed in this process, no daemon involved.
func hashOnly(cmd *cobra.Command, path string, recursive bool, pieceSize int64, progress func(content.AddProgress)) (client.AddResult, error) {
	start := time.Now()
	res, err := content.Add(cmd.Context(), path, content.AddOptions{Recursive: recursive, PieceSize: pieceSize, Progress: progress})
	if errors.Is(err, content.ErrIsDir) {
		return client.AddResult{}, fmt.Errorf("%w (add it with -r)", err)
	}
	if err != nil {
		return client.AddResult{}, err
	}
	m := res.Manifest
	return client.AddResult{ID: res.ID.String(), Name: m.Name, Kind: string(m.Kind), Size: m.Size, Files: len(m.Files),
		Pieces: m.NumPieces(), PieceSize: m.PieceSize, Elapsed: time.Since(start).Seconds()}, nil
}

func newGetCmd(g *globals) *cobra.Command {
	var output, format string
	var from []string
	var via string
	var quiet bool
	cmd := &cobra.Command{
		Use: "get ID",
		Example: `  dhtnode get bagaaiera...              # writes ./NAME; providers from the router
  dhtnode get bagaaiera... -o /tmp/photo.jpg
  dhtnode get bagaaiera... --from /ip4/10.0.0.1/tcp/4101/p2p/12D3KooW...   # from a named peer`,
		Short: "Fetch content by ID from providers, verifying every piece, and write it out",
		Long: `Get fetches the content's manifest and pieces from several providers at once,
verifies each piece against the Merkle root as it arrives, and writes the file or
directory to -o PATH (default: its name in the current directory). The output appears
only when complete; until then it is assembled in .NAME.dhtnode-partial beside it.
Pieces already here (in the store, or in that partial file from an interrupted get to
the same PATH) are verified and not fetched again. The node keeps no second copy: it
serves the content from the output (info shows where), so moving or editing the output
stops that. Providers: --from MULTIADDR (repeatable, ending in /p2p/PEERID), else the
routers' (the default router first, then the others; --via R asks one). A progress bar with rate and ETA is drawn on stderr when it is a
terminal.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			req := client.GetRequest{ID: args[0], From: from, Via: via}
			if output != "" {
				abs, err := filepath.Abs(output)
				if err != nil {
					return err
				}
				if st, err := os.Stat(abs); err == nil && st.IsDir() {
					req.OutputDir = abs // -o DIR: the content goes inside, under its own name
				} else {
					req.Output = abs
				}
			} else {
				wd, err := os.Getwd()
				if err != nil {
					return err
				}
				req.OutputDir = wd
			}
			// Ctrl-C ends the request; the daemon stops the download and keeps what it
			// verified. Say so instead of dying silently.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cmd.SetContext(ctx)
			var last client.GetProgress
			var bar *progressbar.ProgressBar
			progress := func(p client.GetProgress) {
				last = p
				if bar == nil {
					if bar = stderrBar(cmd, quiet, p.Total, "get "+p.Name); bar == nil {
						return
					}
				}
				bar.Describe(fmt.Sprintf("get %s (%d peers)", p.Name, p.Peers))
				_ = bar.Set64(p.Bytes)
			}
			var res client.GetResult
			err := callDaemon(cmd, g, longCall, func(c *client.Client, ctx context.Context) (err error) {
				res, err = c.Get(ctx, req, progress)
				return err
			})
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil && ctx.Err() != nil {
				if last.TotalPieces == 0 {
					return errors.New("get interrupted before any piece arrived")
				}
				return fmt.Errorf("get interrupted with at least %d of %d pieces verified and kept: run the same get again to resume", last.Pieces, last.TotalPieces)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if done, err := printStructured(w, format, res); done {
				return err
			}
			rate := float64(res.Size) / max(res.Elapsed, 1e-9) / 1e6
			if !quiet {
				fmt.Fprintf(cmd.ErrOrStderr(), "fetched %s in %.1fs (%.0f MB/s) from %d %s, %d of %d pieces already here\n",
					humanBytes(res.Size), res.Elapsed, rate, len(res.Fetched), plural(len(res.Fetched), "provider", "providers"), res.Resumed, res.Pieces)
			}
			fmt.Fprintf(w, "saved %s\n", res.Output)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "where to write the file or directory; an existing directory gets DIR/NAME (default: ./NAME)")
	cmd.Flags().StringArrayVar(&from, "from", nil, "provider multiaddr ending in /p2p/PEERID (repeatable; default: ask the routers)")
	cmd.Flags().StringVar(&via, "via", "", "router to search for providers: chord, kademlia, onehop or all (default: the default router, then the others)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress or summary on stderr")
	addFormatFlag(cmd, &format)
	return cmd
}

func newCatCmd(g *globals) *cobra.Command {
	var from []string
	var via string
	cmd := &cobra.Command{
		Use: "cat ID",
		Example: `  dhtnode cat bagaaiera... > photo.jpg
  dhtnode cat bagaaiera... | sha256sum`,
		Short: "Write a file's content to stdout, verifying every piece",
		Long: `Cat streams a single-file content to stdout; every piece is verified as it is
read. Content not stored locally is fetched first (--from MULTIADDR, else the routers).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return callDaemon(cmd, g, longCall, func(c *client.Client, ctx context.Context) error {
				_, err := c.Cat(ctx, args[0], from, via, cmd.OutOrStdout())
				return err
			})
		},
	}
	cmd.Flags().StringArrayVar(&from, "from", nil, "provider multiaddr ending in /p2p/PEERID (repeatable)")
	cmd.Flags().StringVar(&via, "via", "", "router to search for providers: chord, kademlia, onehop or all (default: the default router, then the others)")
	return cmd
}

func newInfoCmd(g *globals) *cobra.Command {
	var from []string
	var via string
	var format string
	cmd := &cobra.Command{
		Use: "info ID",
		Example: `  dhtnode info bagaaiera...             # from the local store, else asks a provider
  dhtnode info bagaaiera... --format json`,
		Short: "Show a content's manifest: name, size, piece size, Merkle roots, pieces held",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := queryAndPrint(cmd, g, format, 2*time.Minute,
				func(c *client.Client, ctx context.Context) (client.ContentInfo, error) {
					return c.Info(ctx, args[0], from, via)
				},
				printContentInfo)
			return err
		},
	}
	cmd.Flags().StringArrayVar(&from, "from", nil, "provider multiaddr to fetch the manifest from (repeatable)")
	cmd.Flags().StringVar(&via, "via", "", "router to search for providers: chord, kademlia, onehop or all (default: the default router, then the others)")
	addFormatFlag(cmd, &format)
	return cmd
}

// printContentInfo is info's text output: the manifest, then a row per file.
func printContentInfo(w io.Writer, info client.ContentInfo) error {
	fmt.Fprintf(w, "id:          %s\n", info.ID)
	fmt.Fprintf(w, "name:        %s\n", info.Name)
	fmt.Fprintf(w, "kind:        %s\n", info.Kind)
	fmt.Fprintf(w, "size:        %d (%s)\n", info.Size, humanBytes(info.Size))
	fmt.Fprintf(w, "piece size:  %d\n", info.PieceSize)
	fmt.Fprintf(w, "pieces held: %d of %d\n", info.Have, info.Pieces)
	fmt.Fprintf(w, "pinned:      %v\n", info.Pinned)
	if info.Linked != "" {
		// The store holds no copy of linked content, so say where the bytes are and what
		// loses them.
		fmt.Fprintf(w, "data:        %s (linked: a get's output; moving or editing it stops serving it)\n", info.Linked)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tSIZE\tPIECES\tHELD\tMERKLE ROOT")
	for _, f := range info.Files {
		root := f.Root
		if root == "" {
			root = "(empty file)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", f.Path, f.Size, f.Pieces, f.Have, root)
	}
	return tw.Flush()
}

func newLsCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List local content (complete and partial downloads)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := queryAndPrint(cmd, g, format, time.Minute, (*client.Client).List, printContentList)
			return err
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// printContentList is ls's text output: a row per content, partial ones with the
// pieces held, and where the data is: "store" (piece files) or the get output it is
// linked to. DATA is last because a path can be long.
func printContentList(w io.Writer, list []client.ListEntry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tSIZE\tHELD\tPINNED\tDATA")
	for _, e := range list {
		held := "complete"
		if !e.Complete {
			held = fmt.Sprintf("%d/%d", e.Have, e.Pieces)
		}
		data := "store"
		if e.Linked != "" {
			data = e.Linked
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\n", e.ID, e.Name, e.Kind, humanBytes(e.Size), held, e.Pinned, data)
	}
	return tw.Flush()
}

func newPinCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use: "pin",
		Example: `  dhtnode pin add bagaaiera...          # keep it through repo gc, fetching it if needed
  dhtnode pin rm bagaaiera... && dhtnode repo gc
  dhtnode pin ls`,
		Short: "Pin, unpin and list pinned content (pinned content survives repo gc)",
	}
	var from []string
	var via string
	simple := func(use, short, done string, call func(*client.Client, *cobra.Command, string) error) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ID...",
			Short: short,
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := g.client()
				if err != nil {
					return err
				}
				for _, id := range args {
					if err := call(c.Client, cmd, id); err != nil {
						return c.check(err)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", done, id)
				}
				return nil
			},
		}
	}
	add := simple("add", "Pin content, fetching it first if it is not complete locally", "pinned", func(c *client.Client, cmd *cobra.Command, id string) error {
		ctx, cancel := callCtx(cmd, longCall)
		defer cancel()
		return c.Pin(ctx, id, from, via)
	})
	add.Flags().StringArrayVar(&from, "from", nil, "provider multiaddr ending in /p2p/PEERID (repeatable; default: ask the routers)")
	add.Flags().StringVar(&via, "via", "", "router to search for providers: chord, kademlia, onehop or all (default: the default router, then the others)")
	cmd.AddCommand(add)
	cmd.AddCommand(simple("rm", "Unpin content (repo gc may then remove it)", "unpinned", func(c *client.Client, cmd *cobra.Command, id string) error {
		ctx, cancel := callCtx(cmd, time.Minute)
		defer cancel()
		return c.Unpin(ctx, id)
	}))
	var format string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List pinned content IDs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := queryAndPrint(cmd, g, format, time.Minute, (*client.Client).Pins, func(w io.Writer, pins []string) error {
				for _, p := range pins {
					fmt.Fprintln(w, p)
				}
				return nil
			})
			return err
		},
	}
	addFormatFlag(ls, &format)
	cmd.AddCommand(ls)
	return cmd
}

func newRepoCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use: "repo",
		Example: `  dhtnode repo stat                     # what the store holds
  dhtnode repo gc                       # remove unpinned content and unused pieces
  dhtnode repo verify                   # rehash every piece; exit 1 if any is corrupt`,
		Short: "Maintain the blockstore: gc, stat, verify",
	}
	// sub is a repo subcommand with --format whose run is given the format.
	sub := func(use, short string, run func(cmd *cobra.Command, format string) error) *cobra.Command {
		var format string
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, args []string) error { return run(cmd, format) },
		}
		addFormatFlag(c, &format)
		return c
	}
	cmd.AddCommand(sub("gc", "Remove unpinned content and the pieces no pinned content uses",
		func(cmd *cobra.Command, format string) error {
			_, err := queryAndPrint(cmd, g, format, longCall, (*client.Client).RepoGC, func(w io.Writer, r client.GCReport) error {
				fmt.Fprintf(w, "removed %d contents, %d pieces, %s\n", r.RemovedContents, r.RemovedPieces, humanBytes(r.RemovedBytes))
				return nil
			})
			return err
		}))
	cmd.AddCommand(sub("stat", "Show what the blockstore holds",
		func(cmd *cobra.Command, format string) error {
			_, err := queryAndPrint(cmd, g, format, longCall, (*client.Client).RepoStat, printRepoStat)
			return err
		}))
	cmd.AddCommand(sub("verify", "Rehash every stored and linked piece; quarantine corrupt piece files (exit 1 if any)",
		func(cmd *cobra.Command, format string) error {
			r, err := queryAndPrint(cmd, g, format, longCall, (*client.Client).RepoVerify, printVerifyReport)
			if err != nil {
				return err
			}
			if len(r.Corrupt) > 0 {
				return &exitError{code: 1, err: fmt.Errorf("repo verify: %d corrupt pieces", len(r.Corrupt))}
			}
			return nil
		}))
	return cmd
}

// printRepoStat is repo stat's text output. Piece files and linked contents are counted
// apart: a node that got content holds it in the get's output, not in piece files.
func printRepoStat(w io.Writer, s client.RepoStatInfo) error {
	fmt.Fprintf(w, "dir:          %s\n", s.Dir)
	fmt.Fprintf(w, "contents:     %d (%d pinned)\n", s.Contents, s.Pinned)
	fmt.Fprintf(w, "pieces:       %d (%s) in %d segment files (%s on disk)\n", s.Pieces, humanBytes(s.PieceBytes), s.Segments, humanBytes(s.DiskBytes))
	fmt.Fprintf(w, "linked:       %d contents (%s in get outputs)\n", s.Linked, humanBytes(s.LinkedBytes))
	fmt.Fprintf(w, "quarantined:  %d\n", s.Quarantined)
	fmt.Fprintf(w, "metadata:     %s\n", humanBytes(s.MetadataSize))
	return nil
}

// printVerifyReport is repo verify's text output: the count, then each corrupt piece and
// each pinned content that misses pieces. A corrupt piece of a linked file is not
// quarantined (the file is the user's), so its line says what happened instead.
func printVerifyReport(w io.Writer, r client.VerifyReport) error {
	fmt.Fprintf(w, "checked %d pieces (piece files and linked files): %d corrupt\n", r.Checked, len(r.Corrupt))
	sort.Strings(r.Corrupt)
	linked := map[string]bool{}
	for _, p := range r.CorruptLinked {
		linked[p] = true
	}
	for _, p := range r.Corrupt {
		if linked[p] {
			fmt.Fprintf(w, "  corrupt piece %s (in a get's output, changed since: marked missing)\n", p)
		} else {
			fmt.Fprintf(w, "  corrupt piece %s (quarantined)\n", p)
		}
	}
	for _, id := range r.Incomplete {
		fmt.Fprintf(w, "  pinned content %s misses pieces: dhtnode get %s fetches them again\n", id, id)
	}
	return nil
}

// plural picks the word that goes with n.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
