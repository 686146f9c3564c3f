package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dhtnode/dhtnode/client"
	"github.com/spf13/cobra"
)

// observeCommands are the commands that show what the web UI shows: the UI itself,
// the local cluster, peers and connections, traffic and transfers.
func observeCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{newDevnetCmd(g), newWebUICmd(g), newPeersCmd(g), newStatsCmd(g), newTransfersCmd(g)}
}

func newWebUICmd(g *globals) *cobra.Command {
	var printOnly bool
	cmd := &cobra.Command{
		Use:   "webui",
		Short: "Open the daemon's web UI in a browser (or print its URL)",
		Long: `Webui prints a one-time login address of the running daemon's web UI and opens
it in a browser when one is available (xdg-open, open). The address works once and
for two minutes; the browser then keeps a session cookie for 12 hours. Run webui
again for another browser. The UI shows members, the Chord
ring, the Kademlia buckets, lookups through every router side by side, content and
transfers, network traffic and compare results, all updating live.

--print only prints the URL, one line, for scripts and for a browser elsewhere.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var url string
			err := callDaemon(cmd, g, 10*time.Second, func(c *client.Client, ctx context.Context) error {
				var err error
				url, err = webUIURLFor(ctx, c)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), url)
			if !printOnly {
				if err := openBrowser(url); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "no browser opened (%v): open the URL above\n", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&printOnly, "print", false, "only print the URL")
	return cmd
}

// webUIURL is the web UI address of the daemon running on repo.
func webUIURL(ctx context.Context, repo string) (string, error) {
	c, err := client.FromRepo(repo)
	if err != nil {
		return "", err
	}
	return webUIURLFor(ctx, c)
}

// webUIURLFor is the address a browser opens to reach c's web UI: a one-time login
// URL, so that the browser gets a session cookie and the token stays out of its
// history. It works once, within minutes.
func webUIURLFor(ctx context.Context, c *client.Client) (string, error) {
	return c.BrowserLoginURL(ctx)
}

// openBrowser opens url with the desktop's opener, when there is a desktop.
func openBrowser(url string) error {
	var name string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		return exec.Command("rundll32", "url.dll,FileProtocolHandler", url).Start()
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return fmt.Errorf("no display")
		}
		name = "xdg-open"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, url)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

func newPeersCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List members and connected peers: key, state, latency, connections (direct or relayed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := queryAndPrint(cmd, g, format, 10*time.Second, (*client.Client).Peers, printPeers)
			return err
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// printPeers is peers' text output, in ring order after this node.
func printPeers(w io.Writer, peers []client.PeerInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER ID\tKEY\tSTATE\tLATENCY\tCONNECTIONS")
	for _, p := range peers {
		st := p.State
		if st == "" {
			st = "-"
		}
		if p.Self {
			st += " (self)"
		}
		lat := "-"
		if p.Latency > 0 {
			lat = p.Latency.Round(10 * time.Microsecond).String()
		}
		var conns []string
		for _, c := range p.Conns {
			kind := "direct"
			if c.Relayed {
				kind = "relayed"
			}
			conns = append(conns, kind+" "+c.Direction+" "+c.Addr)
		}
		if len(conns) == 0 {
			conns = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\n", p.PeerID, p.Key.String()[:12], st, lat, strings.Join(conns, ", "))
	}
	return tw.Flush()
}

func newStatsCmd(g *globals) *cobra.Command {
	stats := &cobra.Command{
		Use:   "stats",
		Short: "Traffic statistics",
		Args:  cobra.NoArgs,
	}
	var format string
	bw := &cobra.Command{
		Use:   "bw",
		Short: "Bytes in and out over libp2p, in total and per protocol, with current rates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := queryAndPrint(cmd, g, format, 10*time.Second, (*client.Client).BandwidthStats, printBandwidth)
			return err
		},
	}
	addFormatFlag(bw, &format)
	stats.AddCommand(bw)
	return stats
}

// printBandwidth is stats bw's text output, busiest protocol first.
func printBandwidth(w io.Writer, s client.BandwidthStats) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PROTOCOL\tTOTAL IN\tTOTAL OUT\tRATE IN\tRATE OUT\t")
	row := func(name string, b client.Bandwidth) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/s\t%s/s\t\n", name, humanBytes(b.TotalIn), humanBytes(b.TotalOut), humanBytes(int64(b.RateIn)), humanBytes(int64(b.RateOut)))
	}
	names := make([]string, 0, len(s.ByProtocol))
	for name := range s.ByProtocol {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		x, y := s.ByProtocol[a], s.ByProtocol[b]
		return int((y.TotalIn + y.TotalOut) - (x.TotalIn + x.TotalOut))
	})
	for _, name := range names {
		row(name, s.ByProtocol[name])
	}
	row("total", s.Total)
	return tw.Flush()
}

func newTransfersCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "transfers",
		Short: "Show downloads in progress: pieces held, in flight and missing, and every provider's rate and state",
		Long: `Transfers lists the daemon's downloads in progress. For each: bytes and pieces
so far, a pieces map (# held, ~ in flight, . missing), and each provider with its
rate, pieces, requests in flight and its state: active, idle (and why: nothing it
holds is still missing, no free request slot), stalled, banned for bad pieces, or
dropped (and the error).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := queryAndPrint(cmd, g, format, 10*time.Second, (*client.Client).Transfers, printTransfers)
			return err
		},
	}
	addFormatFlag(cmd, &format)
	return cmd
}

// printTransfers is transfers' text output.
func printTransfers(w io.Writer, ts []client.Transfer) error {
	if len(ts) == 0 {
		fmt.Fprintln(w, "no download in progress")
		return nil
	}
	for _, t := range ts {
		fmt.Fprintf(w, "%s  %s\n  %s of %s, %d of %d pieces, %s\n  %s\n", t.ID, t.Name, humanBytes(t.Bytes), humanBytes(t.Total),
			t.PiecesDone, t.TotalPieces, t.Elapsed.Round(time.Millisecond), piecesLine(t.Pieces, 64))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PEER\tSTATE\tRATE\tPIECES\tIN FLIGHT\tWHY")
		for _, p := range t.Peers {
			fmt.Fprintf(tw, "  %s\t%s\t%s/s\t%d\t%d/%d\t%s\n", p.PeerID, p.State, humanBytes(int64(p.Rate)), p.Pieces, p.InFlight, p.Window, p.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// piecesLine draws a pieces map in at most width characters: # held, ~ in flight, .
// missing; a character covering several pieces is # only when all are held.
func piecesLine(pieces string, width int) string {
	per := max(1, (len(pieces)+width-1)/width)
	var b strings.Builder
	for i := 0; i < len(pieces); i += per {
		chunk := pieces[i:min(len(pieces), i+per)]
		switch {
		case strings.Count(chunk, string(rune(client.PieceHeld))) == len(chunk):
			b.WriteByte('#')
		case strings.ContainsAny(chunk, string([]rune{client.PieceInFlight, client.PieceHeld})):
			b.WriteByte('~')
		default:
			b.WriteByte('.')
		}
	}
	return b.String()
}
